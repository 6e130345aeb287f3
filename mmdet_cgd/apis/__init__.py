"""Inference: a detector built from a config with its checkpoint checked (mmdet's ``apis``)."""
from .inference import load_detector

__all__ = ['load_detector']

"""Feature-map heatmaps of one layer for several models on the same images, as one grid.

In the spirit of the CGD paper's saliency figure (res5b branch2a after ReLU): row 1 the images,
then one row per model, each tile the channel-mean activation of ``layer`` over the image.
"""
from typing import Dict, List, Sequence

import cv2
import numpy as np
import torch
from mmdet.apis import inference_detector

from .tiles import labelled_grid

# 2nd block of the last stage, its first norm (after conv1, and after CGD where there is one);
# with ReLU applied that is the paper's "res5b branch2a after ReLU".
DEFAULT_LAYER = 'backbone.layer4.1.bn1'


def layer_activation(model, image: np.ndarray, layer: str, relu: bool = True) -> np.ndarray:
    """Channel-mean activation (h, w) of ``layer`` while ``model`` runs on ``image`` (BGR)."""
    modules = dict(model.named_modules())
    if layer not in modules:
        near = [n for n in modules if n.startswith(layer.rsplit('.', 1)[0])][:8]
        raise ValueError(f'layer {layer!r} not in the model; expected a module name such as '
                       f'{near or list(modules)[:8]}')
    captured = []
    hook = modules[layer].register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    try:
        with torch.no_grad():
            inference_detector(model, image)
    finally:
        hook.remove()
    feat = captured[0][0].float()
    return (feat.relu() if relu else feat).mean(0).cpu().numpy()


def overlay(image: np.ndarray, activation: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Activation (normalised to its own max) as a JET heatmap over the image."""
    act = cv2.resize(activation, (image.shape[1], image.shape[0]),
                     interpolation=cv2.INTER_LINEAR)
    act = (act - act.min()) / max(act.max() - act.min(), 1e-12)
    heat = cv2.applyColorMap(np.uint8(255 * act), cv2.COLORMAP_JET)
    return cv2.addWeighted(image, 1 - alpha, heat, alpha, 0)


def heatmap_grid(models: Dict[str, torch.nn.Module], images: Sequence[np.ndarray],
                 layer: str = DEFAULT_LAYER, relu: bool = True, tile: int = 256) -> np.ndarray:
    """A (1 + len(models)) x len(images) grid of ``tile`` x ``tile`` cells (BGR uint8)."""
    rows: List[List[np.ndarray]] = [[cv2.resize(im, (tile, tile)) for im in images]]
    for model in models.values():
        rows.append([cv2.resize(overlay(im, layer_activation(model, im, layer, relu)),
                                (tile, tile)) for im in images])
    return labelled_grid(rows, ['image', *models])

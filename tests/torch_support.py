"""What the torch under test supports, for tests that need more than torch 2.1 has: each such
test is skipped with a reason naming the missing feature, and only such tests."""
import inspect

import pytest
import torch


def cpu_autocast_supports(dtype) -> bool:
    """torch 2.1's CPU autocast takes bfloat16 only; float16 came later."""
    try:
        with torch.autocast('cpu', dtype=dtype):
            return True
    except RuntimeError:
        return False


def needs_cpu_autocast(dtype):
    return pytest.mark.skipif(not cpu_autocast_supports(dtype),
                              reason=f'needs CPU autocast in {dtype} (torch {torch.__version__} '
                              'has bfloat16 only)')


def onnx_export_kwargs() -> dict:
    """The TorchScript exporter: torch >= 2.9 defaults to the dynamo one, older has no choice."""
    return {'dynamo': False} if 'dynamo' in inspect.signature(torch.onnx.export).parameters \
        else {}

"""The prepared GPU check (issues #19, #25): one command that checks CGD on a GPU and measures
it, in one call of at most 9 minutes on a bare machine with no package registry.

    bash tools/misc/gpu_check.sh --prepare .gpu_carry          # CPU machine, pip only
    bash tools/misc/gpu_check.sh --out "$OUT" [--quick]        # GPU machine
    bash tools/misc/gpu_check.sh --device cpu --tiny           # the same steps, small, on CPU

It uses what imports and installs or builds only what is missing (``install``); mmcv's CPU ops
build in the background while the layer's torch-only steps run (``torch_only``); the detectors
run torchvision's NMS and RoIAlign where mmcv has no CUDA ops (``substitutes``). Every step is
timed (``cli.STEPS`` has each one's expected time); a failing step records why (its error's
first line) and the next ones still run; results are rewritten after each step
(``gpu_check.json``, ``gpu_check.md``), so a killed run keeps what it did.
"""

"""The prepared GPU check (issue #19): one command that, on a bare GPU machine with no package
registry, installs what is missing from a folder carried from a CPU machine, then checks CGD on
the GPU and measures it, step by step.

    bash tools/misc/gpu_check.sh --prepare .gpu_carry          # CPU machine: the carried folder
    bash tools/misc/gpu_check.sh --out "$OUT"                  # GPU machine: tier 1, then tier 2
    bash tools/misc/gpu_check.sh --device cpu --tiny           # the same steps, small, on CPU

Tier 1 needs mmcv with its CPU ops only (mmdet imports ``mmcv.ops``); tier 2 builds mmcv's CUDA
ops for this GPU alone, in the background while tier 1 runs. Every step is timed; a failing step
records why (its error's first line) and the next ones still run; results are rewritten after
each step (``gpu_check.json``, ``gpu_check.md``), so a killed run keeps what it did.
"""

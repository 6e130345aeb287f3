#!/usr/bin/env bash
# Idempotent set-up of the CPU development stack in ./.venv: torch, mmcv (with its compiled ops),
# mmengine, mmdet, pycocotools, the test/demo extras and this package (editable).
# A second run reuses what is installed and pip's cache; it only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}   # the CPU build on this machine's disk
MMCV_SPEC=${MMCV_SPEC:-mmcv==2.1.0}

log() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
pip() { "$py" -m pip "$@"; }

has() { "$py" -c "import $1" >/dev/null 2>&1; }

# Keep a torch that is already there; otherwise take the pinned one (a bare `torch` would pull CUDA).
if has torch; then
  log "torch $("$py" -c 'import torch; print(torch.__version__)') already installed"
else
  log "installing $TORCH_SPEC"
  pip install -q "$TORCH_SPEC"
fi

# torch 2.13 needs setuptools>=77; mmcv's build and mmengine's `mmdet::` scope need pkg_resources (<81).
pip install -q "setuptools>=77,<81" wheel

# mmcv builds its C++ ops from source (~10 min on 2 cores the first time; pip caches the wheel).
# Without --no-build-isolation the build cannot see torch and silently skips the ops.
if "$py" -c "import mmcv.ops" >/dev/null 2>&1; then
  log "mmcv $("$py" -c 'import mmcv; print(mmcv.__version__)') with ops already installed"
else
  log "installing $MMCV_SPEC with its compiled ops (first time: ~10 minutes)"
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} pip install --no-build-isolation "$MMCV_SPEC"
fi

pip install -q -r requirements.txt
pip install -q --no-deps --no-build-isolation -e .

if ! err=$("$py" -c "import mmcv.ops" 2>&1); then
  echo "[setup] ERROR: mmcv is installed but mmcv.ops cannot load, so mmdet's detectors cannot run." >&2
  echo "[setup] expected: mmcv built with MMCV_WITH_OPS=1 (--no-build-isolation); got:" >&2
  echo "$err" | tail -n 3 >&2
  echo "[setup] fix: $VENV/bin/pip uninstall -y mmcv && pip cache remove mmcv && bash tools/setup_env.sh" >&2
  exit 1
fi
"$py" -c "import mmdet, mmengine, mmcv, torch, mmdet_cgd; print('[setup] ok: torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmengine', mmengine.__version__, '| mmdet', mmdet.__version__)"

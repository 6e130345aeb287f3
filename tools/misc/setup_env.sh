#!/usr/bin/env bash
# Idempotent set-up of the development stack in ./.venv: torch + torchvision, mmcv (with its
# compiled ops), mmengine, mmdet, mmpretrain, pycocotools, the test/lint extras and this package.
# A second run reuses what is installed and pip's cache; it only re-checks.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# mmpretrain's models import torchvision, which needs the torch it was built for: a matching pair.
TORCH_SPEC=${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
MMCV_SPEC=${MMCV_SPEC:-mmcv==2.1.0}
# A pip constraints file applied to every install (e.g. requirements/compat-torch2.1.txt).
CONSTRAINTS=${CONSTRAINTS:-}
# Packages only this environment gets, beside the requirements (e.g. mmdeploy for torch 2.1).
EXTRAS=${EXTRAS:-}
# Compiler flags for mmcv's ops, in place of Python's own '-g -O3': without debug info (nothing
# here reads it) the build takes half the time; the tests-only torch 2.1 environment uses -O1.
MMCV_CFLAGS=${MMCV_CFLAGS:--DNDEBUG -O3 -g0}

log() { printf '[setup] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
pip() {
  if [ -n "$CONSTRAINTS" ] && [ "$1" = install ]; then
    shift
    "$py" -m pip install -c "$CONSTRAINTS" "$@"
  else
    "$py" -m pip "$@"
  fi
}

has() { "$py" -c "import $1" >/dev/null 2>&1; }

# Keep a torch + torchvision pair that already works together; otherwise install the pinned pair.
if "$py" -c "import torch, torchvision.ops" >/dev/null 2>&1; then
  log "torch $("$py" -c 'import torch; print(torch.__version__)') with torchvision already installed"
else
  log "installing $TORCH_SPEC"
  # shellcheck disable=SC2086  # TORCH_SPEC is a list of requirements
  pip install -q $TORCH_SPEC
fi

# torch 2.13 needs setuptools>=77; mmcv's build and mmengine's `mmdet::` scope need pkg_resources (<81).
pip install -q "setuptools>=77,<81" wheel

# mmcv builds its C++ ops from source (~10 min on 2 cores the first time; pip caches the wheel).
# Without --no-build-isolation the build cannot see torch and silently skips the ops.
if "$py" -c "import mmcv.ops" >/dev/null 2>&1; then
  log "mmcv $("$py" -c 'import mmcv; print(mmcv.__version__)') with ops already installed"
else
  log "installing $MMCV_SPEC with its compiled ops (first time: ~15 minutes on 2 cores)"
  # torch >= 2.14's headers need C++20, mmcv 2.1's setup.py asks for C++17: compile through a
  # g++ wrapper that asks for C++20 instead (older torch builds as mmcv asks).
  cxx=${CXX:-g++}
  if "$py" -c 'import sys, torch; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 14))'; then
    cxx="$PWD/tools/misc/g++-std20"
  fi
  CFLAGS="$MMCV_CFLAGS" CXX="$cxx" MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    pip install --no-build-isolation "$MMCV_SPEC"
fi

# shellcheck disable=SC2086  # EXTRAS is a list of requirements
pip install -q -r requirements.txt $EXTRAS
pip install -q --no-deps --no-build-isolation -e .

if ! err=$("$py" -c "import mmcv.ops" 2>&1); then
  echo "[setup] ERROR: mmcv is installed but mmcv.ops cannot load, so mmdet's detectors cannot run." >&2
  echo "[setup] expected: mmcv built with MMCV_WITH_OPS=1 (--no-build-isolation); got:" >&2
  echo "$err" | tail -n 3 >&2
  echo "[setup] fix: $VENV/bin/pip uninstall -y mmcv && pip cache remove mmcv && bash tools/misc/setup_env.sh" >&2
  exit 1
fi
"$py" -c "import mmdet, mmengine, mmcv, torch, mmdet_cgd; print('[setup] ok: torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmengine', mmengine.__version__, '| mmdet', mmdet.__version__)"

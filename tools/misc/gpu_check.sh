#!/usr/bin/env bash
# The prepared GPU check (issues #19, #25): tools/misc/gpu_check/__init__.py says what it does.
#   bash tools/misc/gpu_check.sh --prepare .gpu_carry      # CPU machine, pip only: carried folder
#   bash tools/misc/gpu_check.sh --out "$OUT" [--quick]    # GPU machine (python3 holds torch)
#   bash tools/misc/gpu_check.sh --device cpu --tiny       # the same steps, small, on CPU
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export PYTHONPATH="$PWD/tools/misc${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" -m gpu_check "$@"

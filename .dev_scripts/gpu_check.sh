#!/usr/bin/env bash
# CGD on a lent GPU machine (maintainers only; not shipped): installs the stack from a carried
# folder, then runs what users run, on CUDA (issues #29, #30). Within 9 minutes from bare.
#   bash .dev_scripts/gpu_check.sh --prepare .gpu_carry   # here (pip, PyPI): the carried folder
#   bash .dev_scripts/gpu_check.sh --out "$OUT"           # there (carry .gpu_carry)
#   bash .dev_scripts/gpu_check.sh --dry-run              # the plan; checks its files exist
# The GPU machine has python3 with torch, torchvision and Triton and no package registry; the
# OpenMMLab wheels go to a --target folder, mmcv 2.1.0 is built there with its CPU ops only (its
# CUDA ops take longer than the machine is lent), and the detectors' NMS and RoIAlign run
# torchvision's CUDA kernels (gpu_check.py's use_torchvision_ops, through sitecustomize).
# Each step is timed and logged under OUT; a failed step does not stop the next.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}
CARRIED=.gpu_carry
OUT=${OUT:-work_dirs/gpu_check}
WORK=/tmp/cgd_gpu_check
BUDGET=540  # seconds for all steps
DRY_RUN=0
while [ $# -gt 0 ]; do
  case $1 in
    --prepare) exec "$PY" .dev_scripts/gpu_check.py prepare "$2" ;;
    --carried) CARRIED=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) echo "usage: $0 [--prepare DIR | --carried DIR --out DIR --work DIR --budget S | --dry-run]" >&2
       exit 2 ;;
  esac
done
SITE=$WORK/site
OUT=$(realpath -m "$OUT")
MMCV_SDIST=$CARRIED/mmcv-2.1.0.tar.gz
DEMO=configs/demo/mask-rcnn_r18-cgd_fpn_synthetic.py
COST=(tools/analysis_tools/measure_cgd_cost.py --device cuda --models backbone mask_rcnn
      --variants plain 'CGD paper (before_norm1)' --size 800 1216 --batch 2 --rounds 12
      --warmup 3 --memory-runs 1 --headline-rounds 0 --flops-size 0 0)
DATA=data/synthetic  # where the demo config reads it
START=$SECONDS
FAILED=0

# step NAME LIMIT_S COMMAND...: run with a time limit (never past the budget), log to
# OUT/NAME.log, add a row to OUT/steps.tsv; --dry-run prints the command instead
step() {
  local name=$1 limit=$2
  shift 2
  if [ "$DRY_RUN" = 1 ]; then
    local shown='' a
    for a in "$@"; do [[ $a == *' '* ]] && a="'$a'"; shown+=" $a"; done
    printf '%-14s <= %3s s:%s\n' "$name" "$limit" "$shown"
    return 0
  fi
  local left=$((BUDGET - (SECONDS - START)))
  [ "$left" -lt "$limit" ] && limit=$left
  local status=passed t0=$SECONDS
  if [ "$limit" -le 0 ]; then
    status='skipped (budget spent)'
  else
    echo "[gpu_check] $((SECONDS - START)) s: $name ..."
    timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@" >"$OUT/$name.log" 2>&1
    case $? in
      0) ;;
      124|137) status="failed (over $limit s)"; FAILED=1 ;;
      *) status=failed; FAILED=1 ;;
    esac
  fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - t0))" "$*" >>"$OUT/steps.tsv"
  echo "[gpu_check] $name: $status ($((SECONDS - t0)) s)"
  [ "$status" = passed ] || tail -n 5 "$OUT/$name.log" 2>/dev/null
}

# the steps' own commands, so that `step` times and logs each as one
environment() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nvcc --version | tail -n 2
  "$PY" -c 'import platform, torch, triton, torchvision as tv; print(platform.python_version(),
    torch.__version__, "CUDA", torch.version.cuda, "triton", triton.__version__, "tv", tv.__version__,
    torch.cuda.get_device_name())'
}

install_stack() {  # the carried wheels, this package, and the torchvision substitutes' hook
  "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" \
    "$CARRIED"/*.whl &&
    PYTHONPATH=$SITE "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
      --target "$SITE" . &&
    cp .dev_scripts/gpu_check.py "$SITE/cgd_gpu_check.py" &&
    printf 'import cgd_gpu_check\ncgd_gpu_check.use_torchvision_ops_if_asked()\n' \
      >"$SITE/sitecustomize.py"
}

build_mmcv() {  # its CPU ops only: CUDA hidden from mmcv's setup.py; no debug info, -O1
  CUDA_VISIBLE_DEVICES='' FORCE_CUDA=0 MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
    CXX=$REPO/tools/misc/g++-std20 CFLAGS='-DNDEBUG -O1 -g0' PYTHONPATH=$SITE \
    "$PY" -m pip install -v --no-index --no-deps --no-build-isolation --target "$SITE" \
    "$MMCV_SDIST" && PYTHONPATH=$SITE "$PY" -c 'import mmcv.ops, mmdet.models, mmdet_cgd'
}

dist_train() {  # the demo config on synthetic data, a few iterations, NCCL
  "$PY" demo/synthetic_coco.py "$DATA" --num-train 16 --num-val 4 &&
    PYTHON=$PY bash tools/dist_train.sh "$DEMO" 1 --work-dir "$WORK/dist_train" \
      --cfg-options train_cfg.max_iters=20 train_cfg.val_interval=1000 \
      default_hooks.checkpoint.interval=1000 &&
    grep -q "Distributed training: True" "$WORK"/dist_train/*/*.log &&
    grep -q "dist_cfg=dict(backend='nccl')" "$WORK"/dist_train/*/*.log
}

check_plan() {  # --dry-run: every file and command the steps name
  local missing=0 path
  for path in "$DEMO" "${COST[0]}" .dev_scripts/measure_cgd_host_time.py \
      tools/dist_train.sh tools/train.py tools/misc/g++-std20 demo/synthetic_coco.py \
      .dev_scripts/gpu_check.py; do
    [ -e "$path" ] || { echo "missing: $path"; missing=1; }
  done
  for path in timeout "$PY"; do
    command -v "$path" >/dev/null || { echo "missing command: $path"; missing=1; }
  done
  [ -e "$MMCV_SDIST" ] || echo "not here (made by --prepare, needed on the GPU machine): $MMCV_SDIST"
  local help
  help=$("$PY" "${COST[0]}" --help) || { echo "${COST[0]} --help failed"; return 1; }
  for path in "${COST[@]:1}" --layer-bound --amp --out-dir; do
    case $path in --*) grep -q -- "$path" <<<"$help" || { echo "${COST[0]}: no $path"; missing=1; } ;;
    esac
  done
  return $missing
}

[ "$DRY_RUN" = 1 ] || { mkdir -p "$OUT" "$WORK" && rm -f "$OUT/steps.tsv"; }
export PY SITE CARRIED REPO MMCV_SDIST DEMO DATA WORK
export -f environment install_stack build_mmcv dist_train
export PYTHONUNBUFFERED=1 TRITON_INTERPRET=0  # tests/conftest.py defaults to the interpreter
step environment 60 environment
step install 90 install_stack
step mmcv_build 300 build_mmcv
export PYTHONPATH=$SITE CGD_TORCHVISION_OPS=1
step pytest_devices 150 "$PY" -m pytest -m devices -k cuda -q -p no:cacheprovider tests
step cost_fp32 150 "$PY" "${COST[@]}" --layer-bound --out-dir "$OUT/cost_fp32"
step cost_amp 120 "$PY" "${COST[@]}" --amp float16 --out-dir "$OUT/cost_amp"
step inductor 150 "$PY" .dev_scripts/gpu_check.py inductor "$OUT/inductor.json"
step dist_train 120 dist_train
step host_time 60 "$PY" .dev_scripts/measure_cgd_host_time.py
if [ "$DRY_RUN" = 1 ]; then
  check_plan && echo '[gpu_check] dry run: every file and command named is here'
  exit
fi
tar -czf "$OUT/dist_train_logs.tar.gz" -C "$WORK" dist_train 2>/dev/null
echo "[gpu_check] done in $((SECONDS - START)) s:"
cut -f1-3 "$OUT/steps.tsv" | column -t -s $'\t'
exit $FAILED

# The two commands of the README. Both set everything up first (idempotent: seconds once installed).
PY := .venv/bin/python
# The oldest supported stack (torch 2.1.2, numpy 1.26.4) in its own environment, with its own pip
# cache: pip's wheel cache keys mmcv by version, not by the torch it was built against.
COMPAT_VENV := .venv-torch2.1
COMPAT_PY := $(COMPAT_VENV)/bin/python
COMPAT_SETUP := VENV=$(COMPAT_VENV) TORCH_SPEC="torch==2.1.2 torchvision==0.16.2" \
	CONSTRAINTS=requirements/compat-torch2.1.txt EXTRAS=mmdeploy MMCV_CFLAGS="-DNDEBUG -O1 -g0" \
	PIP_CACHE_DIR=$(HOME)/.cache/pip-torch2.1
# On torch 2.1: the layer at every position with its in-place refusals, the backbones,
# checkpoint loading and refusals, train -> checkpoint -> resume -> test through our tools
# and mmdet's own (Mask R-CNN, RTMDet with CGDCSPNeXt), and deployment through mmdeploy
# (installed here only).
COMPAT_TESTS := tests/test_ops tests/test_models tests/test_checkpoint \
	tests/test_tools/test_train_test.py tests/test_tools/test_safe_loading.py \
	tests/test_configs/test_rtmdet.py tests/test_configs/test_new_detectors_off_road.py \
	tests/test_deploy/test_mmdeploy_onnxruntime.py

.PHONY: setup setup-compat test test-compat demo
setup:
	bash tools/misc/setup_env.sh

setup-compat:
	$(COMPAT_SETUP) bash tools/misc/setup_env.sh

test: setup setup-compat
	$(PY) -m ruff check .
	$(PY) -m pytest tests
	$(COMPAT_PY) -m pytest $(COMPAT_TESTS)

test-compat: setup-compat
	$(COMPAT_PY) -m pytest $(COMPAT_TESTS)

demo: setup
	$(PY) demo/synthetic_demo.py

# The two commands of the README. Both set everything up first (idempotent: seconds once installed).
PY := .venv/bin/python

.PHONY: setup test demo
setup:
	bash tools/misc/setup_env.sh

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest tests

demo: setup
	$(PY) demo/synthetic_demo.py

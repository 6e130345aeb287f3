"""The train and test commands behind ``tools/train.py`` and ``tools/test.py``: mmdet's command
lines, the pre-flight checks that turn mistakes into one ``error:`` line, and CPU (gloo)
distributed runs."""

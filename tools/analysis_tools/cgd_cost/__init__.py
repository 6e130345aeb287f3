"""The cost study behind ``measure_cgd_cost.py``: CGD against plain ResNet-50 and the other
attention plugins (paired timings with intervals, fresh-process memory, FLOPs, the layer
against its bandwidth bound). A study of this project, not part of the installed package."""

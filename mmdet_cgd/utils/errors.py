"""The errors our tools end with one ``error:`` line: a CGD set up where it cannot work, a
checkpoint that cannot be used, training that produced NaN, annotations that cannot be used."""


class CGDConfigError(ValueError, AssertionError):
    """A CGD configuration that cannot give correct results where it is used.

    A ValueError (bad input), and an AssertionError too: code written against mmdet catches
    AssertionError for bad plugin configs.
    """


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: missing, truncated, corrupted, unsafe or unfit."""


class NonFiniteError(FloatingPointError):
    """Training produced NaN or infinity (a loss, a weight, a BatchNorm statistic)."""


class AnnotationError(ValueError):
    """Annotations a dataset loaded that training or testing cannot use (a box outside its image
    or not finite, a missing image file, nothing left to load)."""

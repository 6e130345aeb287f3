"""The error for a CGD set up where it cannot work (a bad option, a placement it cannot serve)."""


class CGDConfigError(ValueError, AssertionError):
    """A CGD configuration that cannot give correct results where it is used.

    A ValueError (bad input), and an AssertionError too: code written against mmdet catches
    AssertionError for bad plugin configs.
    """


class NonFiniteError(FloatingPointError):
    """Training produced NaN or infinity (a loss, a weight, a BatchNorm statistic)."""

"""Medians with a distribution-free confidence interval, and verdicts against a goal.

The interval for the median of n samples is ``[x_(k), x_(n+1-k)]`` (order statistics, 1-based):
it holds the true median with probability ``1 - 2 P(Binomial(n, 1/2) <= k - 1)`` for any
continuous distribution, so it asks nothing of the shape of a shared machine's noise. ``k`` is
the largest index that still reaches the confidence asked; too few samples for that give the
whole range and its (lower) coverage, which the verdict then refuses to call.
"""
import statistics
from dataclasses import dataclass
from math import comb
from typing import Sequence

MET, NOT_RESOLVED, MISSED = 'met', 'not resolved', 'missed'


@dataclass(frozen=True)
class Interval:
    """A sample median and an interval that holds the true median with probability ``coverage``."""
    median: float
    low: float
    high: float
    coverage: float
    samples: int


def _coverage(n: int, k: int) -> float:
    """Probability that ``[x_(k), x_(n+1-k)]`` holds the median of n continuous samples."""
    tail = sum(comb(n, i) for i in range(k)) / 2**n
    return 1 - 2 * tail


def median_interval(samples: Sequence[float], confidence: float = 0.95) -> Interval:
    """The median of ``samples`` and the narrowest order-statistic interval reaching
    ``confidence`` (the whole range, with its coverage, when no interval reaches it)."""
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence!r}')
    xs = sorted(float(x) for x in samples)
    n = len(xs)
    if n == 0:
        raise ValueError('median_interval needs at least one sample, got none')
    k = _order_index(n, confidence)
    return Interval(statistics.median(xs), xs[k - 1], xs[n - k], _coverage(n, k), n)


def coverage_for(n: int, confidence: float = 0.95) -> float:
    """The coverage ``median_interval`` reaches with n samples."""
    return _coverage(n, _order_index(n, confidence))


def _order_index(n: int, confidence: float) -> int:
    """The largest k whose ``[x_(k), x_(n+1-k)]`` still reaches ``confidence`` (at least 1)."""
    k = 1
    while k + 1 <= (n + 1) // 2 and _coverage(n, k + 1) >= confidence:
        k += 1
    return k


def verdict(interval: Interval, goal: float, confidence: float = 0.95) -> str:
    """For a goal "at most ``goal``": met where the whole interval is within it, missed where
    the whole interval is above it, not resolved where it straddles the goal or where the
    interval holds the median with less than ``confidence``."""
    if interval.coverage < confidence:
        return NOT_RESOLVED
    if interval.high <= goal:
        return MET
    if interval.low > goal:
        return MISSED
    return NOT_RESOLVED

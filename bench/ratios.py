"""Statistics behind bench/run.sh's verdicts.

Each round measures a variant next to the baseline, so the ratio of a round is
paired: the machine's drift between rounds cancels in it, not within it. The
rounds' ratios are summarised by their median and the median's confidence
interval from order statistics, which assumes nothing about their distribution
(rounds are taken as independent draws). A target is met only when the whole
interval is at or above it, missed only when the whole interval is below it:
on a noisy machine the honest answer is often "not decided".
"""

from math import comb

LEVEL = 0.95


def median_interval(values, level=LEVEL):
    """(low, high): the order statistics that bracket the median of the
    population with at least `level` probability, or None when there are too
    few values for that (fewer than 6 at 95 %).

    With n values, the k-th smallest is above the median with probability
    P(Binomial(n, 1/2) < k); the interval is the k-th smallest to the k-th
    largest, with the largest k that keeps its coverage at `level`.
    """
    xs = sorted(values)
    n = len(xs)
    k = 0
    while k < n // 2 and coverage(n, k + 1) >= level:
        k += 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k]


def coverage(n, k):
    """The probability that the k-th smallest to the k-th largest of n values
    brackets the median: 1 - 2 P(Binomial(n, 1/2) < k)."""
    return 1 - 2 * sum(comb(n, i) for i in range(k)) / 2**n


def verdict(values, goal, level=LEVEL):
    """'met', 'missed' or 'not decided' for "the median ratio is at least goal"."""
    interval = median_interval(values, level)
    if interval is None:
        return "not decided (too few rounds for an interval)"
    low, high = interval
    if low >= goal:
        return "met"
    if high < goal:
        return "missed"
    return "not decided"

"""Tests of bench/ratios.py: the interval's coverage, computed and simulated, and
the verdicts. Run by bench/test.sh."""

import random
import unittest

from ratios import coverage, median_interval, verdict


class MedianInterval(unittest.TestCase):
    def test_sixteen_rounds_use_the_4th_and_13th_values(self):
        values = [float(v) for v in range(16, 0, -1)]  # unsorted on purpose
        self.assertEqual(median_interval(values), (4.0, 13.0))

    def test_too_few_values_have_no_interval(self):
        # 5 values: even the extremes bracket the median with only 1 - 2/32 < 95 %.
        self.assertIsNone(median_interval([1, 2, 3, 4, 5]))
        self.assertEqual(median_interval([1, 2, 3, 4, 5, 6]), (1, 6))

    def test_the_interval_is_the_narrowest_with_the_level(self):
        for n in range(6, 61):
            low, high = median_interval(list(range(n)))
            k = low + 1  # the k-th smallest to the k-th largest
            self.assertEqual(high, n - k, n)
            self.assertGreaterEqual(coverage(n, k), 0.95, n)
            # One more value off each end would fall below the level.
            self.assertLess(coverage(n, k + 1), 0.95, n)

    def test_coverage_matches_the_binomial_tails(self):
        self.assertAlmostEqual(coverage(16, 4), 1 - 2 * (1 + 16 + 120 + 560) / 2**16)
        self.assertEqual(coverage(10, 0), 1.0)
        self.assertAlmostEqual(coverage(10, 1), 1 - 2 / 2**10)

    def test_simulated_coverage_on_a_skewed_distribution(self):
        # Ratios with a long low tail, like rounds that lost CPU to steal:
        # the interval must still hold the true median in >= 95 % of runs.
        rng = random.Random(19)
        # 1 - 0.2 * Beta(1, 3); the median of Beta(1, 3) is 1 - 2^(-1/3).
        true_median = 1.0 - 0.2 * (1 - 2 ** (-1 / 3))
        trials, held = 4000, 0
        for _ in range(trials):
            low, high = median_interval([1.0 - 0.2 * rng.betavariate(1, 3) for _ in range(16)])
            held += low <= true_median <= high
        self.assertGreaterEqual(held / trials, 0.95)


class Verdict(unittest.TestCase):
    ROUNDS = [0.70, 0.74, 0.76, 0.78, 0.79, 0.80, 0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86, 0.90, 0.95, 1.0]

    def test_an_interval_across_the_goal_decides_nothing(self):
        self.assertEqual(median_interval(self.ROUNDS), (0.78, 0.86))
        self.assertEqual(verdict(self.ROUNDS, 0.80), "not decided")

    def test_an_interval_above_the_goal_meets_it(self):
        self.assertEqual(verdict(self.ROUNDS, 0.78), "met")
        self.assertEqual(verdict(self.ROUNDS, 0.75), "met")

    def test_an_interval_below_the_goal_misses_it(self):
        self.assertEqual(verdict(self.ROUNDS, 0.87), "missed")
        self.assertEqual(verdict(self.ROUNDS, 0.861), "missed")

    def test_too_few_rounds_decide_nothing(self):
        self.assertTrue(verdict([0.9, 0.95, 1.0], 0.5).startswith("not decided"))


if __name__ == "__main__":
    unittest.main()

"""Binomial probabilities from `math.lgamma`, so that pricing a mapping does not import
scipy.stats (about a second of start-up on this machine for three functions)."""

from __future__ import annotations

import math

import numpy as np

_log_gamma = np.frompyfunc(math.lgamma, 1, 1)


def log_factorial(k) -> np.ndarray:
    """log(k!) elementwise."""
    return np.asarray(_log_gamma(np.asarray(k, dtype=np.float64) + 1), dtype=np.float64)


def binomial_log_pmf(k, n: int, p: float) -> np.ndarray:
    """log P(K = k) for K ~ Binomial(n, p), 0 < p < 1."""
    k = np.asarray(k, dtype=np.float64)
    return log_factorial(n) - log_factorial(k) - log_factorial(n - k) + k * math.log(p) + (n - k) * math.log1p(-p)


def binomial_pmf(n: int, p: float) -> np.ndarray:
    """Binomial(n, p) pmf over 0..n; within 1e-12 of p = 0 or 1 all mass sits at 0 or n."""
    k = np.arange(n + 1)
    if 1e-12 < p < 1 - 1e-12:
        return np.exp(binomial_log_pmf(k, n, p))
    return (k == (n if p > 0.5 else 0)).astype(float)

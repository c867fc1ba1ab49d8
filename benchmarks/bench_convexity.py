"""Time the lambdified, overflow-free losses against hand-written NumPy.

Run as ``python benchmarks/bench_convexity.py``. For each function it prints the
best of several runs for the symderiv function (input checks included) and for a
hand-written NumPy version of the textbook formula, and how many of the results
of the textbook version are inf or NaN on logits drawn from N(0, 30^2)
(N(0, 300^2) for softmax), and the largest relative error of each version
against mpmath on the first 300 points.
"""

from __future__ import annotations

import time

import numpy as np

from symderiv.topics import convexity
from symderiv.topics.convexity import reference as ref


def best_time(function, *args, repeat: int = 7) -> float:
    function(*args)  # warm the lambdify cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def naive_bce_from_logits(z, y):
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def naive_bce_gradient(z, y):
    return 1 / (1 + np.exp(-z)) - y


def naive_mse_second(z, y):
    p = 1 / (1 + np.exp(-z))
    return p * (1 - p) * (p * (1 - p) + (p - y) * (1 - 2 * p))


def naive_softmax_ce(z, y):
    return np.log(np.sum(np.exp(z), axis=-1)) - np.sum(y * z, axis=-1)


def main() -> None:
    generator = np.random.default_rng(0)
    n = 1_000_000
    z = generator.normal(0, 30, n)
    y = generator.integers(0, 2, n).astype(float)
    logits = generator.normal(0, 300, (100_000, 10))
    targets = np.eye(10)[generator.integers(0, 10, 100_000)]
    cases = [
        ("bce_from_logits", convexity.bce_from_logits, naive_bce_from_logits, (z, y)),
        ("bce_from_logits_gradient", convexity.bce_from_logits_gradient, naive_bce_gradient,
         (z, y)),
        ("mse_from_logits_second_derivative", convexity.mse_from_logits_second_derivative,
         naive_mse_second, (z, y)),
        ("softmax_cross_entropy (1e5 x 10)", convexity.softmax_cross_entropy,
         naive_softmax_ce, (logits, targets)),
    ]
    header = (f"{'function (1e6 values)':<36}{'symderiv ms':>12}{'hand NumPy ms':>15}"
              f"{'ratio':>7}{'hand inf/NaN':>14}{'symderiv err':>14}{'hand err':>10}")
    print(header)
    print("-" * len(header))
    for name, ours, hand, args in cases:
        t_ours, t_hand = best_time(ours, *args), best_time(hand, *args)
        bad = int((~np.isfinite(hand(*args))).sum())
        assert np.all(np.isfinite(ours(*args)))
        head = tuple(a[:300] for a in args)
        exact = exact_values(name, *head)
        errors = [ref.relative_to_exact(f(*head), exact) for f in (ours, hand)]
        print(f"{name:<36}{1e3 * t_ours:>12.1f}{1e3 * t_hand:>15.1f}{t_ours / t_hand:>7.2f}"
              f"{bad:>14}{errors[0]:>14.1e}{errors[1]:>10.1e}")


def exact_values(name: str, first, second) -> np.ndarray:
    """The mpmath values of the function called ``name`` (see convexity_reference)."""
    if name.startswith("softmax"):
        return np.array([ref.mp_softmax(row, target)[0] for row, target in zip(first, second, strict=True)])
    return np.array([ref.mp_binary(a, b)[name] for a, b in zip(first, second, strict=True)])


if __name__ == "__main__":
    with np.errstate(all="ignore"):
        main()

r"""Numbers: lambdify, finite differences, Monte Carlo error bars, one set of tolerances.

Every check in symderiv compares a derived result with a computation that did
not come from the same SymPy expression. The helpers here make those
comparisons uniform, so that a tolerance means the same thing everywhere.

Tolerances
----------
``FD_STEP`` and ``FD_TOLERANCE``
    Central differences :math:`(f(x+h) - f(x-h)) / 2h` in float64 have a
    truncation error :math:`O(h^2 f''')` and a rounding error
    :math:`O(\epsilon |f| / h)`; with :math:`h = 10^{-6}` both stay below about
    :math:`10^{-8}` relative for the smooth, order-one functions we test, so
    ``1e-6`` (relative to the gradient's scale) leaves a wide margin and still
    catches any wrong term.
``ROUNDOFF_TOLERANCE``
    Two float64 computations of the same quantity in a different order.
``monte_carlo_tolerance``
    A Monte Carlo mean of n draws has standard error :math:`s/\sqrt{n}`; we
    accept :math:`z` standard errors (default 5, a false alarm about once in
    1.7 million runs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

FD_STEP = 1e-6
FD_TOLERANCE = 1e-6
ROUNDOFF_TOLERANCE = 1e-10
MONTE_CARLO_Z = 5.0


def _identifier(symbol: sp.Basic, index: int) -> sp.Basic:
    """A stand-in for ``symbol`` whose name is a Python identifier (``W[1]`` -> ``_W_1__0``)."""
    name = "_" + re.sub(r"\W", "_", str(symbol.name)) + f"_{index}"
    if isinstance(symbol, sp.MatrixSymbol):
        return sp.MatrixSymbol(name, *symbol.shape)
    return sp.Symbol(name, **symbol.assumptions0)


def lambdify_numpy(args: Sequence[sp.Basic], expr: object, cse: bool = True) -> Callable[..., np.ndarray]:
    """Lambdify ``expr`` for NumPy, with common subexpressions eliminated unless ``cse=False``.

    Eliminating them can change what overflows: ``(y/p)/p`` becomes
    ``(1/p)*((1/p)*y)``, and ``1/p`` is inf for a subnormal ``p``.

    Symbols whose names are not Python identifiers (the printer's layered names
    such as ``W[1]``) are renamed first: lambdify would otherwise replace a
    matrix argument by a scalar placeholder.

    Example::

        >>> x = sp.Symbol("x"); f = lambdify_numpy((x,), x**2)
        >>> f(np.array([1.0, 2.0]))
        array([1., 4.])
    """
    args = original = tuple(args)
    free = set(getattr(expr, "free_symbols", set())) | set(args)
    rename = {
        symbol: _identifier(symbol, i)
        for i, symbol in enumerate(sorted(free, key=str))
        if isinstance(symbol, (sp.Symbol, sp.MatrixSymbol)) and not str(symbol.name).isidentifier()
    }
    if rename:
        expr = sp.sympify(expr).xreplace(rename) if not isinstance(expr, (list, tuple)) else type(expr)(
            sp.sympify(e).xreplace(rename) for e in expr
        )
        args = tuple(a.xreplace(rename) for a in args)
    function = sp.lambdify(args, expr, modules="numpy", cse=cse, docstring_limit=0)
    function.argument_names = tuple(str(a) for a in original)
    return function


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    r"""Largest elementwise error, relative to the scale of ``expected``.

    :math:`\max_i |a_i - e_i| / \max(1, \max_i |e_i|)`: relative for large
    values, absolute for values of order one or below.
    """
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        raise ValueError(f"shapes differ: {actual.shape} vs {expected.shape}")
    if actual.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected))))
    return float(np.max(np.abs(actual - expected))) / scale


def central_difference_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = FD_STEP
) -> np.ndarray:
    """Gradient of scalar ``f`` at ``x`` (any shape) by central differences."""
    x = np.array(x, dtype=float)
    grad = np.empty_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + h
        upper = f(x)
        flat[i] = keep - h
        lower = f(x)
        flat[i] = keep
        gflat[i] = (upper - lower) / (2 * h)
    return grad


def one_sided_differences(
    f: Callable[[np.ndarray], float], x: np.ndarray, index: tuple[int, ...], h: float = FD_STEP
) -> tuple[float, float]:
    """Left and right difference quotients of ``f`` in coordinate ``index``.

    At a kink the two differ; every element of the subdifferential lies
    between them (for a function convex along that coordinate, and for the
    ReLU/abs compositions checked here).
    """
    x = np.array(x, dtype=float)
    centre = f(x)
    x[index] += h
    right = (f(x) - centre) / h
    x[index] -= 2 * h
    left = (centre - f(x)) / h
    return float(left), float(right)


def distance_to_interval(value: float, ends: tuple[float, float]) -> float:
    """How far ``value`` lies outside the interval spanned by ``ends`` (0 inside)."""
    low, high = min(ends), max(ends)
    return float(max(low - value, value - high, 0.0))


def monte_carlo_tolerance(samples: np.ndarray, z: float = MONTE_CARLO_Z) -> float:
    """``z`` standard errors of the mean of ``samples``."""
    samples = np.asarray(samples, dtype=float)
    return z * float(np.std(samples, ddof=1)) / np.sqrt(samples.size)


def rng(seed: int = 0) -> np.random.Generator:
    """The random generator every check uses, so reports are reproducible."""
    return np.random.default_rng(seed)

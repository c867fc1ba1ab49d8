r"""Check factories and small helpers shared by the parts of the convexity derivation.

Each part of the derivation is a :class:`Part` (its blocks, results, checks and
argument orders); :func:`confirm` stops the derivation if a symbolic
verification the report relies on fails; :func:`negative_region` solves
"where is this rational function negative" exactly by a sign chart.

Each factory takes the derived SymPy expression (or a function computed from
it) and an independent reference, and returns a :class:`~symderiv.derivation.Check`.
Tests build the same checks with a deliberately wrong expression to show that
they fail.

* :func:`second_derivative_check`: a derived second derivative against the
  central second difference of a hand-written loss.
* :func:`derivative_check`: a derived first derivative against autograd.
* :func:`jensen_check`: random Jensen gaps (chord minus curve); for a convex
  function every gap must be :math:`\ge 0` up to rounding, for a non-convex one
  some gap must be negative.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import autograd
import numpy
import sympy as sp

from symderiv.derivation import Check, Measurement
from symderiv.notation import latex_number
from symderiv.numeric import ROUNDOFF_TOLERANCE, lambdify_numpy, relative_error, rng
from symderiv.topics.convexity import reference as ref

# Second differences with h = 1e-4 on arguments kept away from singularities:
# rounding 4 eps |f| / h^2 < 1e-7 |f| and truncation h^2 |f''''| / 12 < 1e-6 |f''|
# for the points sampled here; 1e-5 (relative to the scale of f'') leaves margin.
SECOND_DIFFERENCE_TOLERANCE = 1e-5


class Part(NamedTuple):
    """One part of the convexity derivation: its blocks, results, checks and signatures."""

    steps: list
    results: dict[str, Any]
    checks: list[Check]
    signatures: dict[str, tuple[sp.Symbol, ...]]


def confirm(holds: bool, claim: str) -> None:
    """Stop the derivation if a symbolic verification the report relies on did not succeed."""
    if not holds:
        raise RuntimeError(f"SymPy could not confirm that {claim}")


def scientific(value: float, digits: int = 2) -> str:
    r"""A number for report text, in math mode: ``$-6.9\times 10^{-8}$``, ``$0.21$``, ``$0$``."""
    return latex_number(value, digits, fixed=(1e-3, 1e4))


def negative_region(expr: sp.Expr, variable: sp.Symbol, low=0, high=1) -> sp.Set:
    """Where a rational function of ``variable`` is negative inside ``(low, high)``, exactly.

    Between consecutive real roots of its numerator and denominator the sign is
    constant, so one exact evaluation per sub-interval decides it (a sign chart;
    much faster than ``solve_univariate_inequality`` and just as exact).
    """
    numerator, denominator = sp.fraction(sp.together(expr))
    cuts = {sp.sympify(low), sp.sympify(high)}
    for part in (numerator, denominator):
        if part.has(variable):
            cuts.update(r for r in sp.Poly(part, variable).real_roots() if low < r < high)
    ordered = sorted(cuts, key=lambda r: float(r))
    region = sp.S.EmptySet
    for left, right in zip(ordered, ordered[1:], strict=False):
        middle = (left + right) / 2
        if not middle.is_rational:  # a nearby rational keeps the sign evaluation exact and fast
            middle = sp.Rational(round(float(middle) * 10**9), 10**9)
        if expr.subs(variable, middle).is_negative:
            region = region | sp.Interval.open(left, right)
    return region


Sampler = Callable[[numpy.random.Generator], tuple[numpy.ndarray, ...]]


def _pointwise_check(
    name: str,
    method: str,
    derived: Callable[..., numpy.ndarray],
    expected: Callable[..., numpy.ndarray],
    sampler: Sampler,
    seed: int,
    tolerance: float,
    why: str,
) -> Check:
    """``derived`` against ``expected`` at the points ``sampler`` draws (the first array varies)."""

    def run() -> Measurement:
        first, *rest = sampler(rng(seed))
        reference = expected(first, *rest)
        actual = numpy.broadcast_to(derived(first, *rest), reference.shape)
        return Measurement(
            relative_error(actual, reference), f"Largest error over {first.size} random points."
        )

    return Check(name, method, run, tolerance, why)


def second_derivative_check(
    name: str,
    expr: sp.Expr,
    args: tuple[sp.Symbol, ...],
    reference: Callable[..., numpy.ndarray],
    sampler: Sampler,
    seed: int,
) -> Check:
    """``expr`` (a second derivative in ``args[0]``) against second differences of ``reference``."""

    def differences(first, *rest):
        return ref.second_difference(lambda u: reference(u, *rest), first)

    return _pointwise_check(
        name, "second differences", lambdify_numpy(args, expr), differences, sampler, seed,
        SECOND_DIFFERENCE_TOLERANCE,
        r"Central second differences (step $h = 10^{-4}$) of the hand-written NumPy loss: "
        r"rounding ($4\epsilon|f|/h^2$) and truncation ($h^2|f''''|/12$) together stay below "
        r"$10^{-6}$ of $|f''|$ at the sampled points; the tolerance $10^{-5}$ leaves a factor 10.",
    )


def derivative_check(
    name: str,
    expr: sp.Expr,
    args: tuple[sp.Symbol, ...],
    reference: Callable[..., numpy.ndarray],
    sampler: Sampler,
    seed: int,
) -> Check:
    """``expr`` (a first derivative in ``args[0]``) against autograd's elementwise gradient."""
    return _pointwise_check(
        name, "autograd gradient", lambdify_numpy(args, expr),
        autograd.elementwise_grad(reference), sampler, seed, ROUNDOFF_TOLERANCE,
        "Autograd differentiates the hand-written NumPy loss exactly; only float64 rounding "
        "separates the two.",
    )


JENSEN_GAP = r"$tf(a) + (1-t)f(b) - f(ta + (1-t)b)$"


def jensen_check(
    name: str,
    loss: Callable[[numpy.ndarray], numpy.ndarray],
    sampler: Callable[[numpy.random.Generator, int], tuple[numpy.ndarray, numpy.ndarray]],
    seed: int,
    samples: int,
    convex: bool = True,
) -> Check:
    r"""Random Jensen gaps :math:`t f(a) + (1-t) f(b) - f(ta + (1-t)b)` of ``loss``.

    Points lie along the first axis of the sampled arrays. Convex: every gap
    must be :math:`\ge 0`, and the error is the most negative gap relative to
    the size of the losses. Not convex: the error is how far the most negative
    gap falls short of :math:`-10^{-10}`, so it is 0 exactly when a violation
    beyond rounding was found.
    """

    def run() -> Measurement:
        generator = rng(seed)
        a, b = sampler(generator, samples)
        t = generator.uniform(0, 1, a.shape[0])
        gaps = ref.jensen_gaps(loss, a, b, t)
        smallest = float(gaps.min())
        count = int((gaps < -ROUNDOFF_TOLERANCE).sum())
        if convex:
            scale = max(1.0, float(numpy.max(numpy.abs(loss(a)))),
                        float(numpy.max(numpy.abs(loss(b)))))
            return Measurement(
                max(0.0, -smallest) / scale,
                f"Smallest gap {scientific(smallest)} over {a.shape[0]} random pairs "
                f"({count} below rounding).",
            )
        return Measurement(
            max(0.0, ROUNDOFF_TOLERANCE + smallest),
            f"{count} of {a.shape[0]} random pairs violate Jensen's inequality; "
            f"the most negative gap is {scientific(smallest, 3)}.",
        )

    if convex:
        why = (f"For a convex function every gap {JENSEN_GAP} is $\\ge 0$; negative gaps of "
               "rounding size ($10^{-10}$ of the loss scale) are allowed.")
    else:
        why = (f"A gap {JENSEN_GAP} below $-10^{{-10}}$, beyond rounding, proves "
               "non-convexity; the error is how far the most negative gap falls short of that "
               "level, so it is $0$ exactly when such a violation was found.")
    return Check(name, f"Jensen gaps, {samples} pairs", run,
                 ROUNDOFF_TOLERANCE if convex else 0.0, why)

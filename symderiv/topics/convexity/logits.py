r"""The two losses as functions of the logit :math:`z` of a sigmoid output, and saturation.

With :math:`p = \sigma(z)`, every derivative in :math:`z` is a polynomial in
:math:`p` and :math:`y` (because :math:`\sigma' = p(1-p)`). SymPy derives them by
differentiating in :math:`z` and replacing :math:`e^{-z}` by :math:`(1-p)/p`:

* BCE: :math:`L' = p - y`, :math:`L'' = p(1-p) > 0`, convex;
* MSE: :math:`L' = (p-y)p(1-p)`, :math:`L'' = p(1-p)[p(1-p) + (p-y)(1-2p)]`, which
  is negative for :math:`p < 1/3` when :math:`y = 1` (solved, not guessed).
"""

from __future__ import annotations

import functools

import numpy
import sympy as sp

from symderiv.derivation import Check, Figure, LinePlot, Measurement, Section, Step, Table
from symderiv.numeric import ROUNDOFF_TOLERANCE, rng
from symderiv.topics.convexity import losses as losses
from symderiv.topics.convexity import reference as ref
from symderiv.topics.convexity.checks import (
    Part,
    confirm,
    derivative_check,
    jensen_check,
    negative_region,
    scientific,
    second_derivative_check,
)
from symderiv.topics.convexity.losses import P, Y, Z

SIGMOID = 1 / (1 + sp.exp(-Z))
CONCAVE_POINT = sp.Integer(-2)  # a logit in the solved concave region of MSE(sigmoid), y = 1
# Bracket for locating where the curvature of MSE(sigmoid) changes sign: wide enough to hold
# the solved thresholds (|z| = log 2), narrow enough that the second difference stays well
# above its rounding level at the ends (about 1e-5 at |z| = 6).
CURVATURE_BRACKET = (-6.0, 6.0)
BISECTION_STEPS = 60
# The second difference has absolute error about 1e-8 (h = 1e-4); near the sign change the
# curvature moves by |d^3 L/dz^3| ~ 0.1 per unit of z, so the root it gives is within about
# 1e-7 (measured: 1.6e-8); 1e-6 leaves a factor 10 and still rejects any other closed form.
SIGN_CHANGE_TOLERANCE = 1e-6
SATURATION_LABEL = 1.0
SATURATION_LOGITS = tuple(float(v) for v in numpy.linspace(-10.0, 10.0, 81))
TABLE_LOGITS = (-10.0, -5.0, -2.0, 0.0, 2.0, 5.0)


@functools.lru_cache(maxsize=1)
def derivatives_in_z() -> dict[str, sp.Expr]:
    """Both losses of p = sigma(z) and their first two derivatives in z, as SymPy gives them."""
    bce_z = -(Y * sp.log(SIGMOID) + (1 - Y) * sp.log(1 - SIGMOID))
    mse_z = (SIGMOID - Y) ** 2 / 2
    bce_first, mse_first = sp.diff(bce_z, Z), sp.diff(mse_z, Z)
    return {
        "bce_z": bce_z, "bce_z'": bce_first, "bce_z''": sp.diff(bce_first, Z),
        "mse_z": mse_z, "mse_z'": mse_first, "mse_z''": sp.diff(mse_first, Z),
    }


def in_p(expr: sp.Expr) -> sp.Expr:
    """Rewrite an expression in z through p = sigma(z) (e^{-z} = (1-p)/p), factored."""
    return sp.factor(sp.cancel(expr.subs(sp.exp(-Z), (1 - P) / P)))


def _logit_samples(generator: numpy.random.Generator):
    return generator.uniform(-4, 4, 200), generator.uniform(0, 1, 200)


def negative_curvature_check(name: str, exact_value: sp.Expr, z0: float, label: float) -> Check:
    """The exact (negative) second derivative of MSE(sigmoid) at ``z0`` against a second difference.

    Fails if the second difference is not negative, or does not match ``exact_value``.
    """

    def run() -> Measurement:
        numeric = ref.second_difference(lambda u: ref.mse_logits_reference(u, label),
                                        numpy.array([z0]))[0]
        if numeric >= 0:
            return Measurement(numpy.inf, f"second difference {scientific(numeric, 4)} "
                                          "is not negative.")
        error = abs(numeric - float(exact_value)) / abs(float(exact_value))
        return Measurement(error, f"Second difference {scientific(numeric, 7)}.")

    return Check(name, "second difference", run, 1e-5,
                 "Second differences with $h = 10^{-4}$ are accurate to about $10^{-7}$ "
                 "relative here; the check also fails if the difference is not negative.")


def curvature_sign_change(label: float, low: float, high: float,
                          steps: int = BISECTION_STEPS) -> float:
    """Where the second difference of the hand-written MSE(sigmoid) loss changes sign (bisection).

    ``low`` and ``high`` must bracket exactly one sign change; a bracket without one is a
    ``ValueError``.
    """

    def curvature(z: float) -> float:
        return float(ref.second_difference(lambda u: ref.mse_logits_reference(u, label),
                                           numpy.array([z]))[0])

    negative_at_low = curvature(low) < 0
    if negative_at_low == (curvature(high) < 0):
        raise ValueError(f"the curvature has the same sign at z = {low:g} and z = {high:g}")
    for _ in range(steps):
        middle = (low + high) / 2
        if (curvature(middle) < 0) == negative_at_low:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def concave_threshold_check(name: str, label: float, bound: sp.Expr,
                            negative_below: bool) -> Check:
    r"""A derived logit bound of the concave region of MSE(sigmoid) against bisection.

    The second difference of :func:`~.reference.mse_logits_reference` is evaluated at
    the ends of :data:`CURVATURE_BRACKET`: it must be negative on the side the derived
    region claims (below ``bound`` if ``negative_below``, else above) and positive on
    the other; bisection then locates its sign change, which is compared with ``bound``.
    """
    low, high = CURVATURE_BRACKET

    def run() -> Measurement:
        def curvature(z: float) -> float:
            return float(ref.second_difference(lambda u: ref.mse_logits_reference(u, label),
                                               numpy.array([z]))[0])

        inside, outside = (low, high) if negative_below else (high, low)
        if not (curvature(inside) < 0 < curvature(outside)):
            return Measurement(numpy.inf, f"The second difference is not negative at "
                                          f"$z = {inside:g}$ and positive at $z = {outside:g}$, "
                                          "as the derived region requires.")
        root = curvature_sign_change(label, low, high)
        return Measurement(abs(root - float(bound)),
                           f"Sign change found at $z = {root:.9f}$ after {BISECTION_STEPS} "
                           "bisection steps.")

    side = "below" if negative_below else "above"
    return Check(name, rf"bisection on second differences, $z \in [{low:g}, {high:g}]$", run,
                 SIGN_CHANGE_TOLERANCE,
                 r"The second difference ($h = 10^{-4}$) is off by about $10^{-8}$; near the "
                 r"sign change the curvature moves by about $0.1$ per unit of $z$, so the "
                 r"located root is within about $10^{-7}$ of the true one; $10^{-6}$ leaves a "
                 rf"factor 10. The check also fails unless the curvature is negative {side} the "
                 r"derived bound and positive on the other side.")


def logit_part(seed: int, samples: int) -> Part:
    """BCE and MSE of a sigmoid output, as functions of the logit."""
    raw = derivatives_in_z()
    bce_first, bce_second = in_p(raw["bce_z'"]), in_p(raw["bce_z''"])
    mse_first, mse_second = in_p(raw["mse_z'"]), in_p(raw["mse_z''"])
    confirm(sp.expand(bce_first - (P - Y)) == 0, "dBCE/dz = p - y")
    confirm(sp.expand(mse_first - (P - Y) * P * (1 - P)) == 0, "dMSE/dz = (p-y)p(1-p)")
    # SymPy factors with (p - 1); the report shows the same products written with (1 - p)
    shown = {"bce''": P * (1 - P), "mse'": (P - Y) * P * (1 - P),
             "mse''": P * (1 - P) * (P * (1 - P) + (P - Y) * (1 - 2 * P))}
    confirm(all(sp.expand(derived - shown[key]) == 0 for key, derived in
                (("bce''", bce_second), ("mse'", mse_first), ("mse''", mse_second))),
            "the displayed forms equal SymPy's derivatives")

    curvature = raw["bce_z''"].subs(Y, 0)  # independent of y
    sigma_prime = sp.exp(-Z) / (1 + sp.exp(-Z)) ** 2
    confirm(sp.cancel(curvature - sigma_prime) == 0 and sigma_prime.is_positive is True,
            "d2BCE/dz2 = e^{-z}/(1+e^{-z})^2 > 0")

    bracket = sp.factor(mse_second / (P * (1 - P)))
    ends = (sp.factor(bracket.subs(P, 0)), sp.factor(bracket.subs(P, 1)))
    hard = sp.factor(mse_second.subs(Y, 1))
    region = negative_region(hard, P)
    threshold = region.sup
    logit_threshold = sp.log(threshold / (1 - threshold))
    exact_value = sp.factor(hard.subs(P, SIGMOID.subs(Z, CONCAVE_POINT)))
    confirm(exact_value.is_negative is True, "MSE(sigmoid)'' < 0 at z = -2, y = 1")
    confirm(bool(logit_threshold > CONCAVE_POINT), "z = -2 lies in the concave region")
    # the mirror image for y = 0, solved rather than argued by symmetry
    region_zero = negative_region(sp.factor(mse_second.subs(Y, 0)), P)
    confirm(region_zero == sp.Interval.open(1 - threshold, 1),
            "for y = 0 the concave region is the mirror image of the one for y = 1")

    steps = [
        Section("In the logit of a sigmoid output"),
        Step(
            r"A network produces a logit $z$ and the probability $p = \sigma(z) = 1/(1+e^{-z})$. "
            r"Differentiating in $z$ and replacing $e^{-z}$ by $(1-p)/p$ expresses every "
            r"derivative through $p$. For binary cross-entropy SymPy finds",
            ((r"\frac{\partial L_{\mathrm{CE}}}{\partial z}", bce_first),
             (r"\frac{\partial^2 L_{\mathrm{CE}}}{\partial z^2}", shown["bce''"])),
        ),
        Step(
            r"In $z$ directly the second derivative is $e^{-z}/(1+e^{-z})^2$, which SymPy "
            r"declares positive for real $z$: cross-entropy is strictly convex in the logit, "
            r"for any label. (This is why logistic regression, a linear logit with this loss, "
            r"is a convex problem.)",
            (r"\frac{\partial^2 L_{\mathrm{CE}}}{\partial z^2}", sigma_prime),
        ),
        Step(
            "For the squared error of the probability the same procedure gives",
            ((r"\frac{\partial L_{\mathrm{MSE}}}{\partial z}", shown["mse'"]),
             (r"\frac{\partial^2 L_{\mathrm{MSE}}}{\partial z^2}", shown["mse''"])),
        ),
        Step(
            r"The factor $p(1-p)$ is positive, so the sign is that of the remaining factor, "
            r"which at the two ends of $(0, 1)$ equals "
            rf"${sp.latex(ends[0])}$ and ${sp.latex(ends[1])}$. For a soft label both are "
            r"negative, for a hard label one of them is, so for every label in $[0, 1]$ the "
            r"second derivative is negative near at least one end: the loss is concave there. "
            r"For the hard label $y = 1$ SymPy solves the inequality "
            r"$\partial^2 L/\partial z^2 < 0$ in $p$:",
            ((r"\frac{\partial^2 L_{\mathrm{MSE}}}{\partial z^2}\Big|_{y=1}", hard),
             (r"\{p \in (0,1) : \partial^2 L_{\mathrm{MSE}}/\partial z^2 < 0\}", region)),
        ),
        Step(
            rf"that is, every logit $z < {sp.latex(logit_threshold)}$. At the concrete point "
            rf"$z = {sp.latex(CONCAVE_POINT)}$ the exact second derivative, about "
            rf"${float(exact_value):.5f}$, is",
            (r"\partial^2 L_{\mathrm{MSE}}/\partial z^2|_{z=-2,\,y=1}", exact_value),
        ),
        Step(
            r"so the squared error of a sigmoid output is not convex in the logit. For $y = 0$ "
            rf"SymPy finds the mirror image, the region ${sp.latex(region_zero)}$ in $p$, that is "
            rf"$z > {sp.latex(-logit_threshold)}$."
        ),
    ]
    results = {
        "dbce/dz": bce_first,
        "d2bce/dz2": bce_second,
        "dmse/dz": mse_first,
        "d2mse/dz2": mse_second,
        "d2mse/dz2 at z=-2, y=1": exact_value,
        "mse(z), y=1: concave for z below": logit_threshold,
        "mse(z), y=0: concave for p in": sp.Matrix([region_zero.inf, region_zero.sup]),
    }
    ends_zero = results["mse(z), y=0: concave for p in"]
    interior_zero = [e for e in ends_zero if 0 < e < 1]
    confirm(len(interior_zero) == 1 and region_zero == sp.Interval.open(*ends_zero),
            "the concave region for y = 0 is one open interval with one end inside (0, 1)")
    bound_zero = sp.log(interior_zero[0] / (1 - interior_zero[0]))

    def second_in_z(expr):
        return expr.subs(P, SIGMOID)

    def jensen_sampler(generator, n):
        return generator.uniform(-8, 8, n), generator.uniform(-8, 8, n)

    labels = rng(seed + 3).uniform(0, 1, samples)

    checks = [
        derivative_check("BCE($z$): gradient $p - y$", second_in_z(bce_first), (Z, Y),
                         ref.bce_logits_reference, _logit_samples, seed),
        second_derivative_check("BCE($z$): second derivative $p(1-p)$",
                                second_in_z(bce_second), (Z, Y), ref.bce_logits_reference,
                                _logit_samples, seed),
        jensen_check("BCE($z$): convex (Jensen)",
                     lambda z: losses.bce_from_logits(z, labels), jensen_sampler, seed, samples),
        derivative_check("MSE($z$): gradient $(p-y)p(1-p)$", second_in_z(mse_first), (Z, Y),
                         ref.mse_logits_reference, _logit_samples, seed),
        second_derivative_check("MSE($z$): second derivative", second_in_z(mse_second),
                                (Z, Y), ref.mse_logits_reference, _logit_samples, seed),
        negative_curvature_check("MSE($z$): negative curvature at $z = -2$", exact_value,
                                 float(CONCAVE_POINT), 1.0),
        concave_threshold_check(rf"MSE($z$): concave exactly for "
                                rf"$z < {sp.latex(logit_threshold)}$ ($y = 1$)", 1.0,
                                results["mse(z), y=1: concave for z below"],
                                negative_below=region.inf == 0),
        concave_threshold_check(rf"MSE($z$): concave exactly for "
                                rf"$z > {sp.latex(bound_zero)}$ ($y = 0$)", 0.0,
                                bound_zero, negative_below=ends_zero[0] == 0),
        jensen_check("MSE($z$): not convex (Jensen, $y = 1$)",
                     lambda z: losses.mse_from_logits(z, 1.0), jensen_sampler, seed, samples,
                     convex=False),
    ]
    signatures = {name: (P, Y) for name in results}
    for name in ("d2mse/dz2 at z=-2, y=1", "mse(z), y=1: concave for z below",
                 "mse(z), y=0: concave for p in"):
        signatures[name] = ()
    return Part(steps, results, checks, signatures)


def saturation_series() -> dict[str, tuple[float, ...]]:
    """The gradients plotted in the saturation figure (y = 1), from the public functions."""
    z = numpy.array(SATURATION_LOGITS)
    return {
        "bce": tuple(float(v) for v in losses.bce_from_logits_gradient(z, SATURATION_LABEL)),
        "mse": tuple(float(v) for v in losses.mse_from_logits_gradient(z, SATURATION_LABEL)),
    }


def saturation_part() -> Part:
    """dL/dz for both losses, their limits on a confidently wrong answer, and the figure."""
    bce_gradient = SIGMOID - 1
    mse_gradient = (SIGMOID - 1) * SIGMOID * (1 - SIGMOID)
    # z -> -oo is p -> 0+, and both gradients are polynomials in p: the limits are values at 0
    limits = (in_p(bce_gradient).subs(P, 0), in_p(mse_gradient).subs(P, 0))
    ratio = sp.factor(in_p(mse_gradient) / in_p(bce_gradient))
    confirm(sp.expand(ratio - P * (1 - P)) == 0, "the ratio of the gradients is p(1-p)")
    series = saturation_series()
    rows = []
    z = numpy.array(TABLE_LOGITS)
    for z0, g_bce, g_mse in zip(TABLE_LOGITS,
                                losses.bce_from_logits_gradient(z, 1.0),
                                losses.mse_from_logits_gradient(z, 1.0), strict=True):
        rows.append((f"${z0:g}$", scientific(abs(g_bce)), scientific(abs(g_mse))))

    steps = [
        Section("Gradient saturation"),
        Step(
            r"Gradient descent on a network sees the loss through $\partial L/\partial z$. Take "
            r"the label $y = 1$ and a confidently wrong logit, $z \to -\infty$ "
            r"($p \to 0$). Both gradients are polynomials in $p$, so their limits are their "
            r"values at $p = 0$:",
            ((r"\lim_{z\to-\infty} \frac{\partial L_{\mathrm{CE}}}{\partial z}", limits[0]),
             (r"\lim_{z\to-\infty} \frac{\partial L_{\mathrm{MSE}}}{\partial z}", limits[1]))),
        Step(
            r"As the prediction becomes confidently wrong, the cross-entropy gradient tends to "
            r"size one while the squared error's vanishes; the squared error's gradient is the "
            r"cross-entropy gradient times",
            (r"\frac{\partial L_{\mathrm{MSE}}/\partial z}{\partial L_{\mathrm{CE}}/\partial z}",
             P * (1 - P)),
        ),
        Step(
            r"which vanishes as the sigmoid saturates: a unit that is confidently wrong "
            r"barely learns. Figure~\ref{fig:convexity-saturation} and the table show both "
            r"gradients for $y = 1$."
        ),
        Figure(
            "saturation",
            r"Gradients of the two losses in the logit for the label $y = 1$. Left of $0$ the "
            r"prediction is wrong; as $z \to -\infty$ the cross-entropy gradient tends to "
            r"$-1$ while the squared-error gradient tends to $0$."
            r"\label{fig:convexity-saturation}",
            LinePlot(
                x=SATURATION_LOGITS,
                series=(("cross-entropy: $p - y$", series["bce"]),
                        ("squared error: $(p - y)\\,p(1 - p)$", series["mse"])),
                xlabel="logit $z$",
                ylabel=r"$\partial L / \partial z$",
                hline=0.0,
            ),
        ),
        Table(r"Size of the gradient $|\partial L/\partial z|$ for the label $y = 1$.",
              ("$z$", "cross-entropy", "squared error"), tuple(rows)),
    ]

    def plotted() -> Measurement:
        exact = [ref.mp_binary(z0, SATURATION_LABEL) for z0 in SATURATION_LOGITS]
        error = max(
            ref.relative_to_exact(series["bce"], [e["bce_from_logits_gradient"] for e in exact]),
            ref.relative_to_exact(series["mse"], [e["mse_from_logits_gradient"] for e in exact]),
        )
        return Measurement(error, f"{len(SATURATION_LOGITS)} plotted logits from $-10$ to $10$.")

    def far_wrong() -> Measurement:
        exact = ref.mp_binary(-50.0, 1.0)
        error = max(abs(exact["bce_from_logits_gradient"] - float(limits[0])),
                    abs(exact["mse_from_logits_gradient"] - float(limits[1])))
        return Measurement(error, "Distance of the mpmath gradients at $z = -50$ from the limits.")

    checks = [
        Check("Saturation: plotted gradients", "mpmath, 60 digits", plotted,
              ROUNDOFF_TOLERANCE,
              "The stable forms lose at most a few ulp; the error is relative to each exact value."),
        Check("Saturation: limits as $z \\to -\\infty$", "mpmath at $z = -50$", far_wrong,
              1e-20, r"At $z = -50$ both gradients differ from their limits by about "
                     r"$\sigma(-50) \approx 2\times 10^{-22}$."),
    ]
    results = {"saturation: limits": sp.Matrix(limits), "saturation: ratio": ratio}
    return Part(steps, results, checks, {"saturation: ratio": (P,)})


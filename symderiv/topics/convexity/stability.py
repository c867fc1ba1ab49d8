r"""The overflow-free forms behind the NumPy functions: proved equal, then checked at extremes.

Each stable form in :func:`~symderiv.topics.convexity.losses.stable_forms` is
compared with the textbook formula symbolically: on each half-line
:math:`z > 0` and :math:`z < 0` (where ``Max``, ``Min`` and ``Abs`` resolve)
the difference has zero derivative and vanishes at :math:`z = 0`, so it is
identically zero. Numerically, the functions are compared with mpmath at
logits up to :math:`10^{300}` and probabilities down to :math:`10^{-300}`.
"""

from __future__ import annotations

import functools

import numpy
import sympy as sp

from symderiv.derivation import Check, Measurement, Section, Step
from symderiv.topics.convexity import losses as losses
from symderiv.topics.convexity import reference as ref
from symderiv.topics.convexity.checks import Part, confirm
from symderiv.topics.convexity.logits import SIGMOID, derivatives_in_z
from symderiv.topics.convexity.losses import P, Y, Z

EXTREME_LOGITS = (-1e300, -1e10, -1000.0, -745.0, -100.0, -40.0, -1.0, 0.0, 1.0, 40.0, 100.0,
                  745.0, 1000.0, 1e10, 1e300)
EXTREME_PROBABILITIES = (1e-300, 1e-100, 1e-12, 1e-4, 0.5, 1 - 1e-4, 1 - 1e-12, 1 - 2**-52)
LABELS = (0.0, 0.25, 0.5, 0.9, 1.0)
SOFTMAX_ROWS = (
    ((1e300, -1e300, 0.0), (1.0, 0.0, 0.0)),
    ((1e300, -1e300, 0.0), (0.0, 1.0, 0.0)),
    ((1000.0, 999.0, -1000.0), (0.2, 0.3, 0.5)),
    ((-1e10, -1e10 + 1, -1e10 + 2), (0.0, 0.0, 1.0)),
    ((-745.0, 745.0, 0.0), (1.0, 0.0, 0.0)),
)
# A few ulp per operation over a handful of operations, with a wide margin; the textbook
# formulas miss it by many orders of magnitude or return inf/NaN at these points.
STABLE_TOLERANCE = 1e-12

BINARY_NAMES = (
    "sigmoid", "bce_from_logits", "bce_from_logits_gradient",
    "bce_from_logits_second_derivative", "mse_from_logits", "mse_from_logits_gradient",
    "mse_from_logits_second_derivative",
)
PROBABILITY_NAMES = ("bce", "bce_gradient", "bce_second_derivative")


@functools.lru_cache(maxsize=1)
def textbook_forms() -> dict[str, sp.Expr]:
    """The formulas as usually written (they overflow for large |z|)."""
    raw = derivatives_in_z()
    bce_p = -(Y * sp.log(P) + (1 - Y) * sp.log(1 - P))
    return {
        "sigmoid": SIGMOID,
        "bce_from_logits": raw["bce_z"],
        "bce_from_logits_gradient": raw["bce_z'"],
        "bce_from_logits_second_derivative": raw["bce_z''"],
        "mse_from_logits": raw["mse_z"],
        "mse_from_logits_gradient": raw["mse_z'"],
        "mse_from_logits_second_derivative": raw["mse_z''"],
        "bce": bce_p,
        "bce_gradient": sp.diff(bce_p, P),
        "bce_second_derivative": sp.diff(bce_p, P, 2),
    }


def _zero_on_half_line(difference: sp.Expr, t: sp.Symbol) -> bool:
    """True if ``difference(t)`` vanishes for every t > 0.

    With u = e^t the difference is a rational function of u, plus logarithms for
    the losses; a logarithmic difference is zero when its derivative in u cancels
    to zero and it vanishes at u = 1 (t = 0).
    """
    u = sp.Symbol("u", positive=True)
    in_u = difference.rewrite(sp.exp).rewrite(sp.log).subs(sp.exp(t), u).subs(t, sp.log(u))
    if not in_u.has(sp.log):
        return _is_zero_rational(in_u)
    return _is_zero_rational(sp.diff(in_u, u)) and sp.expand(
        sp.expand_log(in_u.subs(u, 1), force=True)) == 0


def _is_zero_rational(expr: sp.Expr) -> bool:
    """A rational function is zero exactly when its expanded numerator is (no gcd needed)."""
    numerator, _ = sp.fraction(sp.together(expr))
    return sp.expand(numerator) == 0


def stable_equals_textbook(name: str, stable: sp.Expr, textbook: sp.Expr) -> bool:
    """Prove ``stable`` equal to ``textbook`` (on both half-lines in z, or identically in p)."""
    if name in PROBABILITY_NAMES:
        difference = (stable.doit() - textbook).rewrite(sp.log)
        return sp.cancel(sp.expand_log(difference, force=True)) == 0
    t = sp.Symbol("t", positive=True)
    return all(_zero_on_half_line((stable - textbook).subs(Z, side * t), t) for side in (1, -1))


# --------------------------------------------------------------------------- checks


def _compare(actual: numpy.ndarray, exact: numpy.ndarray) -> float:
    """Relative error; an exact value beyond float64 range must come out as inf of that sign."""
    actual, exact = numpy.asarray(actual, float), numpy.asarray(exact, float)
    overflow = numpy.isinf(exact)
    if numpy.any(actual[overflow] != exact[overflow]) or not numpy.all(
        numpy.isfinite(actual[~overflow])
    ):
        return numpy.inf
    if overflow.all():
        return 0.0
    return ref.relative_to_exact(actual[~overflow], exact[~overflow])


def binary_extremes_check(name: str, functions: dict | None = None) -> Check:
    """The public logit functions at extreme logits and several labels against mpmath."""
    functions = functions or {n: getattr(losses, n) for n in BINARY_NAMES}
    z, y = (numpy.array(v) for v in zip(*[(a, b) for a in EXTREME_LOGITS for b in LABELS],
                                        strict=True))

    def run() -> Measurement:
        exact = [ref.mp_binary(a, b) for a, b in zip(z, y, strict=True)]
        worst = 0.0
        for key, function in functions.items():
            actual = function(z) if key == "sigmoid" else function(z, y)
            worst = max(worst, _compare(actual, [e[key] for e in exact]))
        return Measurement(worst, f"{len(functions)} functions at {z.size} (logit, label) pairs, "
                                  f"logits up to $10^{{300}}$ in size.")

    return Check(name, "mpmath, 60 digits", run, STABLE_TOLERANCE,
                 "Relative to each exact value; a few ulp per operation over a handful of "
                 "operations stay far below $10^{-12}$.")


def probability_extremes_check(name: str) -> Check:
    """The public probability functions near 0 and 1 against mpmath."""
    p, y = (numpy.array(v) for v in zip(*[(a, b) for a in EXTREME_PROBABILITIES for b in LABELS],
                                        strict=True))

    def run() -> Measurement:
        exact = [ref.mp_bce(a, b) for a, b in zip(p, y, strict=True)]
        worst = max(_compare(getattr(losses, key)(p, y), [e[key] for e in exact])
                    for key in PROBABILITY_NAMES)
        return Measurement(worst, f"{p.size} (probability, label) pairs; where the exact second "
                                  "derivative exceeds the float64 range the result must be inf.")

    return Check(name, "mpmath, 60 digits", run, STABLE_TOLERANCE,
                 "Relative to each exact value, as for the logit functions.")


def softmax_extremes_check(name: str) -> Check:
    """The public softmax cross-entropy and its gradient at extreme logits against mpmath."""

    def run() -> Measurement:
        worst = 0.0
        for logits, target in SOFTMAX_ROWS:
            loss, gradient = ref.mp_softmax(numpy.array(logits), numpy.array(target))
            worst = max(
                worst,
                _compare(losses.softmax_cross_entropy(logits, target), loss),
                _compare(losses.softmax_cross_entropy_gradient(logits, target), gradient),
            )
        return Measurement(worst, f"{len(SOFTMAX_ROWS)} rows of logits up to $10^{{300}}$.")

    return Check(name, "mpmath", run,
                 STABLE_TOLERANCE, "Relative to each exact value.")


# --------------------------------------------------------------------------- derivation


def naive_failures() -> int:
    """How many of the extreme-point values the textbook formulas get as inf or NaN."""
    z, y = (numpy.array(v) for v in zip(*[(a, b) for a in EXTREME_LOGITS for b in LABELS],
                                        strict=True))
    forms = textbook_forms()
    count = 0
    with numpy.errstate(all="ignore"):
        for name in BINARY_NAMES:
            values = numpy.broadcast_to(sp.lambdify((Z, Y), forms[name], "numpy")(z, y), z.shape)
            count += int((~numpy.isfinite(values)).sum())
    return count


def stability_part() -> Part:
    """Stable forms, their proofs of equality, the input policy and the extreme-value checks."""
    stable, textbook = losses.stable_forms(), textbook_forms()
    for name in (*BINARY_NAMES, *PROBABILITY_NAMES):
        confirm(stable_equals_textbook(name, stable[name], textbook[name]),
                f"the stable form of {name} equals the textbook form")
    blocks, templates = losses.stable_templates()
    block_rows = tuple((sp.latex(k), v) for k, v in blocks.items())
    form_rows = tuple((r"\texttt{" + name.replace("_", r"\_") + "}", templates[name])
                      for name in (*BINARY_NAMES, *PROBABILITY_NAMES))
    failures = naive_failures()
    steps = [
        Section("Numerically stable NumPy functions"),
        Step(
            r"The textbook formulas overflow: $e^{-z}$ is $\infty$ in float64 for $z < -709$, "
            r"and $\log(1 - \sigma(z))$ is $\log 0$ once $\sigma(z)$ rounds to $1$. At the "
            rf"{len(EXTREME_LOGITS) * len(LABELS)} (logit, label) pairs of the check "
            r"``Stable: logit functions'' (logits from $-10^{300}$ to $10^{300}$), the seven "
            rf"textbook functions of the logit return {failures} infinite or undefined values. "
            r"The "
            r"functions in \texttt{symderiv.topics.convexity} are lambdified from forms in "
            r"which no exponential has a positive argument and no loss is a difference of "
            r"large terms, with $\operatorname{log1p}(u) = \log(1 + u)$:"
        ),
        Step("The building blocks, each defined through the ones before it, are", block_rows),
        Step("and the functions evaluate", form_rows),
        Step(
            r"Each form is proved equal to the textbook formula by SymPy. On each half-line "
            r"$z > 0$ and $z < 0$, where $\max$, $\min$ and $|\cdot|$ resolve, the difference "
            r"becomes a function of $u = e^{|z|}$: a rational one, whose numerator expands to $0$, "
            r"or one with logarithms, whose derivative in $u$ is $0$ and whose value at $u = 1$ "
            r"($z = 0$) is $0$. The forms in $p$ are identical after expanding the logarithms."
        ),
        Step(
            r"Input policy. Probabilities must lie strictly inside $(0, 1)$: the functions of "
            r"$p$ raise an \texttt{InputError} for $0$, $1$ or anything outside, and never clip "
            r"silently (pass the logit to \texttt{bce\_from\_logits}, or clip explicitly). "
            r"Labels must lie in $[0, 1]$, softmax targets must be non-negative rows summing to "
            r"$1$, and logits must be finite. Inside $(0, 1)$ the second derivative in $p$ is "
            r"$+\infty$ only where its exact value exceeds the float64 range ($p < 10^{-154}$) "
            r"and is never NaN."
        ),
    ]
    checks = [
        binary_extremes_check("Stable: logit functions"),
        probability_extremes_check("Stable: BCE($p$) near 0 and 1"),
        softmax_extremes_check("Stable: softmax CE"),
    ]
    results = {f"stable: {name}": stable[name] for name in (*BINARY_NAMES, *PROBABILITY_NAMES)}
    signatures = {f"stable: {name}": ((P if name in PROBABILITY_NAMES else Z), Y)
                  for name in (*BINARY_NAMES, *PROBABILITY_NAMES)}
    return Part(steps, results, checks, signatures)

r"""Convexity in the prediction: the squared error in :math:`\hat y`, cross-entropy in :math:`p`.

* MSE :math:`\tfrac12(\hat y - y)^2`: second derivative 1, Jensen gap
  :math:`\tfrac12 t(1-t)(a-b)^2` shown positive by SymPy's assumptions; for a
  vector prediction the Hessian is the identity.
* Binary cross-entropy: :math:`L'' = y/p^2 + (1-y)/(1-p)^2`, positive for hard and
  soft labels after the substitution :math:`p = s/(1+s)`, :math:`s > 0`; the root
  :math:`p = y` of :math:`L'` and the minimum value, the entropy of the label.
"""

from __future__ import annotations

import autograd
import numpy
import sympy as sp

from symderiv.derivation import Check, Measurement, Section, Step, Table
from symderiv.numeric import ROUNDOFF_TOLERANCE, lambdify_numpy, relative_error, rng
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
from symderiv.topics.convexity.losses import YHAT, P, Y

# --------------------------------------------------------------------------- MSE


def mse_part(classes: int, seed: int, samples: int) -> Part:
    loss = (YHAT - Y) ** 2 / 2
    first, second = sp.diff(loss, YHAT), sp.diff(loss, YHAT, 2)
    a, b = sp.symbols("a b", real=True)
    t = sp.Symbol("t", real=True)
    gap = sp.factor(t * loss.subs(YHAT, a) + (1 - t) * loss.subs(YHAT, b)
                    - loss.subs(YHAT, t * a + (1 - t) * b))
    # t in (0, 1) as t = s/(1+s) with s > 0, and a != b as b = a + d with d != 0.
    s, d = sp.Symbol("s", positive=True), sp.Symbol("d", real=True, nonzero=True)
    gap_positive = gap.subs({t: s / (1 + s), b: a + d}).is_positive
    confirm(gap_positive is True, "the Jensen gap of the squared error is positive")
    # SymPy factors the gap as -t (a-b)^2 (t-1)/2; the report shows the same product as t(1-t)
    gap_display = t * (1 - t) * (a - b) ** 2 / 2
    confirm(sp.expand(gap - gap_display) == 0, "the Jensen gap is t(1-t)(a-b)^2/2")

    yhat_vec = sp.Matrix([sp.Symbol(f"yhat_{k}", real=True) for k in range(1, classes + 1)])
    y_vec = sp.Matrix([sp.Symbol(f"y_{k}", real=True) for k in range(1, classes + 1)])
    residual = yhat_vec - y_vec
    vector_loss = (residual.T * residual)[0, 0] / 2
    hessian = sp.hessian(vector_loss, list(yhat_vec))
    framework_hessian = sp.hessian((residual.T * residual)[0, 0] / classes, list(yhat_vec))
    confirm(hessian == sp.eye(classes), "the MSE Hessian is the identity")

    steps = [
        Section("Squared error in the prediction"),
        Step("With the label $y$ fixed, the loss and its first two derivatives in $\\hat y$ are",
             (("L", loss),
              (r"\frac{\partial L}{\partial \hat y}", first),
              (r"\frac{\partial^2 L}{\partial \hat y^2}", second))),
        Step(
            "A twice differentiable function with a positive second derivative everywhere is "
            "strictly convex. The definition can also be checked directly: for predictions "
            r"$a, b$ and a weight $t$, the Jensen gap factors as",
            (r"t L(a) + (1-t) L(b) - L(ta + (1-t)b)", gap_display),
        ),
        Step(
            r"Substituting $t = s/(1+s)$ with $s > 0$ (every $t \in (0, 1)$) and $b = a + d$ "
            r"with $d \neq 0$, SymPy's assumption system decides that the gap is positive, "
            r"which is strict convexity."
        ),
        Step(
            rf"For a vector prediction $\hat y \in \mathbb{{R}}^{{{classes}}}$ and "
            r"$L = \tfrac12\lVert \hat y - y\rVert^2$ the Hessian is the identity, so the loss is "
            r"strictly convex in every direction; the framework convention "
            rf"$\frac1{{{classes}}}\lVert\hat y - y\rVert^2$ only rescales it:",
            ((r"\nabla^2_{\hat y} \tfrac12\lVert \hat y - y\rVert^2", hessian),
             (rf"\nabla^2_{{\hat y}} \tfrac1{{{classes}}}\lVert \hat y - y\rVert^2",
              framework_hessian)),
        ),
    ]
    results = {
        "mse": loss,
        "dmse/dyhat": first,
        "d2mse/dyhat2": second,
        "mse: jensen gap": gap,
        "mse: vector hessian": hessian,
    }

    def mse_sampler(generator):
        return generator.normal(0, 3, 200), generator.normal(0, 3, 200)

    def vector_hessian() -> Measurement:
        generator = rng(seed)
        worst, smallest = 0.0, numpy.inf
        exact = numpy.array(hessian, dtype=float)
        for _ in range(20):
            prediction, target = generator.normal(size=classes), generator.normal(size=classes)
            numeric = autograd.hessian(ref.mse_vector_reference)(prediction, target)
            eigenvalues = numpy.linalg.eigvalsh(numeric)
            smallest = min(smallest, float(eigenvalues.min()))
            worst = max(worst, relative_error(numeric, exact),
                        relative_error(eigenvalues, numpy.ones(classes)))
        return Measurement(worst, f"Smallest eigenvalue found: {scientific(smallest, 6)}.")

    def gap_formula() -> Measurement:
        generator = rng(seed)
        a_, b_ = generator.normal(0, 3, samples), generator.normal(0, 3, samples)
        t_, y_ = generator.uniform(0, 1, samples), generator.normal(0, 3, samples)
        numeric = ref.jensen_gaps(lambda u: (u - y_) ** 2 / 2, a_, b_, t_)
        derived = lambdify_numpy((t, a, b), gap)(t_, a_, b_)
        violations = int((numeric < 0).sum())
        return Measurement(relative_error(derived, numeric),
                           f"{violations} of {samples} random pairs have a negative gap.")

    checks = [
        second_derivative_check("MSE: second derivative", second, (YHAT, Y),
                                lambda u, y: (u - y) ** 2 / 2, mse_sampler, seed),
        Check("MSE: vector Hessian, eigenvalues", "autograd Hessian, eigvalsh", vector_hessian,
              ROUNDOFF_TOLERANCE, "Autograd differentiates the hand-written vector loss exactly; "
              "eigvalsh of the identity returns ones to rounding."),
        Check("MSE: Jensen gap formula",
              "NumPy Jensen gaps", gap_formula, ROUNDOFF_TOLERANCE,
              "The same quadratic evaluated in two orders; rounding only."),
    ]
    return Part(steps, results, checks, {"mse: jensen gap": (t, a, b), "dmse/dyhat": (YHAT, Y),
                                         "d2mse/dyhat2": (YHAT, Y), "mse": (YHAT, Y)})


# --------------------------------------------------------------------------- BCE in p


def bce_probability_part(seed: int, samples: int) -> Part:
    loss = -(Y * sp.log(P) + (1 - Y) * sp.log(1 - P))
    first = sp.diff(loss, P)
    second = sp.diff(loss, P, 2)
    source_form = Y / P**2 + (1 - Y) / (1 - P) ** 2
    confirm(sp.cancel(second - source_form) == 0, "L''(p) = y/p^2 + (1-y)/(1-p)^2")
    minimiser = list(sp.roots(sp.Poly(sp.numer(sp.together(first)), P)))
    confirm(len(minimiser) == 1, "dL/dp has exactly one root")
    entropy = -(Y * sp.log(Y) + (1 - Y) * sp.log(1 - Y))
    confirm(sp.expand(loss.subs(P, minimiser[0]) - entropy) == 0,
            "the minimum value of the loss is the entropy of the label")

    # p in (0, 1) exactly when p = s/(1+s) with odds s > 0; a soft label in (0, 1) is r/(1+r).
    s, r = sp.Symbol("s", positive=True), sp.Symbol("r", positive=True)
    odds = {P: s / (1 + s)}
    cases = (
        ("hard label $y = 0$", sp.Integer(0)),
        ("hard label $y = 1$", sp.Integer(1)),
        (r"soft label $y = r/(1+r)$, $r > 0$", r / (1 + r)),
    )
    rows = []
    for label, value in cases:
        substituted = sp.factor(sp.together(source_form.subs(Y, value).subs(odds)))
        verdict = substituted.is_positive
        confirm(verdict is True, f"L''(p) > 0 for the {label}")
        rows.append((label, substituted, r"\texttt{True}"))

    outside = negative_region(source_form.subs(Y, 2), P)
    confirm(outside != sp.S.EmptySet, "L'' changes sign for y = 2")

    steps = [
        Section("Binary cross-entropy in the probability"),
        Step("For a label $y$ and a predicted probability $p \\in (0, 1)$, the loss and its "
             "derivatives in $p$ are",
             (("L", loss),
              (r"\frac{\partial L}{\partial p}", first),
              (r"\frac{\partial^2 L}{\partial p^2}", second))),
        Step("SymPy confirms that the second derivative is the form stated in the source,",
             (r"\frac{\partial^2 L}{\partial p^2}", source_form)),
        Step(
            r"To decide its sign without arguing in words, write $p$ through its odds, "
            r"$p = s/(1+s)$ with $s > 0$: this covers every $p \in (0, 1)$ exactly once. A "
            r"label in $[0, 1]$ is either $0$, $1$, or $r/(1+r)$ with $r > 0$. After the "
            r"substitution each case is a rational function of positive symbols, and SymPy's "
            r"assumption system decides its sign (the column \texttt{is\_positive} is what "
            r"\texttt{sp.Expr.is\_positive} returned):"
        ),
        Table("The second derivative of binary cross-entropy after $p = s/(1+s)$, $s > 0$.",
              ("label", r"$\partial^2 L/\partial p^2$", r"\texttt{is\_positive}"),
              tuple(rows), align="lcc"),
        Step(
            r"So $L$ is strictly convex in $p$ for hard and soft labels alike. The equation "
            r"$\partial L/\partial p = 0$ has the single root",
            sp.Eq(P, minimiser[0], evaluate=False),
        ),
        Step(
            r"For a soft label $y \in (0, 1)$ this is the unique minimiser, and the minimum "
            r"is the entropy $-y\log y - (1-y)\log(1-y)$ of the label. For a hard label the root "
            r"lies outside $(0, 1)$: the loss has no minimiser there and decreases "
            r"monotonically as $p$ approaches $y$."
        ),
        Step(
            r"The label range is what makes this work. For $y = 2$, outside $[0, 1]$, SymPy "
            r"finds that the second derivative is negative on",
            (r"\{p \in (0,1) : \partial^2 L/\partial p^2 < 0\}", outside),
        ),
    ]
    results = {"bce": loss, "dbce/dp": first, "d2bce/dp2": second,
               "bce: minimiser": minimiser[0]}

    def probability_sampler(generator):
        # away from 0 and 1, where the fourth derivative would swamp the second difference
        return generator.uniform(0.2, 0.8, 200), generator.uniform(0, 1, 200)

    def jensen_sampler(generator, n):
        return generator.uniform(1e-3, 1 - 1e-3, n), generator.uniform(1e-3, 1 - 1e-3, n)

    soft_labels = rng(seed + 2).uniform(0, 1, samples)

    checks = [
        second_derivative_check("BCE($p$): second derivative", second, (P, Y),
                                ref.bce_reference, probability_sampler, seed),
        derivative_check("BCE($p$): first derivative", first, (P, Y), ref.bce_reference,
                         probability_sampler, seed),
        jensen_check("BCE($p$): convex (Jensen)",
                     lambda p: ref.bce_reference(p, soft_labels), jensen_sampler, seed, samples),
        stationary_point_check("BCE($p$): minimiser $p = y$", minimiser[0], seed),
    ]
    signatures = {name: (P, Y) for name in results}
    signatures["bce: minimiser"] = (Y,)
    return Part(steps, results, checks, signatures)


def stationary_point_check(name: str, minimiser: sp.Expr, seed: int) -> Check:
    """The derived root of dL/dp, as a function of soft labels, must zero autograd's gradient."""
    located = lambdify_numpy((Y,), minimiser)

    def run() -> Measurement:
        labels = rng(seed).uniform(0.01, 0.99, 200)
        where = numpy.broadcast_to(located(labels), labels.shape)
        gradient = autograd.elementwise_grad(ref.bce_reference)(where, labels)
        return Measurement(float(numpy.max(numpy.abs(gradient))),
                           "Largest gradient at the derived point over 200 soft labels.")

    return Check(name, "autograd gradient", run, ROUNDOFF_TOLERANCE,
                 "At $p = y$ the two terms of the gradient are $-y/p = -1$ and "
                 "$(1-y)/(1-p) = 1$, each exact in float64, so the gradient there vanishes to "
                 "rounding; at any other point it is of order one for these labels.")

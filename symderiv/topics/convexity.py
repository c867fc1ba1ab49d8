r"""Convexity of MSE and cross-entropy: in the prediction, in the logit, in the parameters.

The derivation follows the source question and goes past it:

1. MSE :math:`\tfrac12(\hat y - y)^2` is strictly convex in :math:`\hat y`
   (second derivative 1, Jensen gap :math:`\tfrac12 t(1-t)(a-b)^2`); for a
   vector prediction its Hessian is the identity.
2. Binary cross-entropy is convex in :math:`p` for hard and soft labels:
   :math:`L'' = y/p^2 + (1-y)/(1-p)^2`, shown positive by SymPy's assumptions
   after the substitution :math:`p = s/(1+s)`, :math:`s > 0`.
3. In the logit :math:`z` of a sigmoid output, BCE has :math:`L'' = p(1-p) > 0`;
   MSE composed with the sigmoid is not convex (SymPy solves for where
   :math:`L'' < 0`).
4. Saturation: :math:`\partial L/\partial z` is :math:`p - y` for BCE and
   :math:`(p-y)p(1-p)` for MSE, which vanishes on a confidently wrong answer.
5. Softmax cross-entropy is convex in the logits (:mod:`.convexity_softmax`).
6. Neither loss is convex in the parameters of a network
   (:mod:`.convexity_parameters`).

The public NumPy functions live in :mod:`.convexity_losses` and are re-exported
here. Example::

    >>> from symderiv.topics import convexity
    >>> convexity.bce_from_logits_gradient(np.array([-30.0, 0.0]), 1.0)
    array([-1. , -0.5])
"""

from __future__ import annotations

import functools

import autograd
import numpy
import sympy as sp

from symderiv.derivation import (
    Check,
    Derivation,
    Measurement,
    Section,
    Step,
    Table,
)
from symderiv.errors import InputError
from symderiv.numeric import ROUNDOFF_TOLERANCE, lambdify_numpy, relative_error, rng
from symderiv.topics import Parameter
from symderiv.topics import convexity_reference as ref
from symderiv.topics.convexity_checks import (
    Part,
    confirm,
    derivative_check,
    jensen_check,
    negative_region,
    scientific,
    second_derivative_check,
)
from symderiv.topics.convexity_logits import logit_part, saturation_part
from symderiv.topics.convexity_losses import (  # noqa: F401  (re-exported public API)
    YHAT,
    P,
    Y,
    Z,
    bce,
    bce_from_logits,
    bce_from_logits_gradient,
    bce_from_logits_second_derivative,
    bce_gradient,
    bce_second_derivative,
    mse,
    mse_from_logits,
    mse_from_logits_gradient,
    mse_from_logits_second_derivative,
    mse_gradient,
    mse_second_derivative,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_gradient,
    softmax_cross_entropy_hessian,
    stable_forms,
)
from symderiv.topics.convexity_parameters import parameter_space
from symderiv.topics.convexity_softmax import softmax_part
from symderiv.topics.convexity_stability import stability_part

SUMMARY = "Convexity of MSE and cross-entropy in the prediction, the logit and the parameters"

MAX_CLASSES = 6

PARAMETERS = (
    Parameter("classes", "int", 3, f"number of softmax classes K, 2 to {MAX_CLASSES}"),
    Parameter("seed", "int", 0, "seed of the random points used by the numerical checks"),
    Parameter("samples", "int", 2000, "random pairs per Jensen test, 100 to 100000"),
)

def _validate(classes: int, seed: int, samples: int) -> None:
    if not 2 <= classes <= MAX_CLASSES:
        raise InputError(
            f"classes={classes} is not allowed; choose K between 2 and {MAX_CLASSES} "
            "(the symbolic Hessian grows as K^2; the NumPy functions take any K)"
        )
    if seed < 0:
        raise InputError(f"seed={seed} is negative; give a seed of 0 or more")
    if not 100 <= samples <= 100_000:
        raise InputError(
            f"samples={samples} is outside 100..100000; choose a number of Jensen pairs in that range"
        )


def derive(classes: int = 3, seed: int = 0, samples: int = 2000) -> Derivation:
    """The convexity derivation for ``classes`` softmax classes (checks seeded by ``seed``)."""
    _validate(classes, seed, samples)
    return _derive(classes, seed, samples)


@functools.lru_cache(maxsize=16)
def _derive(classes: int, seed: int, samples: int) -> Derivation:
    parts = [
        _mse_part(classes, seed, samples),
        _bce_probability_part(seed, samples),
        logit_part(seed, samples),
        saturation_part(),
        softmax_part(classes, seed, samples),
        parameter_space(seed, samples),
        stability_part(),
        _importance_part(),
    ]
    results, signatures = {}, {}
    for part in parts:
        results.update(part.results)
        signatures.update(part.signatures)
    return Derivation(
        name="convexity",
        title="Convexity of MSE and cross-entropy",
        statement=STATEMENT,
        assumptions=ASSUMPTIONS,
        steps=tuple(block for part in parts for block in part.steps),
        results=results,
        checks=tuple(check for part in parts for check in part.checks),
        notes=NOTES,
        parameters={"classes": classes, "seed": seed, "samples": samples},
        signatures=signatures,
    )


STATEMENT = (
    r"Show that the squared error $\tfrac12(\hat y - y)^2$ is strictly convex in the prediction "
    r"$\hat y$, and explain why this does not make a network's loss convex in its parameters "
    r"$\theta$ when $\hat y = f_\theta(x)$. Show that the binary cross-entropy "
    r"$-[y\ln p + (1-y)\ln(1-p)]$ is convex in the predicted probability $p \in (0, 1)$ for a "
    r"hard label $y \in \{0, 1\}$, and decide whether this survives soft labels "
    r"$y \in [0, 1]$. Finally, discuss what convexity in the prediction is worth when the "
    r"parameters are what gradient descent actually moves."
)

ASSUMPTIONS = (
    r"A single example; batch losses are means of these and inherit convexity in the "
    r"predictions (a sum of convex functions is convex).",
    r"The squared error carries the factor $\tfrac12$ of the source. Frameworks use "
    r"$\frac1n\sum_i(\hat y_i - y_i)^2$ without it, which multiplies every derivative by "
    r"$2/n$ and changes no conclusion about signs or convexity.",
    r"Probabilities lie in the open interval $(0, 1)$; a sigmoid output $p = \sigma(z) = "
    r"1/(1 + e^{-z})$ with a finite logit always does.",
)

NOTES = (
    r"The source restricts binary cross-entropy to hard labels $y \in \{0, 1\}$ and handles "
    r"the soft case by inspection. The tool proves positivity of $L''(p)$ for every "
    r"$y \in [0, 1]$; the label range matters, since for $y > 1$ (or $y < 0$) the second "
    r"derivative changes sign inside $(0, 1)$ (shown above for $y = 2$).",
    r"For soft labels the minimum of the binary cross-entropy is not $0$: it is attained at "
    r"$p = y$ and equals the entropy $-y\ln y - (1-y)\ln(1-y)$ of the label.",
    r"The source calls convexity in $p$ helpful for optimisation. The variable that gradient "
    r"descent moves is the logit (or a parameter behind it), and there the two losses differ: "
    r"cross-entropy stays convex in $z$, the squared error of a sigmoid output does not, and "
    r"its gradient vanishes on confidently wrong predictions. This, not convexity in $p$, is "
    r"the practical argument for cross-entropy.",
    r"Part (b) of the first question is answered by exhibiting a concrete Hessian with "
    r"eigenvalues of both signs and a concrete violation of Jensen's inequality, rather "
    r"than by the general remark that a composition of convex and nonlinear maps need not "
    r"be convex.",
)


# --------------------------------------------------------------------------- MSE


def _mse_part(classes: int, seed: int, samples: int) -> Part:
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
            (r"t L(a) + (1-t) L(b) - L(ta + (1-t)b)", gap),
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
        numeric = -ref.jensen_gaps(lambda u: (u - y_) ** 2 / 2, a_, b_, t_)
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


def _bce_probability_part(seed: int, samples: int) -> Part:
    loss = -(Y * sp.log(P) + (1 - Y) * sp.log(1 - P))
    first = sp.diff(loss, P)
    second = sp.diff(loss, P, 2)
    source_form = Y / P**2 + (1 - Y) / (1 - P) ** 2
    confirm(sp.cancel(second - source_form) == 0, "L''(p) = y/p^2 + (1-y)/(1-p)^2")
    minimiser = list(sp.roots(sp.Poly(sp.numer(sp.together(first)), P)))
    confirm(minimiser == [Y], "the only stationary point is p = y")

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
            r"So $L$ is strictly convex in $p$ for hard and soft labels alike. Its only "
            r"stationary point solves $\partial L/\partial p = 0$:",
            sp.Eq(P, minimiser[0], evaluate=False),
        ),
        Step(
            r"The label range is what makes this work. For $y = 2$, outside $[0, 1]$, SymPy "
            r"finds that the second derivative is negative on",
            (r"\{p \in (0,1) : \partial^2 L/\partial p^2 < 0\}", outside),
        ),
    ]
    results = {"bce": loss, "dbce/dp": first, "d2bce/dp2": second}

    def probability_sampler(generator):
        # away from 0 and 1, where the fourth derivative would swamp the second difference
        return generator.uniform(0.2, 0.8, 200), generator.uniform(0, 1, 200)

    def jensen_sampler(generator, n):
        return generator.uniform(1e-3, 1 - 1e-3, n), generator.uniform(1e-3, 1 - 1e-3, n)

    soft_labels = rng(seed + 2).uniform(0, 1, samples)

    def minimiser_run() -> Measurement:
        labels = rng(seed).uniform(0.01, 0.99, 200)
        gradient = autograd.elementwise_grad(ref.bce_reference)(labels, labels)
        return Measurement(float(numpy.max(numpy.abs(gradient))),
                           "Largest gradient at $p = y$ over 200 soft labels.")

    checks = [
        second_derivative_check("BCE($p$): second derivative", second, (P, Y),
                                ref.bce_reference, probability_sampler, seed),
        derivative_check("BCE($p$): first derivative", first, (P, Y), ref.bce_reference,
                         probability_sampler, seed),
        jensen_check("BCE($p$): convex (Jensen)",
                     lambda p: ref.bce_reference(p, soft_labels), jensen_sampler, seed, samples),
        Check("BCE($p$): minimiser $p = y$", "autograd gradient",
              minimiser_run, ROUNDOFF_TOLERANCE * 100,
              "At $p = y$ the two terms $-y/p$ and $(1-y)/(1-p)$ cancel; each is at most "
              "$100$ here, so rounding leaves about $10^{-14}$, well inside $10^{-8}$."),
    ]
    return Part(steps, results, checks, {name: (P, Y) for name in results})


# --------------------------------------------------------------------------- importance


def _importance_part() -> Part:
    steps = [
        Section("What convexity in the prediction is worth"),
        Step(
            r"Convexity in $\hat y$ or $p$ says that, if the prediction itself were the variable, "
            r"every stationary point would be a global minimum and gradient descent could not "
            r"get stuck. Training moves the parameters instead, and the examples above show "
            r"that the loss is then not convex: it has saddle points and non-convex sets of "
            r"minimisers. What survives is local and structural:"
        ),
        Step(
            r"\begin{itemize}"
            r"\item the last step of the chain rule is well behaved: the per-example loss has a "
            r"single minimum in the prediction ($\hat y = y$, or $p = y$), so the error signal "
            r"that backpropagation starts from always points towards it;"
            r"\item when only the last layer is trained on fixed features (linear or logistic "
            r"regression), the loss is a convex function of an affine map and the problem is "
            r"convex, with the guarantees that brings;"
            r"\item in the logit, cross-entropy is convex with gradient $p - y$, which stays of "
            r"order one on confidently wrong predictions, while the squared error of a sigmoid "
            r"is not convex and its gradient saturates."
            r"\end{itemize}"
        ),
    ]
    return Part(steps, {}, [], {})

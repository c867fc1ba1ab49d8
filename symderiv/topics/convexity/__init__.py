r"""Convexity of MSE and cross-entropy: in the prediction, in the logit, in the parameters.

The derivation follows the source question and goes past it:

1. MSE :math:`\tfrac12(\hat y - y)^2` is strictly convex in :math:`\hat y`
   (second derivative 1, Jensen gap :math:`\tfrac12 t(1-t)(a-b)^2`); for a
   vector prediction its Hessian is the identity.
2. Binary cross-entropy is convex in :math:`p` for hard and soft labels:
   :math:`L'' = y/p^2 + (1-y)/(1-p)^2`, shown positive by SymPy's assumptions
   after the substitution :math:`p = s/(1+s)`, :math:`s > 0` (both in
   :mod:`.prediction`).
3. In the logit :math:`z` of a sigmoid output, BCE has :math:`L'' = p(1-p) > 0`;
   MSE composed with the sigmoid is not convex (SymPy solves for where
   :math:`L'' < 0`).
4. Saturation: :math:`\partial L/\partial z` is :math:`p - y` for BCE and
   :math:`(p-y)p(1-p)` for MSE, which vanishes on a confidently wrong answer.
5. Softmax cross-entropy is convex in the logits (:mod:`.multiclass`).
6. Neither loss is convex in the parameters of a network
   (:mod:`.parameters`).

The public NumPy functions live in :mod:`.losses` and are re-exported
here. Example::

    >>> from symderiv.topics import convexity
    >>> convexity.bce_from_logits_gradient(np.array([-30.0, 0.0]), 1.0)
    array([-1. , -0.5])
"""

from __future__ import annotations

import functools

from symderiv.derivation import Derivation, Section, Step
from symderiv.errors import InputError
from symderiv.topics import Parameter
from symderiv.topics.convexity.checks import Part
from symderiv.topics.convexity.logits import logit_part, saturation_part
from symderiv.topics.convexity.losses import (  # noqa: F401  (re-exported public API)
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
from symderiv.topics.convexity.multiclass import softmax_part
from symderiv.topics.convexity.parameters import parameter_space
from symderiv.topics.convexity.prediction import bce_probability_part, mse_part
from symderiv.topics.convexity.stability import stability_part

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
        mse_part(classes, seed, samples),
        bce_probability_part(seed, samples),
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
    r"$-[y\log p + (1-y)\log(1-p)]$ is convex in the predicted probability $p \in (0, 1)$ for a "
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
    r"For soft labels the source states that $y/p^2 + (1-y)/(1-p)^2 > 0$ without giving the "
    r"reason: for $y \in [0, 1]$ both terms are non-negative and they cannot vanish together. "
    r"The tool proves the positivity for every $y \in [0, 1]$; the label range matters, since "
    r"for $y > 1$ (or $y < 0$) the second derivative changes sign inside $(0, 1)$ (shown "
    r"above for $y = 2$).",
    r"For soft labels the minimum of the binary cross-entropy is not $0$: it is attained at "
    r"$p = y$ and equals the entropy $-y\log y - (1-y)\log(1-y)$ of the label.",
    r"The source credits convexity in $p$ with helping gradient-based optimisation and "
    r"mentions only in passing that the cross-entropy gradient saturates less. The variable "
    r"that gradient descent moves is the logit (or a parameter behind it), and there the two "
    r"losses differ: cross-entropy stays convex in $z$, the squared error of a sigmoid output "
    r"does not, and its gradient vanishes on confidently wrong predictions. This, not "
    r"convexity in $p$, is the practical argument for cross-entropy.",
    r"Part (b) of the first question is answered by exhibiting a concrete Hessian with "
    r"eigenvalues of both signs and a concrete violation of Jensen's inequality, rather "
    r"than by the general remark that a composition of convex and nonlinear maps need not "
    r"be convex.",
)


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
            r"\item the last step of the chain rule is well behaved: in the prediction the "
            r"per-example loss has no stationary point other than its minimiser ($\hat y = y$, "
            r"or $p = y$ for a soft label; for a hard label it falls monotonically towards "
            r"$p = y$), so the error signal that backpropagation starts from always points "
            r"towards the target;"
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

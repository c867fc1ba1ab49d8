r"""MSE, binary and softmax cross-entropy as stable, vectorised NumPy functions.

The binary losses and their first two derivatives are SymPy expressions written
in a form that cannot overflow, lambdified once (:func:`stable_forms`); the
topic proves each form equal to the textbook one. Every function works
elementwise over any broadcastable arrays and does not reduce over a batch.

Stable forms, with :math:`\operatorname{sp}(z) = \log(1 + e^{z})`:

.. math::

    \sigma(z) = \frac{e^{\min(z, 0)}}{1 + e^{-|z|}}, \qquad
    p - y = (1-y)\,\sigma(z) - y\,\sigma(-z), \qquad
    \sigma'(z) = \frac{e^{-|z|}}{(1 + e^{-|z|})^2}, \qquad
    \operatorname{sp}(z) - yz = (1-y)\max(z,0) + y\max(-z,0) + \operatorname{log1p}(e^{-|z|}).

No exponent is positive, so nothing overflows for any finite logit, and the
loss is a sum of non-negative terms, so nothing cancels.

Input policy
------------
* probabilities ``p`` must lie strictly inside :math:`(0, 1)`; anything else
  (0, 1, NaN, values outside) raises :class:`~symderiv.errors.InputError`.
  There is no silent clipping: pass logits to :func:`bce_from_logits` instead,
  or clip explicitly with ``numpy.clip(p, eps, 1 - eps)`` if that is what you
  mean. Inside :math:`(0, 1)` the loss is finite and so is the gradient for
  normal (non-subnormal) ``p``; the second
  derivative :math:`y/p^2 + (1-y)/(1-p)^2` is never NaN and is ``inf`` only
  where its exact value exceeds the float64 range (:math:`p < 10^{-154}`).
* labels ``y`` must lie in :math:`[0, 1]` (hard or soft); softmax targets must
  be non-negative rows summing to 1 (within ``1e-9``).
* logits and predictions must be finite.

Example::

    >>> bce_from_logits(np.array([-1000.0, 0.0, 1000.0]), 1.0)
    array([1.00000000e+03, 6.93147181e-01, 0.00000000e+00])
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import log1p

from symderiv.errors import InputError
from symderiv.numeric import lambdify_numpy

# The symbols shared by the topic and these functions.
Z = sp.Symbol("z", real=True)
Y = sp.Symbol("y", real=True)
P = sp.Symbol("p", real=True)
# named by its LaTeX, which also makes SymPy print yhat - y rather than -y + yhat
YHAT = sp.Symbol(r"\hat{y}", real=True)

SOFTMAX_TARGET_SLACK = 1e-9


# Building blocks of the stable forms, as symbols for display (see stable_templates).
DECAY, SIGMA_PLUS, SIGMA_MINUS, RESIDUAL, SIGMA_PRIME = sp.symbols(
    r"d sigma_+ sigma_- r \sigma'", real=True
)


@functools.lru_cache(maxsize=1)
def stable_templates() -> tuple[dict[sp.Symbol, sp.Expr], dict[str, sp.Expr]]:
    r"""The stable forms written with named building blocks, and the blocks' definitions.

    Blocks: :math:`d = e^{-|z|}`, :math:`\sigma_\pm = \sigma(\pm z)`, the residual
    :math:`r = p - y` and :math:`\sigma' = \sigma(1 - \sigma)`; each is defined in terms
    of the ones before it, and none evaluates an exponential of a positive number.
    """
    blocks = {
        DECAY: sp.exp(-sp.Abs(Z)),  # in (0, 1]: the only exponential evaluated
        SIGMA_PLUS: sp.exp(sp.Min(Z, 0)) / (1 + DECAY),
        SIGMA_MINUS: sp.exp(-sp.Max(Z, 0)) / (1 + DECAY),  # 1 - sigma, without cancellation
        # p - y as (1-y) p - y (1-p): exact to rounding for hard labels even when p rounds to 1
        RESIDUAL: (1 - Y) * SIGMA_PLUS - Y * SIGMA_MINUS,
        SIGMA_PRIME: DECAY / (1 + DECAY) ** 2,
    }
    templates = {
        "sigmoid": SIGMA_PLUS,
        "bce_from_logits": (1 - Y) * sp.Max(Z, 0) + Y * sp.Max(-Z, 0) + log1p(DECAY),
        "bce_from_logits_gradient": RESIDUAL,
        "bce_from_logits_second_derivative": SIGMA_PRIME,
        "mse_from_logits": RESIDUAL**2 / 2,
        "mse_from_logits_gradient": RESIDUAL * SIGMA_PRIME,
        # 1 - 2 sigma = -tanh(z/2), and tanh never overflows
        "mse_from_logits_second_derivative": SIGMA_PRIME
        * (SIGMA_PRIME - RESIDUAL * sp.tanh(Z / 2)),
        "bce": -Y * sp.log(P) - (1 - Y) * log1p(-P),
        "bce_gradient": -Y / P + (1 - Y) / (1 - P),
        # (y/p)/p, not y/p**2: p**2 underflows to 0 for p < 1e-162, and 0/0 is NaN.
        "bce_second_derivative": sp.UnevaluatedExpr(Y / P) / P
        + sp.UnevaluatedExpr((1 - Y) / (1 - P)) / (1 - P),
    }
    return blocks, templates


@functools.lru_cache(maxsize=1)
def stable_forms() -> dict[str, sp.Expr]:
    """The overflow-free SymPy forms, keyed by the public function that evaluates them."""
    blocks, templates = stable_templates()
    order = list(blocks)[::-1]  # later blocks refer to earlier ones: substitute them first
    forms = {}
    for name, template in templates.items():
        for block in order:
            template = template.subs(block, blocks[block])
        forms[name] = template
    return forms


@functools.cache
def _compiled(name: str) -> Callable[..., np.ndarray]:
    expr = stable_forms()[name]
    first = P if name.startswith("bce") and "logits" not in name else Z
    # common-subexpression elimination would rewrite (y/p)/p as (1/p)*((1/p)*y), and
    # 1/p overflows for subnormal p, giving inf * 0 = NaN when y = 0
    return lambdify_numpy((first, Y), expr, cse=name != "bce_second_derivative")


# --------------------------------------------------------------------------- input policy


def _where(mask: np.ndarray, noun: str = "value") -> tuple[str, str]:
    """Where the first bad entry is, and how many there are, for an error message."""
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    count = int(mask.sum())
    at = f" at index {index}" if index else ""
    return at, f"{count} of {mask.size} {noun}{'s' if mask.size != 1 else ''}"


def _finite(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    bad = ~np.isfinite(array)
    if bad.any():
        at, count = _where(bad)
        raise InputError(
            f"{name}={float(array[bad].flat[0])!r}{at} is not finite ({count}); "
            f"{name} must be a finite number"
        )
    return array


def _probabilities(p) -> np.ndarray:
    array = np.asarray(p, dtype=float)
    bad = ~((array > 0) & (array < 1))
    if bad.any():
        at, count = _where(bad)
        raise InputError(
            f"p={float(array[bad].flat[0])!r}{at} is outside the open interval (0, 1) ({count}); "
            "pass logits to bce_from_logits for saturated predictions, "
            "or clip explicitly with numpy.clip(p, eps, 1 - eps)"
        )
    return array


def _labels(y) -> np.ndarray:
    array = np.asarray(y, dtype=float)
    bad = ~((array >= 0) & (array <= 1))
    if bad.any():
        at, count = _where(bad)
        raise InputError(
            f"y={float(array[bad].flat[0])!r}{at} is outside [0, 1] ({count}); "
            "labels are probabilities: 0 or 1 (hard) or a number in between (soft)"
        )
    return array


def _softmax_targets(y, classes: int) -> np.ndarray:
    array = _finite("y", y)
    if array.shape[-1:] != (classes,):
        raise InputError(
            f"y has shape {array.shape} but the logits have {classes} classes; "
            f"give targets with last axis {classes} (one-hot or probabilities)"
        )
    totals = array.sum(axis=-1)
    bad = (array < 0).any(axis=-1) | (np.abs(totals - 1) > SOFTMAX_TARGET_SLACK)
    if bad.any():
        at, count = _where(bad, "row")
        raise InputError(
            f"the target row{at} sums to {float(totals[bad].flat[0])!r} or has a negative "
            f"entry ({count}); each row must be non-negative and sum to 1"
        )
    return array


def _logits(z) -> np.ndarray:
    array = _finite("z", z)
    if array.ndim == 0 or array.shape[-1] < 2:
        raise InputError(
            f"z has shape {array.shape}; softmax needs logits with a class axis "
            "of length at least 2 as the last axis"
        )
    return array


# --------------------------------------------------------------------------- MSE


def mse(prediction, target) -> np.ndarray:
    r""":math:`\tfrac12(\hat y - y)^2`, elementwise (the source's convention, with the 1/2)."""
    return 0.5 * (_finite("prediction", prediction) - _finite("target", target)) ** 2


def mse_gradient(prediction, target) -> np.ndarray:
    r""":math:`\partial L / \partial \hat y = \hat y - y`, elementwise."""
    return _finite("prediction", prediction) - _finite("target", target)


def mse_second_derivative(prediction, target) -> np.ndarray:
    r""":math:`\partial^2 L / \partial \hat y^2 = 1`, broadcast to the inputs' shape."""
    shape = np.broadcast(_finite("prediction", prediction), _finite("target", target)).shape
    return np.ones(shape)


# --------------------------------------------------------------------------- BCE in p


def bce(p, y) -> np.ndarray:
    r""":math:`-[y \log p + (1-y)\log(1-p)]` for :math:`p \in (0, 1)`, :math:`y \in [0, 1]`."""
    return _compiled("bce")(_probabilities(p), _labels(y))


def bce_gradient(p, y) -> np.ndarray:
    r""":math:`\partial L/\partial p = -y/p + (1-y)/(1-p)`.

    ``-inf`` (without a warning) only for subnormal ``p``, where the exact value
    exceeds the float64 range.
    """
    with np.errstate(over="ignore"):
        return _compiled("bce_gradient")(_probabilities(p), _labels(y))


def bce_second_derivative(p, y) -> np.ndarray:
    r""":math:`\partial^2 L/\partial p^2 = y/p^2 + (1-y)/(1-p)^2`.

    ``inf`` (without a warning) only where the exact value exceeds the float64 range.
    """
    with np.errstate(over="ignore"):
        return _compiled("bce_second_derivative")(_probabilities(p), _labels(y))


# --------------------------------------------------------------------------- in the logit


def sigmoid(z) -> np.ndarray:
    r""":math:`\sigma(z) = 1/(1+e^{-z})`, computed without overflow."""
    return _compiled("sigmoid")(_finite("z", z), 0.0)


def bce_from_logits(z, y) -> np.ndarray:
    r"""Binary cross-entropy of :math:`p = \sigma(z)`: :math:`\log(1+e^z) - yz`."""
    return _compiled("bce_from_logits")(_finite("z", z), _labels(y))


def bce_from_logits_gradient(z, y) -> np.ndarray:
    r""":math:`\partial L/\partial z = \sigma(z) - y`."""
    return _compiled("bce_from_logits_gradient")(_finite("z", z), _labels(y))


def bce_from_logits_second_derivative(z, y) -> np.ndarray:
    r""":math:`\partial^2 L/\partial z^2 = \sigma(z)(1 - \sigma(z))` (independent of y)."""
    z, y = np.broadcast_arrays(_finite("z", z), _labels(y))
    return _compiled("bce_from_logits_second_derivative")(z, y)


def mse_from_logits(z, y) -> np.ndarray:
    r""":math:`\tfrac12(\sigma(z) - y)^2`."""
    return _compiled("mse_from_logits")(_finite("z", z), _labels(y))


def mse_from_logits_gradient(z, y) -> np.ndarray:
    r""":math:`\partial L/\partial z = (\sigma - y)\,\sigma(1-\sigma)`."""
    return _compiled("mse_from_logits_gradient")(_finite("z", z), _labels(y))


def mse_from_logits_second_derivative(z, y) -> np.ndarray:
    r""":math:`\sigma(1-\sigma)[\sigma(1-\sigma) + (\sigma - y)(1 - 2\sigma)]`."""
    return _compiled("mse_from_logits_second_derivative")(_finite("z", z), _labels(y))


# --------------------------------------------------------------------------- softmax


def softmax(z) -> np.ndarray:
    r""":math:`p_k = e^{z_k} / \sum_j e^{z_j}` over the last axis, shifted by the maximum."""
    z = _logits(z)
    shifted = np.exp(z - z.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(z, y) -> np.ndarray:
    r""":math:`\operatorname{lse}(z) - y^\top z = \sum_k y_k (m - z_k)
    + \operatorname{log1p}\big(\sum_{j \ne j^*} e^{z_j - m}\big)`.

    ``m`` is the largest logit, at class :math:`j^*`; every term is non-negative
    and the largest exponential (exactly 1) is kept out of the ``log1p``, so the
    loss is accurate to rounding both for logits of size :math:`10^{300}` and for
    losses as small as :math:`e^{-700}`. ``z`` has the classes on its last axis;
    ``y`` is one-hot or a probability vector per row.
    """
    z = _logits(z)
    y = _softmax_targets(y, z.shape[-1])
    top = np.argmax(z, axis=-1)[..., None]
    gaps = np.take_along_axis(z, top, axis=-1) - z
    others = np.exp(-gaps)
    np.put_along_axis(others, top, 0.0, axis=-1)
    return np.sum(y * gaps, axis=-1) + np.log1p(np.sum(others, axis=-1))


def softmax_cross_entropy_gradient(z, y) -> np.ndarray:
    r""":math:`\nabla_z L = \operatorname{softmax}(z) - y`."""
    z = _logits(z)
    return softmax(z) - _softmax_targets(y, z.shape[-1])


def softmax_cross_entropy_hessian(z) -> np.ndarray:
    r""":math:`\nabla_z^2 L = \operatorname{diag}(p) - p p^\top`, shape ``z.shape + (K,)``."""
    p = softmax(z)
    return p[..., :, None] * np.eye(p.shape[-1]) - p[..., :, None] * p[..., None, :]

r"""Independent computations the convexity checks compare with.

The reference losses are written by hand, straight from the textbook
definitions, with ``autograd.numpy`` (a drop-in NumPy that autograd can
differentiate), so the same function gives finite differences, exact autograd
Hessians and, in the report, a listing. They are deliberately naive (no
log-sum-exp shift), so they are used only at moderate arguments; at extreme
arguments the checks compare with :func:`mp_binary` / :func:`mp_softmax`,
evaluated by mpmath with 60 significant digits.

Probes
------
:func:`jensen_gaps` returns the gap between chord and curve,
:math:`t f(a) + (1-t) f(b) - f(t a + (1-t) b)`, for many random pairs: every gap
is :math:`\ge 0` for a convex function, and a negative gap is a witness of
non-convexity. :func:`second_difference` is the
central second difference :math:`(f(x+h) - 2f(x) + f(x-h))/h^2`.
"""

from __future__ import annotations

from collections.abc import Callable

import autograd.numpy as np
import mpmath
import numpy

# Second differences: truncation h^2 f''''/12 and rounding 4 eps |f| / h^2 balance
# near h = 1e-4, where both are below 1e-7 for the order-one functions tested.
SECOND_DIFFERENCE_STEP = 1e-4
MP_DIGITS = 60


# --------------------------------------------------------------------------- reference losses


def mse_vector_reference(prediction, target):
    return np.sum((prediction - target) ** 2) / 2


def bce_reference(p, y):
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def bce_logits_reference(z, y):
    return bce_reference(1 / (1 + np.exp(-z)), y)


def mse_logits_reference(z, y):
    return (1 / (1 + np.exp(-z)) - y) ** 2 / 2


def softmax_ce_reference(z, y):
    return np.log(np.sum(np.exp(z), axis=-1)) - np.sum(y * z, axis=-1)


def product_net_loss(theta, x, y):
    w1, w2 = theta
    return (w2 * w1 * x - y) ** 2 / 2


def relu_net_loss(theta, x, y):
    w1, w2, v1, v2 = theta
    return (v1 * np.maximum(w1 * x, 0) + v2 * np.maximum(w2 * x, 0) - y) ** 2 / 2


# --------------------------------------------------------------------------- probes


def second_difference(
    f: Callable[[numpy.ndarray], numpy.ndarray], x: numpy.ndarray, h: float = SECOND_DIFFERENCE_STEP
) -> numpy.ndarray:
    """Central second difference of an elementwise function ``f`` at every point of ``x``."""
    x = numpy.asarray(x, dtype=float)
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


def jensen_gaps(
    f: Callable[[numpy.ndarray], numpy.ndarray],
    a: numpy.ndarray,
    b: numpy.ndarray,
    t: numpy.ndarray,
) -> numpy.ndarray:
    r"""``t f(a) + (1-t) f(b) - f(t a + (1-t) b)`` for each pair (rows of ``a``, ``b``).

    ``f`` maps an array of points (points along the first axis) to their values;
    ``t`` has one weight per pair. Negative entries violate Jensen's inequality.
    """
    a = numpy.asarray(a, dtype=float)
    b = numpy.asarray(b, dtype=float)
    t = numpy.asarray(t, dtype=float)
    weight = t.reshape(t.shape + (1,) * (a.ndim - 1))
    return t * f(a) + (1 - t) * f(b) - f(weight * a + (1 - weight) * b)


def relative_to_exact(actual: numpy.ndarray, exact: numpy.ndarray) -> float:
    """Largest ``|a - e| / |e|``; values below the smallest normal float count as absolute."""
    actual = numpy.asarray(actual, dtype=float)
    exact = numpy.asarray(exact, dtype=float)
    floor = numpy.finfo(float).tiny
    return float(numpy.max(numpy.abs(actual - exact) / numpy.maximum(numpy.abs(exact), floor)))


# --------------------------------------------------------------------------- mpmath


def _mp_sigmoid(z: mpmath.mpf) -> mpmath.mpf:
    return 1 / (1 + mpmath.exp(-z))


def mp_binary(z: float, y: float) -> dict[str, float]:
    """The binary losses of a logit and their derivatives, by mpmath, rounded to float."""
    with mpmath.workdps(MP_DIGITS):
        z, y = mpmath.mpf(z), mpmath.mpf(y)
        p, q = _mp_sigmoid(z), _mp_sigmoid(-z)  # q = 1 - p without cancellation
        log_p, log_q = -mpmath.log1p(mpmath.exp(-z)), -mpmath.log1p(mpmath.exp(z))
        values = {
            "sigmoid": p,
            "bce_from_logits": -(y * log_p + (1 - y) * log_q),
            "bce_from_logits_gradient": p - y,
            "bce_from_logits_second_derivative": p * q,
            "mse_from_logits": (p - y) ** 2 / 2,
            "mse_from_logits_gradient": (p - y) * p * q,
            "mse_from_logits_second_derivative": p * q * (p * q + (p - y) * (q - p)),
        }
        return {name: float(value) for name, value in values.items()}


def mp_bce(p: float, y: float) -> dict[str, float]:
    """BCE in the probability and its derivatives, by mpmath."""
    with mpmath.workdps(MP_DIGITS):
        p, y = mpmath.mpf(p), mpmath.mpf(y)
        values = {
            "bce": -(y * mpmath.log(p) + (1 - y) * mpmath.log1p(-p)),
            "bce_gradient": -y / p + (1 - y) / (1 - p),
            "bce_second_derivative": y / p**2 + (1 - y) / (1 - p) ** 2,
        }
        return {name: float(value) for name, value in values.items()}


def _mp_exp(d: mpmath.mpf) -> mpmath.mpf:
    return mpmath.exp(d) if d > -10_000 else mpmath.mpf(0)


def mp_softmax(z: numpy.ndarray, y: numpy.ndarray) -> tuple[float, numpy.ndarray]:
    r"""Softmax cross-entropy of one row of logits and its gradient, by mpmath.

    Only differences of logits enter: the loss is
    :math:`\sum_k y_k \operatorname{log1p}(\sum_{j \ne k} e^{z_j - z_k})` (exact for
    targets summing to 1) and :math:`p_k = 1 / \sum_j e^{z_j - z_k}`. This keeps full
    relative accuracy even for losses as small as :math:`e^{-500}`. The working
    precision covers the bits of the largest logit, so each difference is exact.
    Terms :math:`e^{d}` with :math:`d < -10^4` are taken as 0: they are below
    :math:`10^{-4000}`, so they change no float64 result (and mpmath would spend
    most of its time on them).
    """
    digits = MP_DIGITS + int(numpy.log10(max(1.0, float(numpy.max(numpy.abs(z))))))
    with mpmath.workdps(digits):
        zs = [mpmath.mpf(float(v)) for v in z]
        ys = [mpmath.mpf(float(v)) for v in y]
        loss = mpmath.fsum(
            t * mpmath.log1p(mpmath.fsum(_mp_exp(zj - zk) for j, zj in enumerate(zs) if j != k))
            for k, (zk, t) in enumerate(zip(zs, ys, strict=True))
            if t != 0
        )
        gradient = [1 / mpmath.fsum(_mp_exp(zj - zk) for zj in zs) - t
                    for zk, t in zip(zs, ys, strict=True)]
        return float(loss), numpy.array([float(g) for g in gradient])

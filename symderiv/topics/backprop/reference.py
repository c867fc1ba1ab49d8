r"""Hand-written NumPy for the same network: the independent side of every check.

Nothing here comes from SymPy. :func:`batch_loss` is the forward pass written
once for NumPy and autograd alike (finite differences and autograd
differentiate it); :func:`reference_gradient` is backpropagation written by
hand, with the kink policy's :math:`H(0)` passed in as a number;
:func:`relu_mae_gradient` is the source's network written out straight, the
listing the report shows and the hand-written competitor in the benchmark. It
writes ``np.transpose(D)`` and ``np.transpose(D) @ ones`` rather than ``D.T`` and
``np.sum(D, axis=0)`` because latexify-py typesets the former as
:math:`D^\top` and :math:`D^\top \mathbf{1}`, while it prints the latter as
``D.T`` and as a sum that has lost its axis.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def activate(z, activation: str, alpha: float, xp=np):
    """The hidden activation, written without SymPy (``xp`` is numpy or autograd.numpy)."""
    if activation == "relu":
        return xp.maximum(z, 0.0)
    if activation == "leaky_relu":
        return xp.where(z > 0, z, alpha * z)
    if activation == "tanh":
        return xp.tanh(z)
    if activation == "sigmoid":
        return 0.5 * (1.0 + xp.tanh(0.5 * z))
    if activation == "identity":
        return z
    raise ValueError(activation)


def activation_slope(z, activation: str, alpha: float, step_at_zero: float):
    """The derivative of the activation, with ``step_at_zero`` used where z == 0."""
    if activation in ("relu", "leaky_relu"):
        low = alpha if activation == "leaky_relu" else 0.0
        step = np.where(z > 0, 1.0, np.where(z < 0, 0.0, step_at_zero))
        return low + (1.0 - low) * step
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "sigmoid":
        s = 0.5 * (1.0 + np.tanh(0.5 * z))
        return s * (1.0 - s)
    if activation == "identity":
        return np.ones_like(z)
    raise ValueError(activation)


def per_output_loss(out, y, loss: str, xp=np):
    """The loss of each output entry; bce in the usual overflow-free form."""
    if loss == "mae":
        return xp.abs(out - y)
    if loss == "mse":
        return (out - y) ** 2
    if loss == "bce":
        return xp.maximum(out, 0.0) - out * y + xp.log1p(xp.exp(-xp.abs(out)))
    raise ValueError(loss)


def per_output_slope(out, y, loss: str):
    """The derivative of :func:`per_output_loss` with respect to ``out`` (sign(0) = 0)."""
    if loss == "mae":
        return np.sign(out - y)
    if loss == "mse":
        return 2.0 * (out - y)
    if loss == "bce":
        return 0.5 * (1.0 + np.tanh(0.5 * out)) - y
    raise ValueError(loss)


def batch_loss(params: Mapping[str, np.ndarray], X, Y, activation: str, loss: str,
               alpha: float = 0.01, xp=np):
    """The mean loss over samples and outputs; ``Y`` has shape (N, out)."""
    depth = len(params) // 2
    a = X
    for layer in range(1, depth + 1):
        z = a @ params[f"W{layer}"].T + params[f"b{layer}"]
        a = z if layer == depth else activate(z, activation, alpha, xp)
    return xp.mean(per_output_loss(a, Y, loss, xp))


def reference_gradient(params: Mapping[str, np.ndarray], X, Y, activation: str, loss: str,
                       alpha: float = 0.01, step_at_zero: float = 0.0) -> dict[str, np.ndarray]:
    """Backpropagation by hand for the batch; the same dictionary as ``gradient_function``."""
    depth = len(params) // 2
    inputs, pre = [X], []
    for layer in range(1, depth + 1):
        z = inputs[-1] @ params[f"W{layer}"].T + params[f"b{layer}"]
        pre.append(z)
        inputs.append(activate(z, activation, alpha))
    out = pre[-1]
    delta = per_output_slope(out, Y, loss) / out.size
    grads = {}
    for layer in range(depth, 0, -1):
        grads[f"W{layer}"] = delta.T @ inputs[layer - 1]
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            slope = activation_slope(pre[layer - 2], activation, alpha, step_at_zero)
            delta = (delta @ params[f"W{layer}"]) * slope
    return {name: grads[name] for name in sorted(grads, key=lambda k: (int(k[1:]), k[0]))}


def relu_mae_gradient(X, y, W1, b1, W2, b2):
    Z1 = X @ np.transpose(W1) + b1
    A1 = np.maximum(Z1, 0)
    Z2 = A1 @ np.transpose(W2) + b2
    D2 = np.sign(Z2 - y) / len(X)
    D1 = np.multiply(D2 @ W2, np.heaviside(Z1, 0))
    ones = np.ones(len(X))
    return (np.transpose(D1) @ X, np.transpose(D1) @ ones,
            np.transpose(D2) @ A1, np.transpose(D2) @ ones)

"""Hand-written reference normalizations: the independent side of every numeric check.

These functions are written directly from the textbook definitions with
``mean``/``var`` over explicit axes and share no code or formula with the
generated kernels in :mod:`symderiv.topics.normalization.kernels`. They are
straight-line code so that the report can show them through latexify-py;
:func:`group_norm_reference`, which the report typesets, passes its axes
positionally because latexify-py leaves keyword arguments out.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np


def group_norm_reference(x, groups, gamma, beta, eps):
    grouped = np.reshape(x, (x.shape[0], groups, -1))
    mean = np.expand_dims(np.mean(grouped, 2), 2)
    variance = np.expand_dims(np.var(grouped, 2), 2)
    normalized = np.reshape((grouped - mean) / np.sqrt(variance + eps), x.shape)
    scale = np.reshape(gamma, (1, -1, 1))
    shift = np.reshape(beta, (1, -1, 1))
    return normalized * scale + shift


def batch_norm_reference(x, gamma, beta, eps):
    columns = np.reshape(x, (x.shape[0], x.shape[1], -1))
    mean = np.mean(columns, axis=(0, 2), keepdims=True)
    variance = np.var(columns, axis=(0, 2), keepdims=True)
    normalized = np.reshape((columns - mean) / np.sqrt(variance + eps), x.shape)
    return normalized * np.reshape(gamma, (1, -1, 1)) + np.reshape(beta, (1, -1, 1))


def batch_norm_running_reference(x, gamma, beta, running_mean, running_var, eps):
    """Batch norm at test time: the running statistics replace the batch's own."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = np.reshape(running_mean, shape)
    std = np.sqrt(np.reshape(running_var, shape) + eps)
    return (x - mean) / std * np.reshape(gamma, shape) + np.reshape(beta, shape)


def flatten_spatial(x):
    """(N, C, *spatial) -> (N, C, S), the layout the references expect."""
    return np.reshape(x, (x.shape[0], x.shape[1], -1))


def group_norm_loss(x, gamma, beta, weights, groups, eps):
    """sum(weights * GN(x)) in autograd.numpy, for the autograd comparison."""
    grouped = anp.reshape(x, (x.shape[0], groups, -1))
    mean = anp.mean(grouped, axis=2, keepdims=True)
    variance = anp.mean((grouped - mean) ** 2, axis=2, keepdims=True)
    normalized = anp.reshape((grouped - mean) / anp.sqrt(variance + eps), x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = normalized * anp.reshape(gamma, shape) + anp.reshape(beta, shape)
    return anp.sum(weights * y)


def layer_norm_reference(x, eps):
    """Layer norm without affine, over every axis but the first of (N, C, S)."""
    mean = np.mean(x, axis=(1, 2), keepdims=True)
    variance = np.var(x, axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(variance + eps)


def instance_norm_reference(x, eps):
    """Instance norm without affine, over the last axis of (N, C, S)."""
    mean = np.mean(x, axis=2, keepdims=True)
    variance = np.var(x, axis=2, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps)

r"""Vectorised NumPy normalization, generated from the derived per-set formulas.

The per-set coefficients (mean, :math:`1/\sqrt{\sigma^2+\epsilon}`, and the three
coefficients of the backward pass) are lambdified from
:func:`symderiv.topics.normalization.spec.kernel_formulas`; what is written
here by hand is only *where* the sums run (the reduced axes) and how the
whole-tensor passes are ordered to save memory traffic:

* statistics take one pass over each block: :math:`\sum x` and :math:`\sum x^2`
  are BLAS products (``@``/``matmul``) while the block is in cache, and the
  variance is :math:`E[x^2] - \mu^2` (its formula is derived, too). That
  formula amplifies rounding by :math:`1 + \mu^2/\sigma^2`, so any set whose
  mean is large against its spread (more than ``CANCELLATION_BITS`` = 4 bits
  lost) is recomputed two-pass from centred values; typical activations never
  take that path, inputs such as raw pixel values do, and stay accurate;
* outputs are affine in the input, :math:`y = a x + b` per channel and set, so
  they take two in-place passes over the block (multiply into the output,
  then add); the backward pass is affine in :math:`\partial L/\partial y` and
  :math:`x` and takes four;
* group norm walks the (N*G, C/G, spatial) view in blocks of whole groups
  of about ``BLOCK_BYTES``, so that the passes after the first read hit the
  cache (every operation inside a block is vectorised over its groups);
* the input dtype (float32 or float64) is kept throughout; float16 is computed in
  float32 and the results are rounded back to float16; other dtypes are converted
  to float64;
* a set whose sum of squares overflows (values beyond about :math:`10^{154}` in
  float64) is redone after an exact rescaling by a power of two
  (:func:`_rescaled_forward`, :func:`_rescaled_backward`).
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from symderiv.errors import InputError
from symderiv.numeric import lambdify_numpy

BLOCK_BYTES = 1 << 20
# Large tensors use one thread per core, each given at least this many blocks.
_WORKERS = min(os.cpu_count() or 1, 8)
_MIN_BLOCKS_PER_WORKER = 8


@functools.cache
def _kernels() -> dict:
    from symderiv.topics.normalization.spec import kernel_formulas

    return {name: lambdify_numpy(args, expr) for name, (args, expr) in kernel_formulas().items()}


# --------------------------------------------------------------------------- validation


def _divisors(value: int) -> str:
    return ", ".join(str(d) for d in range(1, value + 1) if value % d == 0)


def _as_float_array(x, name: str = "x") -> np.ndarray:
    """float32 and float64 pass through; float16 is computed in float32 (the public
    functions round the results back to float16); integers and booleans become float64."""
    array = np.asarray(x)
    if array.dtype.kind == "c" or array.dtype.kind not in "biuf":
        raise InputError(
            f"{name} has dtype {array.dtype}; normalization needs real numbers "
            "(float16, float32 or float64)"
        )
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return array


def _like_input(x, *results):
    """Round ``results`` back to float16 when the input ``x`` was float16."""
    if getattr(x, "dtype", None) != np.float16:
        return results if len(results) > 1 else results[0]
    rounded = tuple(r.astype(np.float16) for r in results)
    return rounded if len(rounded) > 1 else rounded[0]


def _check_input(x, eps: float) -> np.ndarray:
    array = _as_float_array(x)
    if array.ndim < 2:
        raise InputError(
            f"x has shape {array.shape}, but normalization needs at least 2 dimensions "
            "(N, C, *spatial); add a batch axis, for example x[None]"
        )
    if (isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating))
            or not 0 < eps < math.inf):
        raise InputError(
            f"eps={eps!r} is not allowed; eps must be a positive finite number (it keeps "
            "the square root away from 0 for constant sets), for example eps=1e-5"
        )
    return array


def _check_groups(groups, channels: int) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise InputError(
            f"groups={groups!r} is not allowed; groups must be a positive integer "
            f"that divides channels={channels}: {_divisors(channels)}"
        )
    if channels % groups:
        raise InputError(
            f"groups={groups} does not divide channels={channels}; "
            f"choose a divisor of {channels}: {_divisors(channels)}"
        )
    return int(groups)


def _affine(value, name: str, channels: int, dtype, fill: float) -> np.ndarray:
    if value is None:
        return np.full(channels, fill, dtype=dtype)
    array = _as_float_array(value, name)
    if array.shape != (channels,):
        raise InputError(
            f"{name} has shape {array.shape}, expected ({channels},): one value per "
            f"channel of x"
        )
    return array.astype(dtype, copy=False)


def _check_like(grad_out, x: np.ndarray) -> np.ndarray:
    array = _as_float_array(grad_out, "grad_out")
    if array.shape != x.shape:
        raise InputError(
            f"grad_out has shape {array.shape}, expected the shape of x {x.shape}"
        )
    return array.astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- forward

# 1 + mu^2/sigma^2 is the factor by which the one-pass variance amplifies the
# rounding error of sum(x^2); above 2**CANCELLATION_BITS the set is recomputed
# two-pass, so at most that many bits are lost.
CANCELLATION_BITS = 4


def _block_statistics(
    flat: np.ndarray, size: int, ones: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and biased variance of each row of ``flat`` (rows, m), and the two-pass rows.

    Both sums are BLAS products over the block while it is in cache; rows whose
    mean is large against their spread are redone from centred values.
    """
    kernels = _kernels()
    dtype = flat.dtype
    # Values beyond about 1e154 (float64) overflow the squares; the variance is then inf or
    # NaN, and the caller redoes those sets rescaled (see _rescaled_forward).
    with np.errstate(over="ignore", invalid="ignore"):
        sums = flat @ ones
        squares = np.matmul(flat[:, None, :], flat[:, :, None])[:, 0, 0]
        mean = kernels["mean"](sums, size).astype(dtype, copy=False)
        variance = kernels["variance_one_pass"](sums, squares, size).astype(dtype, copy=False)
        two_pass = mean * mean >= (2.0 ** CANCELLATION_BITS - 1) * variance
    if two_pass.any():
        centred = flat[two_pass] - mean[two_pass, None]
        variance[two_pass] = kernels["variance"](np.einsum("rm,rm->r", centred, centred), size)
    return mean, variance, two_pass


def _over_blocks(rows: int, step: int, work) -> None:
    """Call ``work(start, stop)`` on consecutive blocks of ``step`` rows.

    Blocks are independent (disjoint rows in and out) and NumPy releases the
    GIL inside its loops and BLAS calls, so a large tensor is cut into one
    contiguous run of blocks per core; the result is the same bit for bit.
    """
    starts = range(0, rows, step)
    workers = min(_WORKERS, len(starts) // _MIN_BLOCKS_PER_WORKER)
    if workers <= 1:
        for start in starts:
            work(start, min(start + step, rows))
        return
    cuts = [starts[len(starts) * i // workers] for i in range(workers)] + [rows]

    def run(span: int) -> None:
        for start in range(cuts[span], cuts[span + 1], step):
            work(start, min(start + step, cuts[span + 1]))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, range(workers)))


def _grouped_forward(x: np.ndarray, groups: int, gamma, beta, eps: float) -> np.ndarray:
    """Normalize each (sample, group) set of ``x`` (N, C, *spatial) and apply the affine map."""
    kernels = _kernels()
    batch, channels = x.shape[:2]
    dtype = x.dtype
    gamma = _affine(gamma, "gamma", channels, dtype, 1.0)
    beta = _affine(beta, "beta", channels, dtype, 0.0)
    per_group = channels // groups
    rows = x.reshape(batch * groups, per_group, math.prod(x.shape[2:]))
    out = np.empty(rows.shape, dtype=dtype)
    if out.size == 0:
        return out.reshape(x.shape)
    size = per_group * rows.shape[2]
    gamma_rows = np.tile(gamma.reshape(groups, per_group), (batch, 1))
    beta_rows = np.tile(beta.reshape(groups, per_group), (batch, 1))
    ones = np.ones(size, dtype=dtype)
    eps_t = dtype.type(eps)
    step = max(1, BLOCK_BYTES // (size * dtype.itemsize))

    def normalize(start: int, stop: int) -> None:
        block, target = rows[start:stop], out[start:stop]
        mean, variance, _ = _block_statistics(block.reshape(len(block), -1), size, ones)
        inv_std = kernels["inv_std"](variance, eps_t).astype(dtype, copy=False)
        scale = gamma_rows[start:stop] * inv_std[:, None]
        # y = gamma (x - mu) / s + beta = scale * x + (beta - scale * mu)
        np.multiply(block, scale[:, :, None], out=target)
        target += (beta_rows[start:stop] - scale * mean[:, None])[:, :, None]
        overflowed = ~np.isfinite(variance)
        if overflowed.any():
            _rescaled_forward(block, target, overflowed, gamma_rows[start:stop],
                              beta_rows[start:stop], eps, size, ones)

    _over_blocks(rows.shape[0], step, normalize)
    return out.reshape(x.shape)


def _rescaled_forward(block, target, overflowed, gamma_rows, beta_rows, eps, size, ones):
    r"""Redo the sets whose sum of squares overflowed (values beyond about :math:`10^{154}`).

    Normalization is invariant under :math:`x \to x/s` with :math:`\epsilon \to \epsilon/s^2`.
    With :math:`s` the power of two at or above :math:`\max|x|` the division is exact and
    the rescaled values lie in :math:`[-1, 1]`, where nothing overflows. Sets holding an
    infinite or NaN value stay non-finite. Only these rare sets pay for the extra pass.
    """
    kernels = _kernels()
    dtype = block.dtype
    peak = np.max(np.abs(block[overflowed]).reshape(int(overflowed.sum()), -1), axis=1)
    finite = np.isfinite(peak)
    rows = np.flatnonzero(overflowed)[finite]
    if rows.size == 0:
        return
    # peak < 2^e, so x / 2^(e-1) lies in [-2, 2]; 2^(e-1) stays finite even for the largest float
    scale_of = np.ldexp(dtype.type(1), np.frexp(peak[finite])[1] - 1).astype(dtype)
    scaled = block[rows] / scale_of[:, None, None]
    mean, variance, _ = _block_statistics(scaled.reshape(len(rows), -1), size, ones)
    tiny = np.finfo(dtype).tiny
    small_eps = np.maximum(dtype.type(eps) / scale_of / scale_of, tiny).astype(dtype)
    inv_std = kernels["inv_std"](variance, small_eps).astype(dtype, copy=False)
    scale = gamma_rows[rows] * inv_std[:, None]
    target[rows] = scaled * scale[:, :, None] + (beta_rows[rows] - scale * mean[:, None])[:, :, None]



def _rescaled_backward(block, grad, target, overflowed, gamma_rows, dy_xhat, eps) -> None:
    r"""Redo the backward pass of the sets whose sum of squares overflowed.

    With :math:`x = s x'` and :math:`\epsilon = s^2 \epsilon'` the output is unchanged, so
    :math:`\partial L/\partial x = s^{-1}\,\partial L/\partial x'` and the sums behind
    :math:`\partial L/\partial\gamma` (of :math:`\partial L/\partial y\,\hat x`) are the
    same. Each such set is one group-norm problem with one group, done on its own (a
    loop over the rare overflowing sets only); sets with infinite or NaN values are left.
    """
    dtype = block.dtype
    tiny = np.finfo(dtype).tiny
    for row in np.flatnonzero(overflowed):
        peak = np.max(np.abs(block[row]))
        if not np.isfinite(peak):
            continue
        scale = np.ldexp(dtype.type(1), np.frexp(peak)[1] - 1)
        small_eps = max(float(dtype.type(eps) / scale / scale), float(tiny))
        dx, dgamma, _ = group_norm_backward(block[row][None] / scale, grad[row][None], 1,
                                            gamma_rows[row], small_eps)
        target[row] = dx[0] / scale
        dy_xhat[row] = dgamma


def group_norm(x, groups, gamma=None, beta=None, eps=1e-5):
    r"""Group normalization of ``x`` with shape (N, C, *spatial).

    .. math:: y_{n,c,\dots} = \gamma_c \frac{x_{n,c,\dots} - \mu_{n,g}}
              {\sqrt{\sigma^2_{n,g} + \epsilon}} + \beta_c,\qquad g = \lfloor c G / C \rfloor,

    with the mean and biased variance over the C/G channels of group g and all
    spatial positions of sample n. ``gamma``/``beta`` have shape (C,) (default
    1 and 0). float32 input gives float32 output, float16 input float16 output
    (computed in float32).

    Example::

        >>> group_norm(np.arange(8.0).reshape(1, 4, 2), groups=2).round(3)[0, 0]
        array([-1.342, -0.447])
    """
    array = _check_input(x, eps)
    groups = _check_groups(groups, array.shape[1])
    return _like_input(x, _grouped_forward(array, groups, gamma, beta, eps))


def layer_norm(x, gamma=None, beta=None, eps=1e-5):
    """Layer normalization over (C, *spatial) of each sample: group norm with one group."""
    array = _check_input(x, eps)
    return _like_input(x, _grouped_forward(array, 1, gamma, beta, eps))


def instance_norm(x, gamma=None, beta=None, eps=1e-5):
    """Instance normalization over the spatial axes of each (sample, channel)."""
    array = _check_input(x, eps)
    return _like_input(x, _grouped_forward(array, array.shape[1], gamma, beta, eps))


def batch_norm(x, gamma=None, beta=None, eps=1e-5, running_mean=None, running_var=None):
    r"""Batch normalization of ``x`` (N, C, *spatial) over (N, *spatial) per channel.

    In training mode (no running statistics) the batch mean and biased variance
    are used. Given ``running_mean`` and ``running_var`` (shape (C,), the
    variance being the unbiased estimate), they replace the batch statistics,
    as at test time.
    """
    array = _check_input(x, eps)
    kernels = _kernels()
    batch, channels = array.shape[:2]
    dtype = array.dtype
    gamma = _affine(gamma, "gamma", channels, dtype, 1.0)
    beta = _affine(beta, "beta", channels, dtype, 0.0)
    columns = array.reshape(batch, channels, -1)
    if (running_mean is None) != (running_var is None):
        raise InputError(
            "give both running_mean and running_var (test time) or neither (training)"
        )
    if running_mean is not None:
        mean = _affine(running_mean, "running_mean", channels, dtype, 0.0)
        variance = _affine(running_var, "running_var", channels, dtype, 1.0)
        if not np.all(variance >= 0):
            raise InputError(
                "running_var has negative or NaN entries; it must hold the running (unbiased) "
                "variance of each channel, which is >= 0"
            )
        out = np.subtract(columns, mean[None, :, None])
    else:
        size = batch * columns.shape[2]
        if size == 0:
            return np.empty_like(array)
        mean = kernels["mean"](columns.sum(axis=(0, 2)), size).astype(dtype, copy=False)
        out = np.subtract(columns, mean[None, :, None])
        variance = kernels["variance"](np.einsum("ncs,ncs->c", out, out), size)
    inv_std = kernels["inv_std"](variance, dtype.type(eps)).astype(dtype, copy=False)
    out *= (gamma * inv_std)[None, :, None]
    out += beta[None, :, None]
    return _like_input(x, out.reshape(array.shape))


# --------------------------------------------------------------------------- backward


def group_norm_backward(x, grad_out, groups, gamma=None, eps=1e-5):
    r"""Gradients of a loss through :func:`group_norm`: returns (dx, dgamma, dbeta).

    With :math:`\hat g = \gamma_c\,\partial L/\partial y` and :math:`s = \sqrt{\sigma^2+\epsilon}`
    per group,

    .. math:: \frac{\partial L}{\partial x_i} = \frac{1}{s}\Big(\hat g_i - \overline{\hat g}
              - \hat x_i\,\overline{\hat g\,\hat x}\Big),\quad
              \frac{\partial L}{\partial \gamma_c} = \sum_{n,\dots}
              \frac{\partial L}{\partial y}\hat x,\quad
              \frac{\partial L}{\partial \beta_c} = \sum_{n,\dots} \frac{\partial L}{\partial y}.

    ``gamma`` defaults to ones; dgamma and dbeta have shape (C,).
    """
    array = _check_input(x, eps)
    groups = _check_groups(groups, array.shape[1])
    upstream = _check_like(grad_out, array)
    kernels = _kernels()
    batch, channels = array.shape[:2]
    dtype = array.dtype
    gamma = _affine(gamma, "gamma", channels, dtype, 1.0)
    per_group = channels // groups
    rows = array.reshape(batch * groups, per_group, math.prod(array.shape[2:]))
    grads = upstream.reshape(rows.shape)
    dx = np.empty(rows.shape, dtype=dtype)
    sum_dy = np.zeros((batch * groups, per_group), dtype=dtype)
    sum_dy_xhat = np.zeros((batch * groups, per_group), dtype=dtype)
    if dx.size == 0:
        return _like_input(x, dx.reshape(array.shape), np.zeros_like(gamma), np.zeros_like(gamma))
    spatial = rows.shape[2]
    size = per_group * spatial
    gamma_rows = np.tile(gamma.reshape(groups, per_group), (batch, 1))
    ones, ones_spatial = np.ones(size, dtype=dtype), np.ones(spatial, dtype=dtype)
    eps_t = dtype.type(eps)
    step = max(1, BLOCK_BYTES // (size * dtype.itemsize))

    def differentiate(start: int, stop: int) -> None:
        block, grad, target = rows[start:stop], grads[start:stop], dx[start:stop]
        count = stop - start
        mean, variance, two_pass = _block_statistics(block.reshape(count, -1), size, ones)
        pairs = count * per_group
        channel_dy = (grad.reshape(pairs, spatial) @ ones_spatial).reshape(count, per_group)
        # sum over positions of dy * (x - mu), per (group row, channel)
        channel_dy_xc = np.matmul(
            grad.reshape(pairs, 1, spatial), block.reshape(pairs, spatial, 1)
        ).reshape(count, per_group) - mean[:, None] * channel_dy
        if two_pass.any():
            centred = block[two_pass] - mean[two_pass, None, None]
            channel_dy_xc[two_pass] = np.einsum("rks,rks->rk", grad[two_pass], centred)
        gam = gamma_rows[start:stop]
        inv_std = kernels["inv_std"](variance, eps_t).astype(dtype, copy=False)
        sum_dy[start:stop] = channel_dy
        sum_dy_xhat[start:stop] = channel_dy_xc * inv_std[:, None]
        coef_centred = kernels["backward_centred"](
            (gam * channel_dy_xc).sum(axis=1), variance, eps_t, size).astype(dtype, copy=False)
        coef_const = kernels["backward_const"](
            (gam * channel_dy).sum(axis=1), variance, eps_t, size).astype(dtype, copy=False)
        coef_dy = gam * kernels["backward_dy"](variance, eps_t).astype(dtype, copy=False)[:, None]
        # dx = coef_dy * dy + coef_centred * (x - mu) + coef_const
        np.multiply(block, coef_centred[:, None, None], out=target)
        target += (coef_const - coef_centred * mean)[:, None, None]
        target += np.multiply(grad, coef_dy[:, :, None])
        overflowed = ~np.isfinite(variance)
        if overflowed.any():
            _rescaled_backward(block, grad, target, overflowed, gam,
                               sum_dy_xhat[start:stop], eps)

    _over_blocks(rows.shape[0], step, differentiate)
    dgamma = sum_dy_xhat.reshape(batch, channels).sum(axis=0)
    dbeta = sum_dy.reshape(batch, channels).sum(axis=0)
    return _like_input(x, dx.reshape(array.shape), dgamma, dbeta)

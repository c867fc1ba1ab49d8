r"""The checks of the backprop derivation, each against a computation that shares no code with it.

Every check takes the gradient under test as an argument (by default the one
:func:`~symderiv.topics.backprop.generated.gradient_function` generates), so the
tests can hand in a deliberately wrong gradient and watch the check fail.

* finite differences of the hand-written loss :func:`batch_loss`;
* reverse-mode differentiation of the same loss by the ``autograd`` package;
* hand-written backpropagation :func:`reference_gradient`;
* at kinks built on purpose, one-sided differences: the value must lie
  between them and be the one the kink policy picks;
* the exact, symbolic comparison of the matrix formulas with the derivatives
  of the scalar loss (:mod:`symderiv.topics.backprop.elementwise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from symderiv.derivation import Measurement
from symderiv.notation import latex_number
from symderiv.numeric import (
    FD_STEP,
    central_difference_gradient,
    distance_to_interval,
    one_sided_differences,
    relative_error,
    rng,
)
from symderiv.topics.backprop.reference import batch_loss, reference_gradient, relu_mae_gradient

#: Above this many parameters, finite differences and the symbolic proof use a sample of entries.
FULL_CHECK_PARAMETERS = 400
SAMPLED_ENTRIES = 64
BATCH_SIZE = 5
#: Weights checked through a kink: the first this many columns of the kinked row.
KINK_COLUMNS = 16


@dataclass(frozen=True)
class Setting:
    """What the gradient under test was derived for."""

    widths: tuple[int, ...]
    activation: str
    loss: str
    alpha: float
    step_at_zero: float
    kink: str = "zero"

    @property
    def parameter_count(self) -> int:
        return sum(self.widths[l] * (self.widths[l - 1] + 1) for l in range(1, len(self.widths)))


def random_problem(setting: Setting, seed: int, samples: int = BATCH_SIZE):
    """Seeded parameters (He-like scale), inputs and targets (see :func:`kink_margin`)."""
    generator = rng(seed)
    widths = setting.widths
    params = {}
    for layer in range(1, len(widths)):
        params[f"W{layer}"] = generator.normal(0, np.sqrt(2 / widths[layer - 1]),
                                               (widths[layer], widths[layer - 1]))
        params[f"b{layer}"] = generator.normal(0, 0.5, widths[layer])
    X = generator.normal(0, 1, (samples, widths[0]))
    if setting.loss == "bce":
        Y = generator.uniform(0, 1, (samples, widths[-1]))
    else:
        Y = generator.normal(0, 1, (samples, widths[-1]))
    return params, X, Y


def _flat_loss(setting: Setting, params, X, Y, name: str):
    def loss(value):
        trial = dict(params)
        trial[name] = value
        return float(batch_loss(trial, X, Y, setting.activation, setting.loss, setting.alpha))
    return loss


def _sampled_indices(shape, generator, count):
    size = int(np.prod(shape))
    chosen = np.sort(generator.choice(size, size=min(count, size), replace=False))
    return [np.unravel_index(i, shape) for i in chosen]


#: A difference quotient with step h moves a pre-activation by about h times an input of
#: order one (|x| < 5 here); a kink this many steps away cannot be reached.
KINK_MARGIN_STEPS = 100


def kink_margin(setting: Setting, params, X, Y) -> float:
    """How close the batch comes to a kink: the smallest kinked pre-activation or residual.

    ``inf`` when neither the activation nor the loss has a kink.
    """
    from symderiv.topics.backprop.functions import ACTIVATIONS, LOSSES
    from symderiv.topics.backprop.reference import activate

    depth = len(setting.widths) - 1
    margin, a = np.inf, X
    for layer in range(1, depth + 1):
        z = a @ params[f"W{layer}"].T + params[f"b{layer}"]
        if layer < depth and ACTIVATIONS[setting.activation].kinked:
            margin = min(margin, float(np.min(np.abs(z))))
        a = z if layer == depth else activate(z, setting.activation, setting.alpha)
    if LOSSES[setting.loss].kinked:
        margin = min(margin, float(np.min(np.abs(a - Y))))
    return margin


def _clear_shifts(z: np.ndarray, margin: float) -> np.ndarray:
    """Per column of ``z``, the smallest shift that leaves every entry at least ``margin`` from 0."""
    shifts = np.zeros(z.shape[1])
    for unit in np.flatnonzero(np.any(np.abs(z) < margin, axis=0)):
        column = z[:, unit]
        candidates = np.concatenate([-column - 2 * margin, -column + 2 * margin])
        clear = np.all(np.abs(column[None, :] + candidates[:, None]) >= margin, axis=1)
        allowed = candidates[clear]
        shifts[unit] = allowed[np.argmin(np.abs(allowed))]
    return shifts


def clear_of_kinks(setting: Setting, params, X, Y, margin: float):
    r"""The point moved, deterministically and as little as needed, at least ``margin`` off kinks.

    Layer by layer, a hidden bias :math:`b^{(l)}_i` whose pre-activation comes within
    ``margin`` of the kink for some sample is shifted by the smallest amount that clears
    all samples (at most a few ``margin``); a target whose residual is that close is
    moved away from the output. A wide layer has so many pre-activations that some
    always lie within :math:`10^{-4}` of 0 (100\,000 units give a nearest one near
    :math:`10^{-6}`), so drawing another seed would not help. Returns the new
    parameters and targets and the largest shift.
    """
    from symderiv.topics.backprop.functions import ACTIVATIONS, LOSSES
    from symderiv.topics.backprop.reference import activate

    params, Y = dict(params), np.array(Y, dtype=float)
    depth = len(setting.widths) - 1
    moved, a = 0.0, X
    for layer in range(1, depth + 1):
        z = a @ params[f"W{layer}"].T + params[f"b{layer}"]
        if layer < depth and ACTIVATIONS[setting.activation].kinked:
            shifts = _clear_shifts(z, margin)
            if np.any(shifts):
                params[f"b{layer}"] = params[f"b{layer}"] + shifts
                z = z + shifts
                moved = max(moved, float(np.max(np.abs(shifts))))
        a = z if layer == depth else activate(z, setting.activation, setting.alpha)
    if LOSSES[setting.loss].kinked:
        residual = a - Y
        close = np.abs(residual) < margin
        if np.any(close):
            away = np.where(residual[close] < 0, -1.0, 1.0) * 2 * margin
            moved = max(moved, float(np.max(np.abs(Y[close] - (a[close] - away)))))
            Y[close] = a[close] - away
    return params, Y, moved


def finite_difference_check(gradient: Callable, setting: Setting, seed: int = 1) -> Measurement:
    """Largest relative gap between ``gradient`` and central differences of the loss.

    Central differences are only valid away from kinks, so a seeded point within
    ``KINK_MARGIN_STEPS`` steps of one is first moved off it (:func:`clear_of_kinks`);
    the detail says by how much.
    """
    params, X, Y = random_problem(setting, seed)
    needed = KINK_MARGIN_STEPS * FD_STEP
    moved = 0.0
    if kink_margin(setting, params, X, Y) < needed:
        params, Y, moved = clear_of_kinks(setting, params, X, Y, needed)
    margin = kink_margin(setting, params, X, Y)
    if margin < needed:  # cannot happen for a point clear_of_kinks has moved
        return Measurement(np.inf, f"The seeded point lies {scientific(margin)} from a kink, "
                                   "too close for central differences.")
    grads = gradient(params, X, Y)
    worst, compared = 0.0, 0
    generator = rng(seed + 100)
    sample = setting.parameter_count > FULL_CHECK_PARAMETERS
    for name, value in params.items():
        loss = _flat_loss(setting, params, X, Y, name)
        if not sample:
            estimate = central_difference_gradient(loss, value)
            worst = max(worst, relative_error(grads[name], estimate))
            compared += value.size
            continue
        for index in _sampled_indices(value.shape, generator, SAMPLED_ENTRIES // len(params) + 1):
            left, right = one_sided_differences(loss, value, index)
            estimate = np.array([(left + right) / 2])
            worst = max(worst, relative_error(np.array([grads[name][index]]), estimate))
            compared += 1
    what = "sampled entries" if sample else "entries (all of them)"
    near = ("" if np.isinf(margin) else
            f" The nearest kink is {scientific(margin)} away in pre-activation, more than "
            f"{KINK_MARGIN_STEPS} steps.")
    if moved:
        near += (f" To get there, biases or targets that lay closer were moved by at most "
                 f"{scientific(moved)}.")
    return Measurement(worst, f"Compared {compared} {what} at a seeded random point, "
                              f"$N = {X.shape[0]}$ samples.{near}")


def autograd_check(gradient: Callable, setting: Setting, seed: int = 2) -> Measurement:
    """Largest relative gap between ``gradient`` and autograd's reverse mode."""
    import autograd
    import autograd.numpy as anp

    params, X, Y = random_problem(setting, seed)
    grads = gradient(params, X, Y)

    def loss(p):
        return batch_loss(p, X, Y, setting.activation, setting.loss, setting.alpha, xp=anp)

    expected = autograd.grad(loss)(params)
    worst = max(relative_error(grads[k], expected[k]) for k in params)
    return Measurement(worst, f"All {setting.parameter_count} entries, $N = {X.shape[0]}$.")


def reference_check(gradient: Callable, setting: Setting, seed: int = 3) -> Measurement:
    """Largest relative gap between ``gradient`` and hand-written backpropagation."""
    params, X, Y = random_problem(setting, seed)
    grads = gradient(params, X, Y)
    if source_network(setting):
        listed = relu_mae_gradient(X, Y, params["W1"], params["b1"], params["W2"], params["b2"])
        expected = dict(zip(("W1", "b1", "W2", "b2"), listed, strict=True))
        how = "the function \\texttt{relu\\_\\allowbreak mae\\_\\allowbreak gradient} listed above"
    else:
        expected = reference_gradient(params, X, Y, setting.activation, setting.loss,
                                      setting.alpha, setting.step_at_zero)
        how = "a hand-written loop over the layers"
    worst = max(relative_error(grads[k], expected[k]) for k in params)
    return Measurement(worst, f"Reference: {how}.")


def source_network(setting: Setting) -> bool:
    """The source's own network: one ReLU hidden layer, one output, MAE, ReLU'(0) = 0."""
    return (len(setting.widths) == 3 and setting.widths[-1] == 1 and setting.activation == "relu"
            and setting.loss == "mae" and setting.step_at_zero == 0)


# ------------------------------------------------------------------ kinks


def _dyadic(generator, shape, fan_in: int | None = None):
    r"""Multiples of 1/4 in [-2, 2]: sums and products of a few stay exact in float64.

    With ``fan_in`` the values are scaled by the power of two nearest to the He
    scale :math:`\sqrt{2/n}` divided by their own standard deviation
    :math:`\sqrt{3/2}`, so they stay exact while the activations of a deep network
    stay of order one (unscaled, ten layers of width 50 reach :math:`10^8`, and the
    rounding of a loss that large swamps a difference quotient with step
    :math:`10^{-6}`).
    """
    values = generator.integers(-8, 9, shape) / 4.0
    if fan_in is None:
        return values
    return values * 2.0 ** np.round(np.log2(np.sqrt(2 / fan_in) / np.sqrt(1.5)))


def _one_sided(loss, value, index, step: float = FD_STEP) -> tuple[float, float]:
    """Left and right derivatives, second-order accurate (Richardson on the helper's quotients)."""
    left_h, right_h = one_sided_differences(loss, value, index, step)
    left_2h, right_2h = one_sided_differences(loss, value, index, 2 * step)
    return 2 * left_h - left_2h, 2 * right_h - right_2h


def output_kink_problem(setting: Setting, seed: int = 4):
    r"""A batch whose first sample has :math:`z^{(L)}_1 = y_1` exactly.

    The first output row of :math:`W^{(L)}` is set to zero, which makes
    :math:`z^{(L)}_1 = b^{(L)}_1` exactly whatever order the code sums in and
    whatever the activation rounds (moving an entry of that row still moves
    :math:`z^{(L)}_1` through the kink).
    """
    generator = rng(seed)
    params, X, Y = random_problem(setting, seed)
    widths = setting.widths
    for name in params:
        fan_in = widths[int(name[1:]) - 1] if name.startswith("W") else None
        params[name] = _dyadic(generator, params[name].shape, fan_in)
    X[0] = np.abs(_dyadic(generator, widths[0])) + 0.25
    # Without rounding in the hidden layers (ReLU, identity, shallow) the forward pass of
    # dyadic numbers is exact, but deep networks need more bits than float64 has, and other
    # activations round; a zero first row makes z^(L)_1 = b^(L)_1 exactly in every case.
    params[f"W{len(widths) - 1}"][0] = 0.0
    out = _forward_outputs(setting, params, X[:1])
    Y[0, 0] = out[0, 0]
    return params, X, Y


def hidden_kink_problem(setting: Setting, seed: int = 5):
    r"""A batch whose first sample has :math:`z^{(1)}_1 = 0` exactly (positive inputs)."""
    generator = rng(seed)
    params, X, Y = random_problem(setting, seed)
    params["W1"] = _dyadic(generator, params["W1"].shape, setting.widths[0])
    X[0] = np.abs(_dyadic(generator, setting.widths[0])) + 0.25
    params["b1"][0] = -float(params["W1"][0] @ X[0])
    return params, X, Y


def output_kink_steps(setting: Setting, params, X, Y) -> dict[str, np.ndarray]:
    r"""Steps for the output kink that cross no other sample's kink of :math:`|u|`.

    Moving :math:`b^{(L)}_1` by :math:`t` moves every sample's residual
    :math:`z^{(L)}_1 - y_1` by :math:`t`, moving :math:`W^{(L)}_{1j}` moves sample
    :math:`s`'s by :math:`t\,a^{(L-1)}_{sj}`. The extrapolated one-sided quotients
    step up to :math:`2h`; ``h`` is ``FD_STEP`` unless that would bring another sample
    within half its distance of its own kink, in which case it is reduced to that.
    Returns the step of the bias (shape ``()``) and of each column of the row.
    """
    from symderiv.topics.backprop.reference import activate

    last = len(setting.widths) - 1
    hidden = X
    for layer in range(1, last):
        hidden = activate(hidden @ params[f"W{layer}"].T + params[f"b{layer}"],
                          setting.activation, setting.alpha)
    residuals = np.abs(_forward_outputs(setting, params, X)[1:, 0] - Y[1:, 0])
    if residuals.size == 0:
        return {}
    slack = residuals / 2 / 2  # half the distance, covered by a step of 2h
    moves = np.abs(hidden[1:])  # (samples - 1, inputs of layer L)
    with np.errstate(divide="ignore"):
        per_column = np.min(np.where(moves > 0, slack[:, None] / moves, np.inf), axis=0)
    return {f"b{last}": np.array(min(FD_STEP, float(np.min(slack)))),
            f"W{last}": np.minimum(FD_STEP, per_column)}


def _forward_outputs(setting, params, X):
    from symderiv.topics.backprop.reference import activate

    depth = len(params) // 2
    a = X
    for layer in range(1, depth + 1):
        z = a @ params[f"W{layer}"].T + params[f"b{layer}"]
        a = z if layer == depth else activate(z, setting.activation, setting.alpha)
    return a


def scientific(value: float) -> str:
    """``6.8e-11`` as LaTeX, ``$6.8\\times 10^{-11}$``; exact zero as ``$0$``."""
    return latex_number(value, fixed=None)


def expected_at_activation_kink(kink: str, left: float, right: float) -> float:
    """The value each kink policy promises for a (leaky) ReLU at 0, from the one-sided quotients.

    Written from the policies' definitions, not taken from :mod:`symderiv.kinks`, so a
    wrong number there shows up: ``half`` is the midpoint of the one-sided derivatives;
    ``zero`` and ``set`` take the inactive side, which is the left-hand quotient for the
    coordinates :func:`kink_check` moves (they push the kinked entry up).
    """
    if kink == "half":
        return (left + right) / 2
    if kink in ("zero", "set"):
        return left
    raise ValueError(f"no expected kink value for policy {kink!r}")


def kink_check(gradient: Callable, setting: Setting, where: str) -> Measurement:
    r"""At a kink, the value must lie between the one-sided derivatives and follow the policy.

    ``where="output"``: :math:`|u|` at :math:`u = 0`, whose value under every policy
    (sign 0 = 0) is the midpoint of the one-sided derivatives. ``where="hidden"``:
    the (leaky) ReLU at 0, whose value is :func:`expected_at_activation_kink` of the
    policy's name (never the policy object's own number). The coordinates checked
    move the kinked entry up as they increase: the bias, and the weights that
    meet positive inputs.
    """
    steps: dict[str, np.ndarray] = {}
    if where == "output":
        params, X, Y = output_kink_problem(setting)
        last = len(setting.widths) - 1
        names = (f"b{last}", f"W{last}")
        steps = output_kink_steps(setting, params, X, Y)
    else:
        params, X, Y = hidden_kink_problem(setting)
        names = ("b1", "W1")
    grads = gradient(params, X, Y)
    worst_outside = worst_policy = 0.0
    checked = 0
    for name in names:
        value = params[name]
        loss = _flat_loss(setting, params, X, Y, name)
        if name.startswith("b"):
            indices = [(0,)]
        else:
            indices = [(0, j) for j in range(min(value.shape[1], KINK_COLUMNS))]
        for index in indices:
            step = float(steps[name][index[1:]]) if name in steps else FD_STEP
            left, right = _one_sided(loss, value, index, step)
            got = float(grads[name][index])
            if where == "output":
                expected = (left + right) / 2
            else:
                expected = expected_at_activation_kink(setting.kink, left, right)
            scale = max(1.0, abs(left), abs(right))
            worst_outside = max(worst_outside, distance_to_interval(got, (left, right)) / scale)
            worst_policy = max(worst_policy, abs(got - expected) / scale)
            checked += 1
    depth = len(setting.widths) - 1
    entry = f"z^{{({depth})}}_1 = y_1" if where == "output" else "z^{(1)}_1 = 0"
    layer = names[0][1:]
    coordinates = (f"$b^{{({layer})}}_1$ and {checked - 1} entries of row 1 of "
                   f"$\\mathbf{{W}}^{{({layer})}}$")
    return Measurement(
        max(worst_outside, worst_policy),
        f"{checked} coordinates ({coordinates}) move through the kink at ${entry}$ for the "
        "first sample; "
        f"largest distance outside the one-sided interval {scientific(worst_outside)}, "
        f"largest gap to the policy's value {scientific(worst_policy)}.",
    )

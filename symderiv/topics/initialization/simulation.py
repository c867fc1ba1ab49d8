r"""Deep random networks at initialization: how second moments change with depth.

A network of depth :math:`L` with widths :math:`n_0, \dots, n_L` computes
:math:`z_l = a_{l-1} W_l^\top` (a batch of row vectors), :math:`a_l = \phi(z_l)`,
:math:`a_0 = x`. Its weights are drawn i.i.d. :math:`\mathcal{N}(0, \sigma_l^2)`.
We record, for every layer,

* the forward second moment :math:`q_l = \overline{z_l^2} / \overline{x^2}`
  (mean over the batch and the units), and
* the backward second moment :math:`g_l = \overline{\delta_l^2} / \overline{\delta_L^2}`
  of :math:`\delta_l = \partial \mathcal{L} / \partial z_l`, started from a
  standard normal :math:`\delta_L` and propagated by
  :math:`\delta_l = (\delta_{l+1} W_{l+1}) \odot \phi'(z_l)`.

Everything is vectorised over the batch: one matrix product per layer and pass.
All schemes share one seeded draw of standard normal matrices :math:`G_l` and
use :math:`W_l = \sigma_l G_l` (common random numbers), the same inputs and the
same output gradient, so the curves differ through the initialization alone.
For a positively homogeneous activation (ReLU, leaky ReLU) this makes the
curves of two constant scales exact rescalings of each other.

Example::

    >>> scheme = Scheme("He", "relu", (2 / 256,) * 50)
    >>> (profile,) = simulate((256,) * 51, (scheme,), batch=256, seed=0)
    >>> profile.forward.shape
    (50,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symderiv import numeric
from symderiv.derivation import Figure, LinePlot, Listing, Section, Step, Table
from symderiv.notation import latex_number

# Single precision halves the cost of the matrix products; second moments are
# accumulated in double precision, and 4/n at depth 100 (2^100) is far from overflow.
DTYPE = np.float32


@dataclass(frozen=True)
class Scheme:
    """One initialization to simulate: per-layer weight variances and an activation."""

    label: str
    activation: str
    variances: tuple[float, ...]
    alpha: float = 0.0
    input_scale: float = 1.0


@dataclass(frozen=True)
class Profile:
    """Per-layer second moments of one simulated network (layers 1..L)."""

    scheme: Scheme
    forward: np.ndarray
    backward: np.ndarray | None


def _activation(name: str, alpha: float):
    """The activation and its derivative (0 at the ReLU kink, as the frameworks use)."""
    if name == "relu":
        return (lambda z: np.maximum(z, 0.0)), (lambda z: (z > 0).astype(z.dtype))
    if name == "leaky_relu":
        return (
            lambda z: np.where(z > 0, z, z.dtype.type(alpha) * z),
            lambda z: np.where(z > 0, 1.0, alpha).astype(z.dtype),
        )
    if name == "tanh":
        return np.tanh, (lambda z: z.dtype.type(1.0) - np.tanh(z) ** 2)
    if name == "identity":
        return (lambda z: z), (lambda z: np.ones_like(z))
    raise ValueError(f"no simulation for activation {name!r}")


def relu_layer(activations, standard, sigma):
    pre_activations = sigma * (activations @ standard.T)
    second_moment = np.mean(pre_activations**2)
    return np.maximum(pre_activations, 0.0), second_moment


def _second_moment(values: np.ndarray) -> float:
    return float(np.mean(np.square(values), dtype=np.float64))


def simulate(
    widths: Sequence[int],
    schemes: Sequence[Scheme],
    batch: int,
    seed: int,
    backward: bool | Sequence[bool] = True,
) -> tuple[Profile, ...]:
    r"""Propagate one batch forward (and a gradient backward) through each scheme's network.

    The schemes share the draws :math:`G_l`, so one matrix product per layer and
    pass serves all of them: their activations are stacked along the batch and
    the product is scaled by each scheme's :math:`\sigma_l` afterwards.
    ``backward`` is one flag for all schemes or one per scheme; a scheme without
    the backward pass gets ``Profile.backward = None`` (and costs no products).
    """
    depth = len(widths) - 1
    for scheme in schemes:
        if len(scheme.variances) != depth:
            raise ValueError(f"{scheme.label}: {len(scheme.variances)} variances for depth {depth}")
    generator = numeric.rng(seed)
    inputs = generator.standard_normal((batch, widths[0]), dtype=DTYPE)
    upstream = generator.standard_normal((batch, widths[-1]), dtype=DTYPE)
    standard = [
        generator.standard_normal((widths[l + 1], widths[l]), dtype=DTYPE) for l in range(depth)
    ]
    count = len(schemes)
    wanted = [bool(backward)] * count if isinstance(backward, bool) else [bool(b) for b in backward]
    if len(wanted) != count:
        raise ValueError(f"{len(wanted)} backward flags for {count} schemes")
    chosen = [i for i in range(count) if wanted[i]]
    functions = [_activation(s.activation, s.alpha) for s in schemes]
    stds = np.sqrt(np.array([s.variances for s in schemes])).astype(DTYPE)[:, :, None, None]
    scales = np.array([s.input_scale for s in schemes], dtype=DTYPE)[:, None, None]
    activations = inputs[None] * scales
    reference = np.mean(np.square(activations), axis=(1, 2), dtype=np.float64)
    forward, slopes = np.empty((count, depth)), []
    for l, matrix in enumerate(standard):
        stacked = activations.reshape(count * batch, widths[l]) @ matrix.T
        pre = stacked.reshape(count, batch, widths[l + 1]) * stds[:, l]
        forward[:, l] = np.mean(np.square(pre), axis=(1, 2), dtype=np.float64) / reference
        if chosen:
            slopes.append(np.stack([functions[i][1](pre[i]) for i in chosen]))
        activations = np.stack([phi(z) for (phi, _), z in zip(functions, pre, strict=True)])
    gradients: list[np.ndarray | None] = [None] * count
    if chosen:
        some = len(chosen)
        chosen_stds = stds[chosen]
        delta = np.broadcast_to(upstream, (some, batch, widths[-1]))
        moments = np.empty((some, depth))
        moments[:, -1] = 1.0
        start = _second_moment(upstream)
        for l in range(depth - 2, -1, -1):
            stacked = delta.reshape(some * batch, widths[l + 2]) @ standard[l + 1]
            delta = stacked.reshape(some, batch, widths[l + 1]) * chosen_stds[:, l + 1] * slopes[l]
            moments[:, l] = np.mean(np.square(delta), axis=(1, 2), dtype=np.float64) / start
        for row, i in enumerate(chosen):
            gradients[i] = moments[row]
    return tuple(
        Profile(scheme, forward[i], gradients[i]) for i, scheme in enumerate(schemes)
    )


def per_layer_log_rate(values: np.ndarray) -> float:
    r"""The average per-layer change :math:`\log(v_L / v_1) / (L - 1)`."""
    return float(math.log(values[-1] / values[0]) / (len(values) - 1))


def log_spread(excess: float, width: int, layers: int) -> float:
    r"""Standard deviation of :math:`\log q_l` after ``layers`` layers.

    Each layer multiplies the second moment by an average of ``width``
    i.i.d. terms with relative variance :math:`\kappa` (``excess``), so
    :math:`\log q` performs a random walk with step variance :math:`\kappa/n`;
    the chi-square factor of the first and last pre-activation adds
    :math:`2/n` each.
    """
    return math.sqrt((excess * layers + 4.0) / width)


def widths_alternating(first: int, second: int, depth: int) -> tuple[int, ...]:
    """Widths n_0, ..., n_L alternating between ``first`` and ``second``."""
    return tuple(first if l % 2 == 0 else second for l in range(depth + 1))


# --------------------------------------------------------------------------- the report section


def _number(value: float) -> str:
    """Three significant digits in math mode, scientific outside [0.01, 1000)."""
    return latex_number(value, 3, fixed=(0.01, 1000))


def _evaluate(expr: sp.Expr, **values: float) -> float:
    symbols = {symbol.name: symbol for symbol in expr.free_symbols}
    return float(expr.subs({symbols[k]: v for k, v in values.items() if k in symbols}))


def simulation_section(
    results: dict, n_in: int, n_out: int, alpha: float, depth: int, width: int, batch: int,
    seed: int,
) -> tuple[list, list]:
    """Blocks and checks of the deep-network experiments (results must hold the factors)."""
    blocks, checks = _constant_width(results, alpha, depth, width, batch, seed)
    more_blocks, more_checks = _mismatched_widths(results, n_in, n_out, depth, batch, seed)
    return blocks + more_blocks, checks + more_checks


def _constant_width(results, alpha, depth, width, batch, seed):
    from symderiv.topics.initialization.theory import fluctuation_excess, weight_variance

    forward_factor = results["forward factor"]
    matched = _evaluate(results["sigma^2 matching Var[relu]"], n_in=width)
    he = float(weight_variance("he", width))
    specs = (
        (r"He, $\sigma^2 = 2/n$", "relu", he, 0.0),
        (r"$\sigma^2 = 1/n$", "relu", float(weight_variance("xavier", width, mode="fan_in")), 0.0),
        (r"$\sigma^2 = 4/n$", "relu", 2 * he, 0.0),
        (r"matching $\mathrm{Var}[a]$, $\sigma^2 = 2\pi/((\pi-1)n)$", "relu", matched, 0.0),
        (rf"leaky He, $\alpha = {alpha:g}$", "leaky_relu",
         float(weight_variance("he", width, alpha=alpha)), alpha),
    )
    schemes = tuple(Scheme(label, act, (var,) * depth, a) for label, act, var, a in specs)
    # Only the leaky scheme is also run backward: its slope alpha left of 0 enters the
    # gradient alone, and one backward pass of one scheme adds about a fifth to the cost.
    raw = simulate((width,) * (depth + 1), schemes, batch, seed,
                   backward=(False,) * (len(schemes) - 1) + (True,))
    leaky_backward = raw[-1].backward
    # The first layer sees the raw, centred input, not a ReLU output; measure from layer 1.
    profiles = tuple(Profile(p.scheme, p.forward / p.forward[0], None) for p in raw)
    factors = [
        _evaluate(forward_factor, n_in=width, sigma=math.sqrt(var), alpha=a)
        for _, _, var, a in specs
    ]
    leaky_backward_factor = _evaluate(results["backward factor"], n_out=width,
                                      sigma=math.sqrt(specs[-1][2]), alpha=alpha)
    excess = float(fluctuation_excess("relu"))
    from symderiv.topics.initialization.checks import band_check, depth_factor_check

    checks = [band_check(
        rf"He/ReLU: $q_l$ stays in its band (width {width})", profiles[0].forward, excess, width,
    )]
    # With shared draws the four ReLU scales are exact rescalings of one another
    # (positive homogeneity), so one check covers them; the leaky ReLU is separate.
    checks += [
        depth_factor_check(
            "per-layer factor: He, $1/n$, $4/n$ and variance-matched ReLU",
            [(p.scheme.label, p.forward, [f] * depth, [0] * depth)
             for p, f in zip(profiles[:4], factors[:4], strict=True)],
            "forward second moment",
        ),
        depth_factor_check(
            f"per-layer factor: {profiles[4].scheme.label}",
            [(profiles[4].scheme.label, profiles[4].forward, [factors[4]] * depth, [0] * depth)],
            "forward second moment",
        ),
        # g_L, g_{L-1}, ..., g_1: each ratio is one layer's backward factor
        depth_factor_check(
            f"per-layer backward factor: {profiles[4].scheme.label}",
            [(profiles[4].scheme.label, leaky_backward[::-1], [leaky_backward_factor] * depth,
              [0] * depth)],
            "backward second moment",
        ),
    ]
    rows = tuple(
        (p.scheme.label, _number(p.scheme.variances[0] * width), _number(f),
         _number(math.exp(per_layer_log_rate(p.forward))), _number(p.forward[-1]))
        for p, f in zip(profiles, factors, strict=True)
    )
    layers = tuple(float(l) for l in range(1, depth + 1))
    spread = log_spread(excess, width, depth - 1)
    blocks = [
        Section("A deep network at initialization"),
        Step(
            rf"We propagate a batch of {batch} standard normal inputs through ReLU networks of "
            rf"depth {depth} and width $n = {width}$ (seed {seed}). All schemes share one draw "
            r"of standard normal matrices $G_l$ and use $\mathbf{W}^{(l)} = \sigma G_l$, so the "
            r"curves differ through $\sigma$ alone. Figure~\ref{fig:init-depth} plots the mean "
            r"square pre-activation of layer $l$ relative to the first layer, "
            r"$q_l = \overline{(z^{(l)})^2} / \overline{(z^{(1)})^2}$ (the first layer sees the "
            r"centred input, later layers see ReLU outputs). The derivation predicts "
            r"$q_l \approx F^{\,l-1}$ with the forward factor $F = n\sigma^2(1 + \alpha^2)/2$. "
            r"Because the ReLU is positively homogeneous, the curves of the four ReLU scales are "
            r"exact rescalings of one another, $q_l(c\sigma) = c^{2(l-1)} q_l(\sigma)$."
        ),
        Step(
            r"A finite network does not follow this line exactly. For one input, the $n$ "
            r"pre-activations of a layer are i.i.d.\ Gaussian given the layer before, so the "
            r"ratio of consecutive mean squares is an average of $n$ i.i.d.\ terms "
            r"$n\sigma^2 \phi(\xi)^2$, $\xi \sim \mathcal{N}(0, 1)$, with relative variance "
            r"$\kappa = \operatorname{Var}[\phi(\xi)^2] / E[\phi(\xi)^2]^2$. So $\log q_l$ "
            r"performs a random walk with step variance about $\kappa/n$ around the predicted "
            r"line: He's rule is right on average, but a single network drifts. The two end "
            r"points add about $2/n$ each, because $q_l$ divides one mean square of $n$ Gaussian "
            r"pre-activations by another. This is the picture for a single input; a batch of "
            r"distinct inputs averages part of the fluctuation away, so $s_l$ below is an upper "
            r"estimate of the spread of $\log q_l$, loose in the first layers (over 40 seeded "
            r"networks of width 64 and depth 20 the tests measure between $0.5\,s_{20}$ and "
            r"$s_{20}$ at the last layer). With $E[\max(0,\xi)^4] = 3/2$ from the same "
            r"integrals,",
            (
                (r"\kappa_{\mathrm{ReLU}}", fluctuation_excess("relu")),
                (r"\kappa_{\mathrm{leaky}}", fluctuation_excess("leaky_relu")),
                (r"s_l",
                 r"\sqrt{(\kappa (l-1) + 4)/n}" + rf" \quad (s_{{{depth}}} = {spread:.2f}"
                 rf"\text{{ here}})"),
            ),
        ),
        Listing(
            r"One ReLU layer of the simulation for a single scheme, written by hand "
            r"(\texttt{standard} holds $G_l$; the simulation stacks all schemes into one "
            r"product):",
            relu_layer,
        ),
        Figure(
            "depth-relu",
            rf"Mean square pre-activation $q_l$ against depth for ReLU networks of width {width} "
            rf"(batch {batch}, seed {seed}). He stays near 1; $1/n$ halves and $4/n$ doubles "
            r"$q$ at every layer; matching the variance instead of the second moment grows by "
            r"$\pi/(\pi-1)$ per layer.\label{fig:init-depth}",
            LinePlot(layers, tuple((p.scheme.label, tuple(float(v) for v in p.forward))
                                   for p in profiles),
                     "layer $l$", "$q_l$", logy=True, hline=1.0),
        ),
        Table(
            rf"Per-layer factor of $q$, predicted and measured (geometric mean over "
            rf"{depth - 1} layers), and $q$ at layer {depth}.\label{{tab:init-depth}}",
            ("Scheme", r"$n\sigma^2$", "predicted", "measured", rf"$q_{{{depth}}}$"),
            rows, align="lcccc",
        ),
        Step(
            rf"He's rule keeps $q_l$ within the band $|\log q_l| \le 5 s_l$ (at layer {depth}: "
            rf"$q \in [{math.exp(-5 * spread):.3g}, {math.exp(5 * spread):.3g}]$), while "
            r"$\sigma^2 = 1/n$ and $4/n$ move away from 1 geometrically "
            r"(Table~\ref{tab:init-depth}). The band is wide "
            rf"because one network of width {width} is a single draw; its width shrinks like "
            r"$1/\sqrt{n}$. For the leaky scheme we also send a standard normal gradient back "
            r"from the last layer: there the slope $\alpha$ left of $0$ matters, and the "
            r"derived backward factor $n\sigma^2(1+\alpha^2)/2$, which is $1$ for leaky He, is "
            r"checked against the measured per-layer change of "
            r"$\overline{(\delta^{(l)})^2}$."
        ),
    ]
    return blocks, checks


def _mismatched_widths(results, n_in, n_out, depth, batch, seed):
    from symderiv.topics.initialization.checks import depth_factor_check, same_order_check
    from symderiv.topics.initialization.theory import variance_conditions, weight_variance

    widths = widths_alternating(n_in, n_out, depth)
    fans = [(widths[l], widths[l + 1]) for l in range(depth)]
    xavier = tuple(float(weight_variance("xavier", a, b)) for a, b in fans)
    he = tuple(float(weight_variance("he", a)) for a, _ in fans)
    schemes = (
        Scheme("Xavier, tanh", "tanh", xavier),
        Scheme(r"Xavier, tanh, inputs $\times 10^{-3}$", "tanh", xavier, input_scale=1e-3),
        Scheme("He (fan-in), ReLU", "relu", he),
        Scheme("He (fan-in), tanh", "tanh", he),
    )
    profiles = simulate(widths, schemes, batch, seed + 1)
    linear = variance_conditions("xavier")

    def factors(expr, variances):
        # Entry j is the factor of weight matrix j (layer j + 1), fans (n_j, n_{j+1}).
        return [
            _evaluate(expr, n_in=a, n_out=b, sigma=math.sqrt(v), alpha=0.0)
            for (a, b), v in zip(fans, variances, strict=True)
        ]

    def forward_check(name, profile, expr, variances):
        # q_{j} / q_{j-1} (0-based layers) is set by weight matrix j.
        return depth_factor_check(
            name, [(profile.scheme.label, profile.forward, factors(expr, variances), fans)],
            "forward second moment",
        )

    def backward_check(name, profile, expr, variances):
        # g_{j-1} / g_j is set by weight matrix j; reversing the layers makes it a forward ratio:
        # entry k of the reversed profile is g_{L-1-k}, and its ratio to entry k-1 uses matrix L-k.
        predicted = factors(expr, variances)
        reversed_factors = [predicted[(depth - k) % depth] for k in range(depth)]
        reversed_groups = [fans[(depth - k) % depth] for k in range(depth)]
        return depth_factor_check(
            name,
            [(profile.scheme.label, profile.backward[::-1], reversed_factors, reversed_groups)],
            "backward second moment",
        )

    xavier_tanh, xavier_linear, he_relu, he_tanh = profiles
    checks = [
        forward_check("Xavier, tanh, linear regime: forward factors", xavier_linear,
                      linear["fan_in"].lhs, xavier),
        backward_check("Xavier, tanh, linear regime: backward factors", xavier_linear,
                       linear["fan_out"].lhs, xavier),
        forward_check("He (fan-in), ReLU: forward factors", he_relu, results["forward factor"], he),
        backward_check("He (fan-in), ReLU: backward factors", he_relu, results["backward factor"],
                       he),
        same_order_check("Xavier, tanh: forward and backward change by the same order",
                         xavier_tanh.forward, xavier_tanh.backward),
    ]

    def change(values, backward):
        return values[0] / values[-1] if backward else values[-1] / values[0]

    rows = tuple(
        (p.scheme.label, _number(p.forward[0]), _number(change(p.forward, False)),
         _number(change(p.backward, True)))
        for p in profiles
    )
    layers = tuple(float(l) for l in range(1, depth + 1))
    series = []
    for p, short in ((xavier_tanh, "Xavier/tanh"), (he_relu, "He/ReLU"), (he_tanh, "He/tanh")):
        series.append((f"{short} forward $q_l$", tuple(float(v) for v in p.forward)))
        series.append((f"{short} backward $g_l$", tuple(float(v) for v in p.backward)))
    pair = 4 * n_in * n_out / (n_in + n_out) ** 2
    blocks = [
        Step(
            rf"\emph{{Fans that differ.}} To compare the rules when $n_{{in}} \neq n_{{out}}$, the "
            rf"widths now alternate between {n_in} and {n_out}, so every layer has fans "
            rf"$({n_in}, {n_out})$ or $({n_out}, {n_in})$. Besides $q_l$ we propagate a standard "
            r"normal gradient from the last layer back and record "
            r"$g_l = \overline{(\delta^{(l)})^2} / \overline{(\delta^{(L)})^2}$ "
            r"(Figure~\ref{fig:init-fans}, Table~\ref{tab:init-fans})."
        ),
        Figure(
            "depth-fans",
            rf"Forward $q_l$ and backward $g_l$ with widths alternating {n_in}, {n_out} "
            rf"(depth {depth}, batch {batch}, seed {seed + 1}).\label{{fig:init-fans}}",
            LinePlot(layers, tuple(series), "layer $l$", "second moment", logy=True, hline=1.0),
        ),
        Table(
            rf"Alternating widths {n_in}, {n_out}: the first-layer "
            r"$q_1 = \overline{(z^{(1)})^2}/\overline{x^2} \approx n_{in}\sigma^2$, the change of the "
            rf"forward signal $q_{{{depth}}}/q_1$ and of the backward signal $g_1/g_{{{depth}}}$."
            r"\label{tab:init-fans}",
            ("Scheme", "$q_1$", rf"$q_{{{depth}}}/q_1$", rf"$g_1/g_{{{depth}}}$"),
            rows, align="lccc",
        ),
        Step(
            r"What this run shows. In the linear regime (inputs scaled by $10^{-3}$) the "
            r"Xavier factors alternate between $2n_{in}/(n_{in}+n_{out})$ and "
            r"$2n_{out}/(n_{in}+n_{out})$ forward and backward alike, and each pair of layers "
            rf"multiplies both signals by $4n_{{in}}n_{{out}}/(n_{{in}}+n_{{out}})^2 = {pair:.3g}$; "
            r"the checks confirm these factors layer by layer. With unit inputs tanh also "
            r"saturates, which shrinks both signals further, but by similar amounts: forward "
            r"and backward stay of the same order, which is what Glorot and Bengio aimed for; "
            r"neither is preserved. He's fan-in rule with ReLU keeps $q_l$ level, and its "
            r"backward factors $n_{out}/n_{in}$ alternate between two values and telescope, so "
            r"the gradient does not drift either. He's rule with tanh is the mismatch: the larger "
            r"weights push tanh into saturation, the forward signal settles at a fixed point, "
            r"and the backward signal grows as it travels towards the input."
        ),
    ]
    return blocks, checks

r"""The worked example: group norm of one small integer tensor, in exact arithmetic.

The source's example has N = 1, C = 8, H = W = 2 and G = 2, so each group
holds 16 values. The tensor is drawn from a seed (integers 0 to 9), and every
statistic is computed by substituting the numbers into the SymPy sums of
:mod:`symderiv.topics.normalization.spec`, so the tables show exact rationals.
"""

from __future__ import annotations

import functools
import itertools

import mpmath
import numpy as np
import sympy as sp

from symderiv.derivation import Step, Table
from symderiv.numeric import rng
from symderiv.topics.normalization import spec as spec

LOW, HIGH = 0, 10


def example_tensor(channels: int, height: int, width: int, seed: int) -> np.ndarray:
    """A (1, C, H, W) tensor of integers in [0, 9], reproducible from ``seed``."""
    return rng(seed).integers(LOW, HIGH, size=(1, channels, height, width))


def _sizes(tensor: np.ndarray, groups: int) -> dict:
    batch, channels, height, width = tensor.shape
    return {spec.N: batch, spec.C: channels, spec.H: height, spec.W: width, spec.G: groups}


def _values(tensor: np.ndarray) -> dict:
    return {spec.x[idx]: sp.Integer(int(v)) for idx, v in np.ndenumerate(tensor)}


def expand_sums(expr: sp.Expr) -> sp.Expr:
    """Write out every ``Sum`` with numeric limits as the explicit sum of its terms."""

    def expand(total: sp.Sum) -> sp.Expr:
        names = [var for var, _, _ in total.limits]
        ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in total.limits]
        return sp.Add(*[total.function.xreplace(dict(zip(names, map(sp.Integer, point),
                                                         strict=True)))
                        for point in itertools.product(*ranges)])

    return expr.replace(lambda e: isinstance(e, sp.Sum), expand)


@functools.lru_cache(maxsize=32)
def _exact_statistics_cached(method: str, data: bytes, shape: tuple, groups: int) -> dict:
    tensor = np.frombuffer(data, dtype=np.int64).reshape(shape)
    reduction = spec.reductions()[method]
    sizes, values = _sizes(tensor, groups), _values(tensor)
    ranges = {spec.n: shape[0], spec.c: shape[1], spec.g: groups}
    kept_ranges = [range(ranges[index]) for index in reduction.kept]
    # The variance is evaluated with its mean as a symbol, then the exact mean
    # put in: the same formula, without re-expanding the inner sum per term.
    placeholder = sp.Symbol("M")
    mean_template = reduction.mean.xreplace(sizes)
    variance_template = reduction.displayed_variance().xreplace(
        {reduction.mean_symbol(): placeholder}).xreplace(sizes)
    out = {}
    for kept in np.ndindex(*[len(r) for r in kept_ranges]):
        where = {index: sp.Integer(v) for index, v in zip(reduction.kept, kept, strict=True)}
        mean = expand_sums(mean_template.xreplace(where)).xreplace(values)
        variance = expand_sums(variance_template.xreplace(where)).xreplace(values)
        out[kept] = (mean, sp.expand(variance.xreplace({placeholder: mean})))
    return out


def exact_statistics(method: str, tensor: np.ndarray, groups: int = 1) -> dict:
    """{kept indices: (mean, variance)} as exact rationals, from the spec's sums."""
    tensor = np.ascontiguousarray(tensor, dtype=np.int64)
    return _exact_statistics_cached(method, tensor.tobytes(), tensor.shape, groups)


def exact_output(method: str, tensor: np.ndarray, groups: int, gamma, beta, eps) -> np.ndarray:
    r"""The method's output, evaluated from exact statistics to 30 digits.

    :math:`y = \gamma_c (x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta_c` with
    rational :math:`\mu, \sigma^2` and :math:`\epsilon`; only the square root
    is irrational, so mpmath at 30 digits is exact far beyond float64.
    """
    stats = exact_statistics(method, tensor, groups)
    reduction = spec.reductions()[method]
    eps = sp.Rational(repr(float(eps)))
    out = np.empty(tensor.shape, dtype=float)
    per_group = tensor.shape[1] // groups
    with mpmath.workdps(30):
        inverse_std = {key: 1 / mpmath.sqrt(_mpf(variance + eps))
                       for key, (_, variance) in stats.items()}
        for (b, ch, row, col), value in np.ndenumerate(tensor):
            index = {spec.n: b, spec.c: ch, spec.g: ch // per_group}
            key = tuple(index[k] for k in reduction.kept)
            normalized = (int(value) - _mpf(stats[key][0])) * inverse_std[key]
            exact = _mpf(sp.Rational(repr(float(gamma[ch])))) * normalized + _mpf(
                sp.Rational(repr(float(beta[ch]))))
            out[b, ch, row, col] = float(exact)
    return out


def _mpf(value: sp.Rational):
    return mpmath.mpf(int(value.p)) / int(value.q)


def _sum_text(values) -> str:
    return " + ".join(str(int(v)) for v in values)


def worked_example(tensor: np.ndarray, groups: int, eps: float) -> tuple:
    """Steps and tables: the values of each group, their statistics, the normalized values."""
    _, channels, height, width = tensor.shape
    per_group, size = channels // groups, channels // groups * height * width
    stats = exact_statistics("GN", tensor, groups)
    eps_exact = sp.Rational(repr(float(eps)))
    positions = [(r, c) for r in range(height) for c in range(width)]
    header = ("channel $c$", "group $g$", *[f"$x_{{0,c,{r},{c}}}$" for r, c in positions])
    value_rows = tuple(
        (f"${ch}$", f"${ch // per_group}$", *[f"${int(tensor[0, ch, r, c])}$" for r, c in positions])
        for ch in range(channels)
    )
    blocks: list = [
        Step(
            rf"The tensor below has $N = 1$, $C = {channels}$, $H = {height}$, $W = {width}$ and "
            rf"is split into $G = {groups}$ groups of $C/G = {per_group}$ channels, so each set "
            rf"$\mathcal{{S}}_{{0,g}}$ holds $(C/G)HW = {size}$ values. Channels are counted from "
            r"$0$ here (the source counts from $1$)."
        ),
        Table(r"The example tensor $x_{0,c,h,w}$ (integers drawn with a seed); the "
              r"group column says which set each row belongs to.",
              header, value_rows),
    ]
    stat_rows = []
    for grp in range(groups):
        mean, variance = stats[(0, grp)]
        values = tensor[0, grp * per_group:(grp + 1) * per_group].reshape(-1)
        deviations = sum((sp.Integer(int(v)) - mean) ** 2 for v in values)
        blocks.append(Step(
            rf"Group $g = {grp}$ (channels ${grp * per_group}$ to ${(grp + 1) * per_group - 1}$): "
            "the mean and the biased variance, numbers substituted.",
            ((rf"\mu_{{0,{grp}}}", rf"\frac{{1}}{{{size}}}\left({_sum_text(values)}\right) = "
              + sp.latex(mean)),
             (rf"\sigma^2_{{0,{grp}}}", rf"\frac{{1}}{{{size}}}\sum_{{(c,h,w)\in\mathcal{{S}}_{{0,{grp}}}}}"
              rf"\left(x_{{0,c,h,w}} - {sp.latex(mean)}\right)^2 = \frac{{1}}{{{size}}}\cdot "
              + sp.latex(deviations) + " = " + sp.latex(variance))),
        ))
        stat_rows.append((f"${grp}$", f"${sp.latex(sp.Integer(int(values.sum())))}$",
                          f"${sp.latex(mean)}$", f"${sp.latex(variance)}$",
                          f"${float(sp.N(sp.sqrt(variance + eps_exact), 30)):.6f}$"))
    blocks.append(Table(
        rf"Statistics of each group, exact; $\epsilon = {sp.latex(eps_exact)}$.",
        ("group $g$", r"$\sum x$", r"$\mu_{0,g}$", r"$\sigma^2_{0,g}$",
         r"$\sqrt{\sigma^2_{0,g} + \epsilon}$"),
        tuple(stat_rows),
    ))
    normalized = exact_output("GN", tensor, groups, np.ones(channels), np.zeros(channels), eps)
    normalized_rows = tuple(
        (f"${ch}$", f"${ch // per_group}$",
         *[f"${normalized[0, ch, r, c]:+.4f}$" for r, c in positions])
        for ch in range(channels)
    )
    blocks.append(Step(
        r"Each value is centred by its group's mean and divided by the same "
        r"$\sqrt{\sigma^2+\epsilon}$; for example the first entry of channel $0$ is",
        (r"\hat{x}_{0,0,0,0}",
         rf"\frac{{{int(tensor[0, 0, 0, 0])} - {sp.latex(stats[(0, 0)][0])}}}"
         rf"{{\sqrt{{{sp.latex(stats[(0, 0)][1])} + \epsilon}}}} = {normalized[0, 0, 0, 0]:+.4f}"),
    ))
    blocks.append(Table(
        r"Normalized values $\hat{x}_{0,c,h,w}$ ($\gamma = 1$, $\beta = 0$), "
        r"rounded to four decimals; within each group they have mean $0$ and "
        r"variance $\sigma^2/(\sigma^2+\epsilon)$.",
        ("channel $c$", "group $g$", *[rf"$\hat{{x}}_{{0,c,{r},{c}}}$" for r, c in positions]),
        normalized_rows,
    ))
    return tuple(blocks)

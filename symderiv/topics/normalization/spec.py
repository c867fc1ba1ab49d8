r"""One specification of feature normalization, in which only the reduced axes change.

An activation tensor :math:`x_{n,c,h,w}` is normalized over an index set
:math:`\mathcal{S}`; the four common methods differ only in which axes
:math:`\mathcal{S}` runs over and which indices it keeps:

======  ==========================  ===================
method  reduced over                kept (one set each)
======  ==========================  ===================
BN      n, h, w                     c
LN      c, h, w                     n
IN      h, w                        n, c
GN      C/G channels of group g, h, w  n, g
======  ==========================  ===================

Everything here is SymPy: means and biased variances are ``Sum`` objects with
symbolic sizes, the identities GN(G=1) = LN and GN(G=C) = IN are proved by
substitution, and the group-norm backward pass is obtained by differentiating
the sums and reducing them to a closed form per group. The NumPy kernels in
:mod:`symderiv.topics.normalization.kernels` are lambdified from the closed
forms built here. Nothing runs at import time; every builder is cached.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

# --------------------------------------------------------------------------- symbols

n, c, h, w, k, g = sp.symbols("n c h w k g", integer=True, nonnegative=True)
N, C, H, W, G = sp.symbols("N C H W G", integer=True, positive=True)
x = sp.IndexedBase("x")
gamma = sp.IndexedBase("gamma")
beta = sp.IndexedBase("beta")
eps = sp.Symbol("epsilon", positive=True)
KEPT_SIZES = {n: N, c: C, g: G}


@dataclass(frozen=True)
class Reduction:
    """One method: the element summed, the reduced limits and the kept indices."""

    key: str
    title: str
    element: sp.Expr
    limits: tuple[tuple[sp.Symbol, sp.Expr, sp.Expr], ...]
    kept: tuple[sp.Symbol, ...]
    axes: frozenset[str]

    @property
    def size(self) -> sp.Expr:
        r""":math:`|\mathcal{S}|`, the number of elements in one index set."""
        return sp.Mul(*[hi - lo + 1 for _, lo, hi in self.limits])

    @property
    def mean(self) -> sp.Expr:
        r""":math:`\mu = \frac{1}{|\mathcal{S}|}\sum_{\mathcal{S}} x`."""
        return sp.Sum(self.element, *self.limits) / self.size

    @property
    def variance(self) -> sp.Expr:
        r"""The biased variance :math:`\frac{1}{|\mathcal{S}|}\sum_{\mathcal{S}} (x - \mu)^2`."""
        return sp.Sum((self.element - self.mean) ** 2, *self.limits) / self.size

    @property
    def sets(self) -> sp.Expr:
        """How many index sets there are (one mean and one variance each): N, NC, NG or C."""
        return sp.Mul(*[KEPT_SIZES[index] for index in self.kept])

    def mean_symbol(self) -> sp.Expr:
        return sp.IndexedBase(rf"\mu^{{\mathrm{{{self.key}}}}}")[self.kept]

    def variance_symbol(self) -> sp.Expr:
        return sp.IndexedBase(rf"\sigma^{{2,\mathrm{{{self.key}}}}}")[self.kept]

    def displayed_variance(self) -> sp.Expr:
        """The variance with the mean written as a symbol, as a reader expects it."""
        return sp.Sum((self.element - self.mean_symbol()) ** 2, *self.limits) / self.size

    def output(self) -> sp.Expr:
        r""":math:`y = \gamma_c (x - \mu)/\sqrt{\sigma^2 + \epsilon} + \beta_c`."""
        normalized = (x[n, c, h, w] - self.mean_symbol()) / sp.sqrt(self.variance_symbol() + eps)
        return gamma[c] * normalized + beta[c]


GROUP_SIZE = C / G


@functools.cache
def reductions() -> dict[str, Reduction]:
    """The four methods of the one specification, keyed BN, LN, IN, GN."""
    spatial = ((h, 0, H - 1), (w, 0, W - 1))
    return {
        "BN": Reduction("BN", "batch norm", x[n, c, h, w], (*spatial, (n, 0, N - 1)), (c,),
                        frozenset({"N", "HW"})),
        "LN": Reduction("LN", "layer norm", x[n, c, h, w], (*spatial, (c, 0, C - 1)), (n,),
                        frozenset({"C", "HW"})),
        "IN": Reduction("IN", "instance norm", x[n, c, h, w], spatial, (n, c),
                        frozenset({"HW"})),
        "GN": Reduction("GN", "group norm", x[n, g * GROUP_SIZE + k, h, w],
                        (*spatial, (k, 0, GROUP_SIZE - 1)), (n, g), frozenset({"C", "HW"})),
    }


# --------------------------------------------------------------------------- identities


def collapse_singletons(expr: sp.Expr) -> sp.Expr:
    """Evaluate every limit of a ``Sum`` that runs over a single value."""

    def collapse(total: sp.Sum) -> sp.Expr:
        body, limits = total.function, []
        for var, lo, hi in total.limits:
            if sp.expand(hi - lo) == 0:
                body = body.subs(var, lo)
            else:
                limits.append((var, lo, hi))
        return sp.Sum(body, *limits) if limits else body

    return expr.replace(lambda e: isinstance(e, sp.Sum), collapse)


@functools.cache
def special_cases() -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """GN with G=1 and G=C next to LN and IN, after renaming bound and kept indices.

    Each entry is (GN specialised, the other method); the identity holds when
    the two are the same SymPy expression.
    """
    gn, ln, inst = reductions()["GN"], reductions()["LN"], reductions()["IN"]
    pairs = {}
    for stat in ("mean", "variance"):
        one_group = getattr(gn, stat).subs({G: 1, g: 0}).xreplace({k: c})
        pairs[f"{stat} G=1"] = (one_group, getattr(ln, stat))
        per_channel = collapse_singletons(getattr(gn, stat).subs(G, C))
        pairs[f"{stat} G=C"] = (per_channel, getattr(inst, stat).xreplace({c: g}))
    return pairs


@functools.cache
def batch_norm_degenerate() -> dict[str, sp.Expr]:
    """BN statistics when the index set holds one element (N = H = W = 1)."""
    bn = reductions()["BN"]
    one = {N: 1, H: 1, W: 1}
    mean = collapse_singletons(bn.mean.subs(one))
    variance = sp.simplify(collapse_singletons(bn.variance.subs(one)))
    normalized = sp.simplify((x[0, c, 0, 0] - mean) / sp.sqrt(variance + eps))
    return {"mean": mean, "variance": variance, "output": gamma[c] * normalized + beta[c]}


# --------------------------------------------------------------------------- running statistics


@functools.cache
def biased_variance_expectation(size: int) -> sp.Expr:
    r"""E of the biased variance of ``size`` i.i.d. draws, as a multiple of :math:`\sigma^2`.

    Expands :math:`\frac1m\sum_i (x_i - \bar x)^2` as a polynomial and takes the
    expectation term by term with :math:`E[x_i]=0`, :math:`E[x_i^2]=\sigma^2`,
    :math:`E[x_i x_j]=0` (the variance does not depend on the mean).
    """
    sigma2 = sp.Symbol("sigma^2", positive=True)
    draws = sp.symbols(f"x_1:{size + 1}", real=True)
    average = sp.Add(*draws) / size
    poly = sp.Poly(sp.expand(sp.Add(*[(d - average) ** 2 for d in draws]) / size), *draws)
    expectation = sp.Integer(0)
    for powers, coeff in poly.terms():
        if sorted(powers) == [0] * (size - 1) + [2]:
            expectation += coeff * sigma2
    return sp.factor(expectation)


# --------------------------------------------------------------------------- backward


j, i = sp.symbols("j i", integer=True, positive=True)
# Separate dummies for the mean and the variance inside the loss's sum over j, so that
# the displayed derivative never reuses a bound index inside another sum over it.
p, q = sp.symbols("p q", integer=True, positive=True)
m = sp.Symbol("m", integer=True, positive=True)
mu, var = sp.Symbol("mu", real=True), sp.Symbol("sigma^2", nonnegative=True)
xg = sp.IndexedBase("x")          # the m values of one group, x_1 ... x_m
dhat = sp.IndexedBase(r"\hat{g}")  # dL/dxhat_j = gamma_{c(j)} dL/dy_j
mean_dhat = sp.Symbol(r"\overline{\hat{g}}")
mean_dhat_xhat = sp.Symbol(r"\overline{\hat{g}\hat{x}}")


def _expand_sum(total: sp.Sum) -> sp.Expr:
    """Split a one-index Sum into terms, pull out constants and sift Kronecker deltas."""
    ((var_, lo, hi),) = total.limits
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(total.function)):
        constant, dependent = term.as_independent(var_, as_Add=False)
        if dependent == 1:
            out += constant * (hi - lo + 1)
        elif dependent.has(sp.KroneckerDelta):
            # sum_j delta_ij f(j) = f(i) because 1 <= i <= m
            out += constant * dependent.subs(sp.KroneckerDelta(i, var_), 1).subs(var_, i)
        else:
            out += constant * sp.Sum(dependent, (var_, lo, hi))
    return out


def _name_statistics(expr: sp.Expr) -> sp.Expr:
    for index in (j, p, q):
        expr = expr.xreplace({sp.Sum(xg[index], (index, 1, m)): m * mu})
        expr = expr.xreplace({sp.Sum((xg[index] - mu) ** 2, (index, 1, m)): m * var})
    return expr


@functools.cache
def group_backward() -> dict[str, sp.Expr]:
    r"""The GN backward pass for one group of m values, derived and reduced.

    Returns the loss of one group written through :math:`\hat g_j`, its raw
    derivative (SymPy's ``diff`` of the sums), the reduced expression, and the
    closed form :math:`\frac{1}{s}(\hat g_i - \overline{\hat g} - \hat x_i
    \overline{\hat g \hat x})` together with the difference of the two (zero).
    """
    group_mean = sp.Sum(xg[p], (p, 1, m)) / m
    group_variance = sp.Sum((xg[q] - group_mean) ** 2, (q, 1, m)) / m
    loss = sp.Sum(dhat[j] * (xg[j] - group_mean) / sp.sqrt(group_variance + eps), (j, 1, m))
    raw = sp.diff(loss, xg[i])
    reduced, previous = _name_statistics(raw), None
    while reduced != previous:
        previous = reduced
        reduced = _name_statistics(reduced.replace(lambda e: isinstance(e, sp.Sum), _expand_sum))
    std = sp.sqrt(var + eps)
    xhat_i = (xg[i] - mu) / std
    closed = (dhat[i] - mean_dhat - xhat_i * mean_dhat_xhat) / std
    named = {
        sp.Sum(dhat[j], (j, 1, m)): m * mean_dhat,
        sp.Sum(dhat[j] * xg[j], (j, 1, m)): m * (mean_dhat_xhat * std + mu * mean_dhat),
    }
    difference = sp.simplify(reduced.xreplace(named) - closed)
    sums = [sp.Sum(dhat[j], (j, 1, m)), sp.Sum(dhat[j] * xg[j], (j, 1, m))]
    by_sum = sp.collect(sp.expand(reduced), sums, evaluate=False)
    reduced_terms = [sp.factor(by_sum.get(sp.Integer(1), sp.Integer(0)))]
    reduced_terms += [sp.Mul(sp.factor(by_sum[total]), total, evaluate=False)
                      for total in sums if total in by_sum]
    return {"mean": group_mean, "variance": group_variance, "loss": loss,
            "loss_named": _name_statistics(loss), "raw": raw,
            "raw_terms": [sp.Sum(term, (j, 1, m)) for term in
                          sp.Add.make_args(_name_statistics(raw).function)],
            "reduced": reduced, "reduced_terms": reduced_terms,
            "closed": closed, "difference": difference}


@functools.cache
def affine_parameter_gradients() -> dict[str, sp.Expr]:
    r""":math:`\partial y/\partial\gamma_c` and :math:`\partial y/\partial\beta_c` for one element."""
    xhat = sp.Symbol(r"\hat{x}")
    gam, bet = sp.Symbol("gamma_c"), sp.Symbol("beta_c")
    y = gam * xhat + bet
    return {"xhat": xhat, "y": y, "dgamma": sp.diff(y, gam), "dbeta": sp.diff(y, bet),
            "dxhat": sp.diff(y, xhat)}


# --------------------------------------------------------------------------- kernels' formulas


@functools.cache
def kernel_formulas() -> dict[str, tuple[tuple[sp.Symbol, ...], sp.Expr]]:
    r"""Per-set coefficients that turn whole-tensor passes into the derived formulas.

    With :math:`S_1=\sum x`, :math:`S_2=\sum (x-\mu)^2` over a set of size m,
    the forward output is affine in the centred value, :math:`y = a (x-\mu) + \beta`,
    and the backward output is affine in :math:`\partial L/\partial y` and
    :math:`x - \mu`: :math:`\partial L/\partial x = a\,\partial L/\partial y
    + b (x - \mu) + d`. SymPy reads a, b, d off the derived expressions by
    differentiation, so the kernels cannot drift from the derivation.
    """
    s1, s2, size, gam = sp.symbols("S_1 S_2 m gamma_c", real=True)
    sum_dhat, sum_dhat_xc = sp.symbols("A B", real=True)
    centred, upstream = sp.symbols("x_c dy", real=True)
    mean_value = (sp.Sum(xg[j], (j, 1, m)) / m).xreplace({sp.Sum(xg[j], (j, 1, m)): s1})
    mean_value = mean_value.subs(m, size)
    variance_value = s2 / size
    std = sp.sqrt(var + eps)
    forward = gam * centred / std + beta[c]
    scale = sp.diff(forward, centred)
    closed = group_backward()["closed"]
    # xhat_i = x_c / s, gtilde_i = gamma_c dy, and the two group means from A, B:
    backward = closed.xreplace({
        dhat[i]: gam * upstream, xg[i]: mu + centred,
        mean_dhat: sum_dhat / m, mean_dhat_xhat: sum_dhat_xc / (m * std),
    }).subs(m, size)
    backward = sp.expand(backward)
    coef_dy = sp.diff(backward, upstream)
    coef_centred = sp.diff(backward, centred)
    coef_const = sp.simplify(backward - coef_dy * upstream - coef_centred * centred)
    # One pass: sum (x - mu)^2 = sum x^2 - m mu^2, read off the expanded Sum.
    s_sq = sp.Symbol("Q", real=True)
    expanded = _expand_sum(sp.Sum(sp.expand((xg[j] - mu) ** 2), (j, 1, m)))
    one_pass = (expanded.xreplace({sp.Sum(xg[j] ** 2, (j, 1, m)): s_sq,
                                   sp.Sum(xg[j], (j, 1, m)): m * mu}) / m)
    one_pass = one_pass.subs({mu: s1 / m}).subs(m, size)
    return {
        "mean": ((s1, size), mean_value),
        "variance": ((s2, size), variance_value),
        "variance_one_pass": ((s1, s_sq, size), sp.expand(one_pass)),
        "inv_std": ((var, eps), sp.simplify(scale / gam)),
        "backward_dy": ((var, eps), sp.simplify(coef_dy / gam)),
        "backward_centred": ((sum_dhat_xc, var, eps, size), sp.simplify(coef_centred)),
        "backward_const": ((sum_dhat, var, eps, size), sp.simplify(coef_const)),
    }

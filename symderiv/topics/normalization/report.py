r"""The prose and the step-by-step display of the normalization derivation.

:mod:`normalization` builds the results and checks; this module turns the
symbolic objects of :mod:`.spec` into the report's sections,
steps and tables, and holds the question, the assumptions and the notes on
where the source is loose.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

from symderiv.derivation import CubeDiagram, Figure, Listing, Section, Step, Table
from symderiv.topics.normalization import example as example
from symderiv.topics.normalization import spec as spec
from symderiv.topics.normalization.reference import group_norm_reference


def report_steps(tensor, groups: int, eps: float) -> list:
    """The report's sections and steps, in reading order, for the worked example ``tensor``."""
    return [
        *_spec_steps(),
        *_identity_steps(),
        *_batch_norm_steps(tensor.shape[2] * tensor.shape[3]),
        Section("Worked example"),
        *example.worked_example(tensor, groups, eps),
        *_backward_steps(),
        *_memory_steps(),
        Section("Reference implementation"),
        Listing(
            r"The checks compare the generated NumPy functions with this one, written by hand "
            r"from the definition (\texttt{x} of shape $(N, C, HW)$):",
            group_norm_reference,
        ),
    ]


# --------------------------------------------------------------------------- the text

STATEMENT = (
    r"Explain group normalization (GN) in detail with an example, compare it with batch "
    r"normalization (BN) and layer normalization (LN), and show how the per-group "
    r"statistics of a convolutional feature map are computed. The source works the case "
    r"$N = 1$, $C = 8$, $H = W = 2$, $G = 2$."
)

ASSUMPTIONS = (
    r"Activations form a tensor $x_{n,c,h,w}$ with batch index $n < N$, channel $c < C$ "
    r"and spatial position $(h, w)$, $h < H$, $w < W$; indices start at $0$.",
    r"Every method normalizes with the mean and the \emph{biased} variance (divide by "
    r"$|\mathcal{S}|$) of an index set $\mathcal{S}$, adds $\epsilon > 0$ inside the square "
    r"root, and applies a per-channel affine map $\gamma_c, \beta_c$.",
    r"For GN, $G$ divides $C$ and channel $c$ belongs to group $g = \lfloor c\,G/C \rfloor$; "
    r"group $g$ holds channels $g\,C/G + k$, $0 \le k < C/G$.",
    r"In the backward pass, $\partial L/\partial y$ is given and $L$ depends on $x$ only "
    r"through $y$.",
)


def _spec_steps() -> list:
    reductions = spec.reductions()
    general = (
        (r"\mu_{\mathcal{S}}", r"\frac{1}{|\mathcal{S}|}\sum_{(n,c,h,w)\in\mathcal{S}} x_{n,c,h,w}"),
        (r"\sigma^2_{\mathcal{S}}",
         r"\frac{1}{|\mathcal{S}|}\sum_{(n,c,h,w)\in\mathcal{S}}\left(x_{n,c,h,w} - "
         r"\mu_{\mathcal{S}}\right)^2"),
        (r"y_{n,c,h,w}", r"\gamma_c\,\frac{x_{n,c,h,w} - \mu_{\mathcal{S}}}"
                         r"{\sqrt{\sigma^2_{\mathcal{S}} + \epsilon}} + \beta_c"),
    )
    blocks: list = [
        Section("One specification, four index sets"),
        Step(
            r"Every method computes, for the set $\mathcal{S}$ that contains the element "
            r"$(n,c,h,w)$, a mean and a biased variance, and then normalizes and rescales:",
            general,
        ),
        Step(
            r"Only $\mathcal{S}$ changes from method to method. The sums below are SymPy "
            r"\texttt{Sum} objects with symbolic sizes; the indices outside the sum are the "
            r"ones each method keeps, so there is one set of statistics per value of them."
        ),
    ]
    rows = []
    for key, reduction in reductions.items():
        blocks.append(Step(
            rf"\textbf{{{reduction.title.capitalize()} ({key}).}} ",
            ((_tex(reduction.mean_symbol()),
              _averaged(reduction.size, reduction.element, reduction.limits)),
             (_tex(reduction.variance_symbol()),
              _averaged(reduction.size, (reduction.element - reduction.mean_symbol()) ** 2,
                        reduction.limits))),
        ))
        summed = [v for v in (spec.n, spec.c, spec.k, spec.h, spec.w)
                  if v in {var for var, _, _ in reduction.limits}]
        rows.append((key, ", ".join(f"${sp.latex(v)}$" for v in summed),
                     ", ".join(f"${sp.latex(v)}$" for v in reduction.kept),
                     reduction.size, reduction.sets))
    blocks.append(Table(
        r"The index sets. $|\mathcal{S}|$ is the number of values that share one mean and "
        r"variance; the last column counts the sets, that is the statistics stored.",
        ("method", "summed over", "kept", r"$|\mathcal{S}|$", "sets"),
        tuple(rows),
    ))
    blocks.append(Figure(
        "reduced-axes",
        r"The values normalized together with one element (shaded): BN shares statistics "
        r"across the batch, LN across all channels of a sample, IN within one channel of a "
        r"sample, GN within one group of channels of a sample (here $G = 2$).",
        CubeDiagram(tuple(
            (reduction.title.capitalize(), reduction.axes, 2 if key == "GN" else 1)
            for key, reduction in reductions.items()
        )),
    ))
    return blocks


def _identity_steps() -> list:
    cases = spec.special_cases()
    return [
        Section("Group norm contains layer norm and instance norm"),
        Step(
            r"Put $G = 1$ in the GN sums: the only group is $g = 0$, the channel index "
            r"$g\,C/G + k$ becomes $k$ and runs over $0, \dots, C-1$. After renaming the "
            r"summation index $k$ to $c$ the mean is, symbol for symbol, the LN mean, and the "
            r"same holds for the variance:",
            ((r"\mu^{\mathrm{GN}}_{n,0}\Big|_{G=1}", _as_average(cases["mean G=1"][0])),
             (r"", sp.Symbol(r"\mu^{\mathrm{LN}}_{n}"))),
        ),
        Step(
            r"Put $G = C$: each group has $C/G = 1$ channel, the sum over $k$ has the single "
            r"term $k = 0$, and channel $g$ is normalized over its own spatial positions, "
            r"which is IN with $c = g$:",
            ((r"\mu^{\mathrm{GN}}_{n,g}\Big|_{G=C}", _as_average(cases["mean G=C"][0])),
             (r"", sp.Symbol(r"\mu^{\mathrm{IN}}_{n,g}"))),
        ),
        Step(
            r"Because the affine map $\gamma_c, \beta_c$ is per channel in all three methods, "
            r"the outputs agree too: $\mathrm{GN}_{G=1} = \mathrm{LN}$ and "
            r"$\mathrm{GN}_{G=C} = \mathrm{IN}$ exactly, not approximately. SymPy confirms all "
            r"four identities (mean and variance, both cases) by structural equality, and the "
            r"checks confirm them on random tensors."
        ),
    ]


def _batch_norm_steps(example_size: int) -> list:
    degenerate = spec.batch_norm_degenerate()
    expectation = spec.biased_variance_expectation(example_size)
    size_m = sp.Symbol("m", positive=True)
    return [
        Section("Where batch norm differs"),
        Step(
            r"\textbf{Shared across the batch.} BN keeps only $c$, so the statistics of sample "
            r"$n$ depend on every other sample in the batch: "
            r"$\partial\mu^{\mathrm{BN}}_c/\partial x_{n',c,h,w} = 1/(NHW)$ for all $n'$. "
            r"The output for one image changes when the rest of the batch changes, while "
            r"LN, IN and GN treat each sample on its own. With $N = 1$ the BN sums run over "
            r"$h, w$ only, so in training mode BN on a single sample \emph{is} IN."
        ),
        Step(
            r"\textbf{Degenerate sets.} With $N = H = W = 1$ each BN set holds one value: "
            r"the mean is that value, the variance is $0$, and the output is $\beta_c$ "
            r"whatever the input (SymPy, evaluating the sums with sizes $1$):",
            ((_tex(spec.reductions()["BN"].mean_symbol()), degenerate["mean"]),
             (_tex(spec.reductions()["BN"].variance_symbol()), degenerate["variance"]),
             (r"y_{0,c,0,0}", degenerate["output"])),
        ),
        Step(
            r"\textbf{Test time.} BN cannot rely on a batch at inference, so it keeps running "
            r"averages of the batch statistics and uses them as constants. For the variance the "
            r"running average is fed the \emph{unbiased} estimate, because the biased one is "
            rf"low by the factor $(m-1)/m$. For $m = {example_size}$ i.i.d.\ values of "
            r"variance $\sigma^2$, SymPy expands $\frac{1}{m}\sum_i (x_i - \bar{x})^2$ and "
            r"takes expectations term by term:",
            ((r"E\left[\frac{1}{m}\sum_{i=1}^{m}(x_i - \bar{x})^2\right]", expectation),
             (r"\hat{\sigma}^2_{\mathrm{unbiased}}",
              sp.Mul(size_m / (size_m - 1), sp.Symbol(r"\sigma^2_{\mathrm{biased}}"),
                     evaluate=False)),
             (r"y_{n,c,h,w}", r"\gamma_c\,\frac{x_{n,c,h,w} - \bar{\mu}_c}"
                              r"{\sqrt{\bar{\sigma}^2_c + \epsilon}} + \beta_c"
                              r"\quad\text{(running } \bar{\mu}_c, \bar{\sigma}^2_c)")),
        ),
        Step(
            r"So BN computes different functions in training and at test time; LN, IN and GN "
            r"compute the same function in both."
        ),
    ]


class _StatisticsPrinter(LatexPrinter):
    r"""SymPy's LaTeX, but :math:`\mu^{\mathrm{GN}}_{n,g}` rather than :math:`{\mu^{\mathrm{GN}}}_{n,g}`.

    SymPy braces the base of an indexed symbol, which sets a decorated base's
    subscript below and after its superscript instead of under it.
    """

    def _print_Indexed(self, expr) -> str:
        base = self._print(expr.base)
        if "^" not in base:
            return super()._print_Indexed(expr)
        return base + "_{" + ",".join(self._print(index) for index in expr.indices) + "}"


def _tex(expr) -> str:
    """LaTeX with x - mu rather than -mu + x (topics do not import renderers)."""
    return _StatisticsPrinter({"order": "rev-lex"}).doprint(expr)


def _averaged(size, summand, limits) -> str:
    r"""LaTeX for :math:`\frac{1}{|S|}\sum_S f` with one sum sign per index, outermost first."""
    order = {v: rank for rank, v in enumerate(("n", "c", "k", "h", "w", "j"))}
    signs = "".join(
        rf"\sum_{{{sp.latex(var)}={sp.latex(lo)}}}^{{{sp.latex(hi)}}}"
        for var, lo, hi in sorted(limits, key=lambda limit: order[limit[0].name])
    )
    summand_tex = _tex(summand)
    if isinstance(summand, sp.Add):
        summand_tex = rf"\left({summand_tex}\right)"
    return rf"{sp.latex(1 / size)} {signs} {summand_tex}"


def _as_average(mean: sp.Expr) -> str:
    """A mean ``Sum(...)/size`` displayed as :func:`_averaged` shows it."""
    (total,) = mean.atoms(sp.Sum)
    return _averaged(sp.simplify(total / mean), total.function, total.limits)


def _signed_rows(lhs: str, terms) -> tuple:
    """An aligned sum of terms, one per row, each continuation row led by its sign."""
    rows = []
    for position, term in enumerate(terms):
        coefficient = term.function if isinstance(term, sp.Sum) else term
        negative = coefficient.could_extract_minus_sign() or (
            isinstance(term, sp.Mul) and term.args[0].could_extract_minus_sign())
        if negative:
            body = (sp.Sum(-term.function, *term.limits) if isinstance(term, sp.Sum)
                    else sp.Mul(-term.args[0], *term.args[1:], evaluate=False))
            text = "- " + _tex(body)
        else:
            text = ("+ " if position else "") + _tex(term)
        rows.append((lhs, text) if position == 0 else r"\quad " + text)
    return tuple(rows)


def _backward_steps() -> list:
    backward = spec.group_backward()
    affine = spec.affine_parameter_gradients()
    return [
        Section("The backward pass of group norm"),
        Step(
            r"Within one sample, the groups do not interact, so it suffices to look at one "
            r"group of $m = (C/G)HW$ values $x_1, \dots, x_m$. Write "
            r"$\hat{g}_j = \gamma_{c(j)}\,\partial L/\partial y_j$ for the gradient that reaches "
            r"the normalized value $\hat{x}_j$ (from $y = \gamma_c\hat{x} + \beta_c$, "
            r"$\partial y/\partial\hat{x} = " + sp.latex(affine["dxhat"]) + r"$). "
            r"With the group statistics written as sums, the part of the loss that depends on "
            r"this group is, to first order in a change of $x$,",
            ((spec.mu, _averaged(spec.m, spec.xg[spec.j], ((spec.j, 1, spec.m),))),
             (spec.var, _averaged(spec.m, (spec.xg[spec.j] - spec.mu) ** 2,
                                  ((spec.j, 1, spec.m),))),
             (r"L_{\mathrm{group}}", _tex(backward["loss_named"]))),
        ),
        Step(
            r"SymPy differentiates the sums with respect to $x_i$, with $\mu$ and $\sigma^2$ "
            r"still the sums above; they contribute the Kronecker deltas inside (shown after "
            r"naming $\mu$ and $\sigma^2$ again):",
            _signed_rows(r"\frac{\partial L}{\partial x_i}", backward["raw_terms"]),
        ),
        Step(
            r"Sifting each delta ($\sum_j \delta_{ij} f(j) = f(i)$ since $1 \le i \le m$), "
            r"pulling constants out of the sums and naming $\sum_j x_j = m\mu$, "
            r"$\sum_j (x_j-\mu)^2 = m\sigma^2$ leaves",
            _signed_rows(r"\frac{\partial L}{\partial x_i}", backward["reduced_terms"]),
        ),
        Step(
            r"With the group means $\overline{\hat{g}} = \frac{1}{m}\sum_j \hat{g}_j$ and "
            r"$\overline{\hat{g}\hat{x}} = \frac{1}{m}\sum_j \hat{g}_j\hat{x}_j$ this is the "
            r"closed form below; SymPy simplifies the difference of the two expressions to "
            rf"${sp.latex(backward['difference'])}$.",
            ((r"\frac{\partial L}{\partial x_i}",
              r"\frac{1}{\sqrt{\sigma^2 + \epsilon}}\left(\hat{g}_i - \overline{\hat{g}} - "
              r"\hat{x}_i\,\overline{\hat{g}\hat{x}}\right)"),
             (r"\hat{x}_i", r"\frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}")),
        ),
        Step(
            r"The three terms read: pass the gradient through the scaling, remove its group "
            r"mean (the mean was subtracted), and remove its component along $\hat{x}$ (the "
            r"variance was divided out). For the affine parameters, "
            r"$\partial y/\partial\gamma_c = " + sp.latex(affine["dgamma"]) + r"$ and "
            r"$\partial y/\partial\beta_c = " + sp.latex(affine["dbeta"]) + r"$, summed over "
            r"every element of channel $c$:",
            ((r"\frac{\partial L}{\partial \gamma_c}",
              r"\sum_{n,h,w}\frac{\partial L}{\partial y_{n,c,h,w}}\,\hat{x}_{n,c,h,w}"),
             (r"\frac{\partial L}{\partial \beta_c}",
              r"\sum_{n,h,w}\frac{\partial L}{\partial y_{n,c,h,w}}")),
        ),
    ]


def _memory_steps() -> list:
    sizes = {spec.N: 32, spec.C: 256, spec.H: 56, spec.W: 56, spec.G: 32}
    activations = spec.N * spec.C * spec.H * spec.W
    rows = []
    for key, reduction in spec.reductions().items():
        stored = 2 * reduction.sets
        rows.append((key, "$NCHW$", stored,
                     f"${int(activations.subs(sizes))}$", f"${int(stored.subs(sizes))}$"))
    return [
        Section("Memory"),
        Step(
            r"The source says GN needs less memory than LN when $G > 1$. Every method keeps "
            r"the input (or the output) of the layer for the backward pass, a tensor of "
            r"$NCHW$ values, the same for all four. What differs is the number of statistics: "
            r"a mean and an inverse standard deviation per set, $2NG$ for GN against $2N$ for "
            r"LN, so GN stores $G$ times \emph{more}, and both are negligible next to the "
            r"activations (the numbers are for the benchmark shape $32\times256\times56\times56$, "
            r"$G = 32$)."
        ),
        Table(
            r"Values kept for the backward pass.",
            ("method", "activations", "statistics", "activations (benchmark)",
             "statistics (benchmark)"),
            tuple(rows),
        ),
    ]


NOTES = (
    r"\textbf{Memory.} The claim that GN has a lower memory overhead than LN when $G > 1$ is "
    r"not true: the activations stored are the same $NCHW$ values for both, and GN keeps "
    r"$2NG$ statistics against LN's $2N$, i.e.\ more, by an amount that is negligible "
    r"($2048$ against $64$ numbers next to $25.7$ million activations in the benchmark "
    r"shape). The memory argument of the GN paper is a different one and is about BN: BN "
    r"needs a large batch for reliable statistics, large batches of high-resolution images do "
    r"not fit in memory, and GN's statistics do not depend on $N$, so it works with the one "
    r"or two images per device that memory allows.",
    r"\textbf{``LN-like'' and ``InstanceNorm-like''.} GN with $G = 1$ is not merely like "
    r"LN and GN with $G = C$ not merely like IN: they are the same functions, as proved above "
    r"(with the per-channel affine map, which the LN of convolutional networks uses; the LN of "
    r"transformers normalizes over the feature axis only and has per-feature parameters).",
    r"\textbf{Layer norm ``across all channels (and possibly spatial)''.} For a feature map "
    r"$x_{n,c,h,w}$ LN, as compared in the GN paper, reduces over $c$, $h$ and $w$ together; "
    r"reducing over channels alone would be a different method with one set per position.",
    r"\textbf{Batch norm and small batches.} The source says BN works well with large batches. "
    r"More precisely: BN's statistics are shared across the batch, so outputs depend on the "
    r"other samples; with $N = 1$ training-mode BN equals IN; with $N = H = W = 1$ its output is "
    r"the constant $\beta_c$; and at test time it switches to running averages (with the "
    r"unbiased variance), so training and inference compute different functions.",
    r"\textbf{Numbering.} The source calls the groups channels $\{1,2,3,4\}$ and "
    r"$\{5,6,7,8\}$; here channels are numbered from $0$, so they are $\{0,\dots,3\}$ and "
    r"$\{4,\dots,7\}$. The source's variance divides by $|\mathcal{S}|$ (the biased "
    r"estimate), which is what all four methods use in training mode.",
)



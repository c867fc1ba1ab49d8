r"""The words and displays of the backprop derivation (the mathematics comes from the sweep).

Each function returns :class:`~symderiv.derivation.Step` blocks for one part of
the argument; :mod:`symderiv.topics.backprop` puts them in order. Formulas are
SymPy objects from :func:`~symderiv.topics.backprop.network.sweep` or
derivatives SymPy computes here; the LaTeX strings only add what SymPy cannot
say (case distinctions, names of derivatives).
"""

from __future__ import annotations

import sympy as sp

from symderiv.derivation import Step
from symderiv.topics.backprop.functions import ACTIVATIONS, LOSSES
from symderiv.topics.backprop.generated import generated_gradient
from symderiv.topics.backprop.network import Network, Sweep, bold_ones
from symderiv.topics.backprop.reference import relu_mae_gradient

__all__ = ["relu_mae_gradient"]

LISTING_CAPTION = (
    "The checks compare the generated code with backpropagation written by hand. "
    "For the source's network (one ReLU hidden layer, one output, MAE) the reference "
    "is the function below; other settings use the same recipe with a loop over the "
    "layers."
)


def _d(numerator: str, denominator: str) -> str:
    return rf"\frac{{\partial {numerator}}}{{\partial {denominator}}}"


_BASES = {"delta": r"\boldsymbol{\delta}", "Delta": r"\boldsymbol{\Delta}"}


def _bold(name: str, layer: int) -> str:
    r"""``("W", 1) -> \mathbf{W}^{(1)}``, the notation of the printer for matrix symbols."""
    return _BASES.get(name, rf"\mathbf{{{name}}}") + f"^{{({layer})}}"


def _named(symbol: sp.MatrixSymbol) -> str:
    base, layer = str(symbol.name).rstrip("]").split("[")
    return _bold(base, int(layer))


def title(network: Network) -> str:
    hidden = ACTIVATIONS[network.activation].latex_name
    return (rf"Backpropagation through a network with ${hidden}$ hidden units, "
            rf"a linear output and the {LOSSES[network.loss].description}")


def _shape(widths) -> str:
    names = ["d"] + [f"h_{{{i}}}" for i in range(1, len(widths) - 1)] + ["m"]
    if len(widths) == 3:
        names[1] = "h"
    return ", ".join(f"{n} = {w}" for n, w in zip(names, widths, strict=True))


def _has_kinks(network: Network) -> bool:
    kinked_activation = network.depth > 1 and ACTIVATIONS[network.activation].kinked
    return LOSSES[network.loss].kinked or kinked_activation


def statement(network: Network) -> str:
    depth = network.depth
    if depth == 1:
        model = "A linear model (no hidden layer)"
    else:
        hidden = "one hidden layer" if depth == 2 else f"{depth - 1} hidden layers"
        model = (f"A fully connected network with {hidden}, activation "
                 f"${ACTIVATIONS[network.activation].latex_name}$ in every hidden layer and "
                 "a linear output layer,")
    return (
        f"{model} is trained with the {LOSSES[network.loss].description} "
        f"(widths ${_shape(network.widths)}$). "
        "Derive, by backpropagation, the gradient of the loss with respect to every weight "
        "matrix and bias vector, in matrix notation with the errors "
        r"$\delta^{(l)} = \partial L / \partial \mathbf{z}^{(l)}$"
        + ("; say what the derivative is where the loss or the activation has a kink; "
           if _has_kinks(network) else ", ")
        + "and confirm the matrix formulas entry by entry."
    )


def assumptions(network: Network) -> tuple[str, ...]:
    items = [
        r"Vectors are columns; $\mathbf{W}^{(l)}$ has one row per unit of layer $l$ and one "
        r"column per unit of layer $l-1$, so $\partial L/\partial \mathbf{W}^{(l)}$ has the "
        r"shape of $\mathbf{W}^{(l)}$.",
        r"Losses are averaged the way the common frameworks define them: over the $m$ outputs "
        r"of a sample and over the $N$ samples of a batch."
        + (r" For one output and one sample this is the source's $L = |z^{(2)} - y|$."
           if network.loss == "mae" else ""),
    ]
    if _has_kinks(network):
        items.append(network.policy.description)
    if network.activation == "leaky_relu":
        items.append(r"The leaky ReLU is $\max(\alpha u, u)$ with $0 \le \alpha < 1$.")
    return tuple(items)


def forward_steps(network: Network, one: Sweep) -> list[Step]:
    rows = tuple((_named(s), e) for s, e in one.definitions if not _is_error(s))
    loss_rows = [(r"\ell(u, y)", network.ell())]
    if network.outputs == 1:
        loss_rows.append(("L", rf"\ell\left({_bold('z', network.depth)}, y\right)"))
    else:
        loss_rows.append(("L", rf"\frac{{1}}{{{network.outputs}}} \sum_{{k=1}}^{{{network.outputs}}}"
                               rf" \ell\left(z^{{({network.depth})}}_k, y_k\right)"))
    output = rf"$\mathbf{{z}}^{{({network.depth})}}$"
    if network.loss == "bce":
        compared = (rf"{output} is the logit, and the loss compares the probability "
                    rf"$\sigma({output[1:-1]})$ with the target.")
    else:
        compared = f"the prediction is {output} itself and the loss compares it with the target."
    text = (r"The input $\mathbf{x}$ passes through the layers; the output layer is linear, so "
            + compared)
    steps = [Step(text, rows), Step("The loss of one sample is", tuple(loss_rows))]
    if network.loss == "mse":
        steps.append(Step(
            r"This is the squared error without the factor $\tfrac12$ that the convexity "
            r"question puts in front of it; with the $\tfrac12$ every gradient below would be "
            "halved."))
    if network.loss == "bce":
        steps.append(Step(
            r"This is the binary cross-entropy $-y \log \sigma(u) - (1-y)\log(1-\sigma(u))$ of "
            r"the probability $\sigma(u)$, written in terms of the logit $u$; the code evaluates "
            r"$\log(1 + e^{u})$ as \texttt{logaddexp(0, u)}, which never overflows. With several "
            "outputs each is an independent binary label and the losses are averaged."))
    return steps


def _is_error(symbol: sp.MatrixSymbol) -> bool:
    return str(symbol.name).lower().startswith("delta")


def output_error_steps(network: Network, one: Sweep, ell_prime: sp.Expr) -> list[Step]:
    depth = network.depth
    steps = [Step(
        r"SymPy differentiates the loss of one output with respect to the output $u$:",
        (_d(r"\ell", "u"), ell_prime),
    )]
    if LOSSES[network.loss].kinked:
        steps.append(Step(
            r"At $u = y$ the absolute value has a kink: the one-sided derivatives are $-1$ and "
            r"$+1$ and the subdifferential is the interval between them. "
            + _kink_sentence_abs(network),
            r"\frac{\partial \ell}{\partial u} = \begin{cases} +1, & u > y, \\ -1, & u < y, \\ "
            + _abs_value_at_kink(network) + r", & u = y. \end{cases}",
        ))
    factor = "" if network.outputs == 1 else rf", divided by $m = {network.outputs}$ for the mean"
    steps.append(Step(
        rf"Applied to every output{factor}, this is the error of the output layer:",
        (_bold("delta", depth), one.definition("delta", depth)),
    ))
    return steps


def _kink_sentence_abs(network: Network) -> str:
    if network.policy.states_sets:
        return (r"Any value in $[-1, 1]$ is a valid subgradient; the numbers use $0$, "
                r"which is also what $\operatorname{sign}(0)$ gives.")
    return r"Here $\operatorname{sign}(0) = 0$, the midpoint of $[-1, 1]$."


def _abs_value_at_kink(network: Network) -> str:
    return r"\text{any } g \in [-1, 1]" if network.policy.states_sets else "0"


def layer_titles(layer: int, depth: int) -> tuple[str, str, str]:
    """Headings for steps 3, 4 and 5 at hidden layer ``layer`` (one heading if deeper)."""
    if depth == 2:
        return ("Step 3: the error reaching the hidden layer",
                "Step 4: through the activation",
                "Step 5: the first layer's weights and bias")
    return (f"Steps 3--5 for hidden layer {layer}", "", "")


def weight_steps(one: Sweep, layer: int) -> list[Step]:
    """The weight and bias gradients of ``layer``; the argument is spelled out at the top layer."""
    delta = _bold("delta", layer)
    below = r"\mathbf{x}" if layer == 1 else _bold("a", layer - 1)
    z = _bold("z", layer)
    pairing = rf"$\operatorname{{tr}}({{{delta}}}^\top d{z})$"
    affine = rf"${z} = {_bold('W', layer)} {below} + {_bold('b', layer)}$"
    if layer == one.network.depth:
        text = (
            rf"Hold ${delta}$ fixed. A change $d{z}$ changes the loss by {pairing} to first "
            rf"order, and {affine}. SymPy's matrix calculus differentiates this pairing with "
            "respect to the weights and the bias:"
        )
    else:
        text = (rf"As for the output layer, SymPy differentiates the pairing {pairing}, now "
                rf"with {affine}:")
    return [Step(text, (
        (_d("L", _bold("W", layer)), one.gradients[f"W{layer}"]),
        (_d("L", _bold("b", layer)), one.gradients[f"b{layer}"]),
    ))]


def upstream_steps(one: Sweep, layer: int) -> list[Step]:
    a = _bold("a", layer)
    return [Step(
        rf"The same pairing, differentiated with respect to the layer's input ${a}$, carries "
        "the error one layer down:",
        (_d("L", a), one.input_gradients[layer]),
    )]


def activation_steps(network: Network, one: Sweep, layer: int) -> list[Step]:
    """Through the activation of ``layer``; its derivative and kink are stated once, at the top."""
    a, z = _bold("a", layer), _bold("z", layer)
    if layer < network.depth - 1:
        return [Step(
            rf"With ${a} = \phi({z})$ and the same $\phi'$ as above, the chain rule again "
            "multiplies entry by entry:",
            (_bold("delta", layer), one.definition("delta", layer)),
        )]
    steps = [Step(
        rf"Since ${a} = \phi({z})$ entry by entry, with $\phi = "
        rf"{ACTIVATIONS[network.activation].latex_name}$, SymPy's derivative of $\phi$ is",
        (r"\phi'(u)", network.phi_prime()),
    )]
    if ACTIVATIONS[network.activation].kinked:
        steps.append(Step(_activation_kink_text(network), _activation_cases(network)))
    steps.append(Step(
        "and the chain rule multiplies entry by entry (Hadamard product):",
        (_bold("delta", layer), one.definition("delta", layer)),
    ))
    return steps


def _activation_kink_text(network: Network) -> str:
    low = r"\alpha" if network.activation == "leaky_relu" else "0"
    text = (rf"At $u = 0$ the one-sided derivatives are ${low}$ and $1$, and the "
            rf"subdifferential is $[{low}, 1]$. ")
    if network.policy.states_sets:
        return text + rf"Any value in it is a valid subgradient; the numbers use ${low}$."
    value = sp.latex(network.policy.relu_derivative_at_zero(
        sp.Symbol("alpha") if network.activation == "leaky_relu" else sp.Integer(0)))
    return text + rf"This report uses $\phi'(0) = {value}$."


def _activation_cases(network: Network) -> str:
    low = r"\alpha" if network.activation == "leaky_relu" else "0"
    if network.policy.states_sets:
        at_zero = rf"\text{{any }} g \in [{low}, 1]"
    else:
        at_zero = sp.latex(network.policy.relu_derivative_at_zero(
            sp.Symbol("alpha") if network.activation == "leaky_relu" else sp.Integer(0)))
    return (r"\phi'(u) = \begin{cases} 1, & u > 0, \\ " + low + r", & u < 0, \\ "
            + at_zero + r", & u = 0. \end{cases}")


def summary_step(one: Sweep) -> Step:
    depth = one.network.depth
    rows = [(_bold("delta", depth), one.definition("delta", depth))]
    for layer in range(depth, 0, -1):
        rows.append((_d("L", _bold("W", layer)), one.gradients[f"W{layer}"]))
        rows.append((_d("L", _bold("b", layer)), one.gradients[f"b{layer}"]))
        if layer > 1:
            rows.append((_d("L", _bold("a", layer - 1)), one.input_gradients[layer - 1]))
            rows.append((_bold("delta", layer - 1), one.definition("delta", layer - 1)))
    return Step("For one sample, from the output down:", tuple(rows))


def batch_steps(network: Network, batch: Sweep) -> list[Step]:
    forward = tuple((_named(s), bold_ones(e)) for s, e in batch.definitions
                    if not _is_error(s))
    backward = tuple((_named(s), bold_ones(e)) for s, e in batch.definitions if _is_error(s))
    grads = tuple(
        (_d("L", _bold(name[0], int(name[1:]))), bold_ones(formula))
        for name, formula in batch.gradients.items()
    )
    return [
        Step(
            r"Stack $N$ samples as the rows of $\mathbf{X}$ and $\mathbf{Y}$; "
            r"$\mathbf{1}$ is the column of $N$ ones that adds each bias to every row. "
            r"The forward pass is",
            forward,
        ),
        Step(
            r"The batch loss is the mean over all $N m$ outputs, so the output error carries "
            r"the factor $1/(N m)$; the pairing $\operatorname{tr}(\boldsymbol{\Delta}^\top "
            r"d\mathbf{Z})$, differentiated by SymPy as before, gives",
            backward + grads,
        ),
        *([Step(
            r"Here the derivative of the activation is written through the activation itself "
            r"($\tanh' = 1 - \tanh^2$, $\sigma' = \sigma(1 - \sigma)$), so the code reuses "
            r"$\mathbf{A}^{(l)}$ instead of evaluating the activation a second time."
        )] if network.activation in ("tanh", "sigmoid") and network.depth > 1 else []),
        Step(
            r"Each weight gradient sums the per-sample outer products "
            r"$\boldsymbol{\delta}\,\mathbf{a}^\top$ over the batch, which is why the batch "
            r"form is a single matrix product."
        ),
    ]


def generated_code_text(widths, activation, loss, kink, alpha) -> str:
    source = generated_gradient(widths, activation, loss, kink, alpha).source.strip()
    rules = []
    if widths[-1] == 1 and len(widths) > 2:
        rules.append(rf"with one output $\boldsymbol{{\Delta}}^{{({len(widths) - 1})}}$ is a "
                     r"single column, so its product with a row of weights is an outer "
                     r"product, printed as a broadcasting \texttt{*}")
    in_place = [name for name in ("iadd", "imul") if f"__{name}__" in source]
    if in_place:
        names = " and ".join(rf"\texttt{{\_\_{name}\_\_}}" for name in in_place)
        rules.append(f"{names} update{'s' if len(in_place) == 1 else ''} a freshly computed "
                     "product in place instead of allocating another batch-sized array")
    count = {1: "One printing rule makes", 2: "Two printing rules make"}.get(len(rules))
    note = (f" {count} the code faster than a literal transcription: " + "; ".join(rules)
            + ".") if count else ""
    return (
        r"\texttt{gradient\_function} is not written by hand: \texttt{sympy.lambdify} prints "
        "the batch formulas above, one line per definition, as NumPy code." + note
        + " For these parameters it generated the following function:\n"
        r"\begin{lstlisting}" + "\n" + source + "\n" + r"\end{lstlisting}"
    )


def notes(network: Network) -> tuple[str, ...]:
    items = [
        r"The source states the loss once as $\mathcal{L} = |a^{(2)} y|$, with the minus sign "
        r"missing; the loss it then differentiates, and the one used here, is "
        r"$|a^{(2)} - y| = |z^{(2)} - y|$.",
        r"The source calls its loss the mean absolute error, but $|z^{(2)} - y|$ is the "
        r"absolute error of a single sample: nothing is averaged. The mean appears only over a "
        r"batch (and over several outputs); it divides every gradient by $N m$, as in the batch "
        r"formulas above.",
        r"The source writes $\delta^{(2)} = \operatorname{sign}(z^{(2)} - y)$ ``excluding the "
        r"boundary case''. At $z^{(2)} = y$ the loss has no derivative, only the subdifferential "
        r"$[-1, 1]$; the kink policy above says which element is used, and the checks evaluate "
        r"the gradient exactly at such a point.",
        r"For the ReLU the source allows ``a possible subgradient'' at $z = 0$ but then uses the "
        r"mask $\mathbf{1}_{(z > 0)}$, which silently chooses $\mathrm{ReLU}'(0) = 0$: the "
        r"\texttt{zero} policy.",
        r"The source calls the network three-layer; it has three layers of units (input, "
        r"hidden, output) but two layers of weights, which is what the superscripts count.",
        r"With one output, $z^{(2)}$, $b^{(2)}$ and $\delta^{(2)}$ are scalars, which the "
        r"source sets sometimes in bold and sometimes not. This report writes them in bold "
        r"throughout, as vectors of length $m$ (here $m = 1$), so that the same formulas "
        r"serve any number of outputs; "
        r"$\partial L/\partial \mathbf{W}^{(2)} = \boldsymbol{\delta}^{(2)} "
        r"\mathbf{a}^{(1)\top}$ is then an $m \times h$ matrix, a $1 \times h$ row for "
        r"the source's network, the shape of $\mathbf{W}^{(2)}$.",
    ]
    return tuple(items)

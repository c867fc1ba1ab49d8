r"""The network in matrix notation, and its gradients derived layer by layer with SymPy.

One :class:`Network` describes the architecture. :func:`sweep` builds its
forward definitions and derives the backward pass, either for one sample
(column vectors, as the source writes it) or for a batch (rows are samples,
as the generated NumPy code runs it):

* pre-activation: :math:`z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}` per sample,
  :math:`Z^{(l)} = A^{(l-1)} W^{(l)\top} + \mathbf{1} b^{(l)\top}` for a batch;
* output error: :math:`\delta^{(L)} = \ell'(z^{(L)}, y)/m`, :math:`\Delta^{(L)} = \ell'(Z^{(L)}, Y)/(N m)`;
* weight gradient: :math:`\delta^{(l)} a^{(l-1)\top}`, :math:`\Delta^{(l)\top} A^{(l-1)}`.

Each gradient comes from SymPy's matrix calculus: with the error
:math:`\delta` held fixed, the loss changes to first order by
:math:`\operatorname{tr}(\delta^\top dz)`, and differentiating that pairing with
respect to :math:`W`, :math:`b` and the layer input gives the three rules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

from symderiv.kinks import KinkPolicy
from symderiv.topics.backprop.functions import (
    ACTIVATIONS,
    ALPHA,
    LOSSES,
    Elementwise,
    U,
    Y,
)

BATCH = sp.Symbol("N", integer=True, positive=True)
#: The number of outputs m, kept as a symbol in the formulas (the code fills it in).
OUTPUTS = sp.Symbol("m", integer=True, positive=True)


class Ones(sp.OneMatrix):
    r"""The all-ones column :math:`\mathbf{1}` that spreads a bias over the batch."""

    def _latex(self, printer) -> str:
        return r"\mathbf{1}"


@dataclass(frozen=True)
class Network:
    """An MLP with hidden activation ``activation``, a linear output and loss ``loss``."""

    widths: tuple[int, ...]
    activation: str
    loss: str
    policy: KinkPolicy
    alpha: sp.Expr = ALPHA

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def outputs(self) -> int:
        return self.widths[-1]

    def phi(self) -> sp.Expr:
        """The hidden activation as a formula in ``u``."""
        return ACTIVATIONS[self.activation].formula(self.policy.step_at_zero, self.alpha)

    def phi_prime(self) -> sp.Expr:
        """Its derivative, by SymPy (the kink policy enters through ReLU's ``fdiff``)."""
        return sp.diff(self.phi(), U)

    def ell(self) -> sp.Expr:
        """The per-output loss as a formula in ``u`` (the output) and ``y``."""
        return LOSSES[self.loss].formula()

    def ell_prime(self) -> sp.Expr:
        return sp.diff(self.ell(), U)


@dataclass(frozen=True)
class Sweep:
    r"""Definitions in the order they are computed, and the gradients they lead to.

    ``definitions`` pairs each intermediate symbol (``z[1]``, ``a[1]``,
    ``delta[2]``, ...) with its formula in earlier symbols; ``gradients`` maps
    ``"W1"``, ``"b1"``, ... to formulas in those symbols; ``inputs`` are the
    data and parameter symbols; ``input_gradients`` maps ``a[l]`` to
    :math:`\partial L/\partial a^{(l)}` before the activation's mask is applied.
    """

    network: Network
    batch: bool
    inputs: dict[str, sp.MatrixSymbol]
    definitions: tuple[tuple[sp.MatrixSymbol, sp.Basic], ...]
    gradients: dict[str, sp.Basic]
    input_gradients: dict[int, sp.Basic]

    def symbol(self, base: str, layer: int) -> sp.MatrixSymbol:
        """The intermediate named ``base[layer]`` (``"z"``, ``"a"``, ``"delta"`` per sample)."""
        name = _name(base, layer, self.batch)
        for symbol, _ in self.definitions:
            if symbol.name == name:
                return symbol
        raise KeyError(name)

    def definition(self, base: str, layer: int) -> sp.Basic:
        return dict(self.definitions)[self.symbol(base, layer)]


def _name(base: str, layer: int, batch: bool) -> str:
    if batch:
        base = {"z": "Z", "a": "A", "delta": "Delta"}.get(base, base)
    return f"{base}[{layer}]"


def parameter_symbols(widths: tuple[int, ...]) -> dict[str, sp.MatrixSymbol]:
    """``W1 -> W[1]`` of shape (n_l, n_{l-1}) and ``b1 -> b[1]`` of shape (n_l, 1)."""
    symbols = {}
    for layer in range(1, len(widths)):
        rows, cols = widths[layer], widths[layer - 1]
        symbols[f"W{layer}"] = sp.MatrixSymbol(f"W[{layer}]", rows, cols)
        symbols[f"b{layer}"] = sp.MatrixSymbol(f"b[{layer}]", rows, 1)
    return symbols


def _in_terms_of_output(phi: sp.Expr, phi_prime: sp.Expr) -> sp.Expr | None:
    r""":math:`\phi'` as a formula in :math:`a = \phi(u)` when it is one (tanh, sigmoid)."""
    if phi == U or not phi_prime.has(phi):
        return None
    rewritten = phi_prime.xreplace({phi: U})
    return None if rewritten.has(phi) else rewritten


def bold_ones(formula: sp.Basic) -> sp.Basic:
    """Print the ones column of SymPy's derivatives as :class:`Ones` (bold 1)."""
    return formula.replace(lambda e: type(e) is sp.OneMatrix, lambda e: Ones(*e.shape))


@functools.lru_cache(maxsize=4)
def layer_rules(batch: bool) -> tuple[sp.Basic, ...]:
    r"""SymPy's derivatives of the pairing :math:`\operatorname{tr}(\delta^\top z)` for one layer.

    Derived once for symbolic sizes (``n`` units fed by ``k`` inputs) and
    returned as ``(pairing, d/dW, d/db, d/dinput)``; :func:`sweep` fills in each
    layer's own symbols.
    """
    n, k = sp.symbols("n k", integer=True, positive=True)
    weight, bias = sp.MatrixSymbol("W", n, k), sp.MatrixSymbol("b", n, 1)
    if batch:
        error, previous = sp.MatrixSymbol("Delta", BATCH, n), sp.MatrixSymbol("A", BATCH, k)
        z = previous * weight.T + Ones(BATCH, 1) * bias.T
    else:
        error, previous = sp.MatrixSymbol("delta", n, 1), sp.MatrixSymbol("a", k, 1)
        z = weight * previous + bias
    pairing = sp.Trace(error.T * z)
    return (pairing, pairing.diff(weight), pairing.diff(bias), pairing.diff(previous),
            (error, weight, bias, previous))


def _apply_rule(rule: sp.Basic, generic: tuple, actual: tuple) -> sp.Basic:
    return rule.xreplace(dict(zip(generic, actual, strict=True)))


@functools.lru_cache(maxsize=64)
def sweep(network: Network, batch: bool) -> Sweep:
    """The forward definitions and the backward pass, derived with SymPy."""
    widths, depth = network.widths, network.depth
    rows = BATCH if batch else 1
    if batch:
        inputs = {"X": sp.MatrixSymbol("X", BATCH, widths[0]),
                  "Y": sp.MatrixSymbol("Y", BATCH, widths[-1])}
    else:
        inputs = {"X": sp.MatrixSymbol("x", widths[0], 1),
                  "Y": sp.MatrixSymbol("y", widths[-1], 1)}
    params = parameter_symbols(widths)
    inputs.update(params)
    phi = sp.Lambda(U, network.phi())
    phi_prime = network.phi_prime()
    by_output = _in_terms_of_output(phi.expr, phi_prime)

    def intermediate(base: str, layer: int) -> sp.MatrixSymbol:
        width = widths[layer]
        shape = (rows, width) if batch else (width, 1)
        return sp.MatrixSymbol(_name(base, layer, batch), *shape)

    def affine(layer: int, previous: sp.MatrixSymbol) -> sp.MatrixExpr:
        weight, bias = params[f"W{layer}"], params[f"b{layer}"]
        if batch:
            return previous * weight.T + Ones(BATCH, 1) * bias.T
        return weight * previous + bias

    definitions: list[tuple[sp.MatrixSymbol, sp.Basic]] = []
    layer_inputs = {1: inputs["X"]}
    for layer in range(1, depth + 1):
        z = intermediate("z", layer)
        definitions.append((z, affine(layer, layer_inputs[layer])))
        if layer < depth:
            a = intermediate("a", layer)
            definitions.append((a, Elementwise(phi, z) if phi.expr != U else z))
            layer_inputs[layer + 1] = a

    # The output error: the loss is the mean of ell over outputs (and samples).
    count = (OUTPUTS if network.outputs > 1 else 1) * (BATCH if batch else 1)
    delta = intermediate("delta", depth)
    error = Elementwise(sp.Lambda((U, Y), network.ell_prime()), intermediate("z", depth),
                        inputs["Y"])
    definitions.append((delta, error / count if count != 1 else error))

    gradients: dict[str, sp.Basic] = {}
    input_gradients: dict[int, sp.Basic] = {}
    for layer in range(depth, 0, -1):
        previous = layer_inputs[layer]
        _, by_weight, by_bias, by_input, generic = layer_rules(batch)
        actual = (delta, params[f"W{layer}"], params[f"b{layer}"], previous)
        gradients[f"W{layer}"] = _apply_rule(by_weight, generic, actual)
        gradients[f"b{layer}"] = _apply_rule(by_bias, generic, actual)
        if layer == 1:
            break
        upstream = _apply_rule(by_input, generic, actual)
        input_gradients[layer - 1] = upstream
        delta = intermediate("delta", layer - 1)
        if phi_prime == 1:
            definitions.append((delta, upstream))
            continue
        mask = Elementwise(sp.Lambda(U, phi_prime), intermediate("z", layer - 1))
        if batch and by_output is not None:
            # tanh' = 1 - tanh^2 and sigma' = sigma (1 - sigma): reuse the activations.
            mask = Elementwise(sp.Lambda(U, by_output), layer_inputs[layer])
        definitions.append((delta, sp.HadamardProduct(upstream, mask)))
    ordered = {}
    for layer in range(1, depth + 1):
        ordered[f"W{layer}"] = gradients[f"W{layer}"]
        ordered[f"b{layer}"] = gradients[f"b{layer}"]
    return Sweep(network, batch, inputs, tuple(definitions), ordered, input_gradients)

r"""The loss written out entry by entry, differentiated symbol by symbol, and compared exactly.

For concrete widths every weight is its own SymPy symbol
(:math:`w^{(1)}_{i,j}`, :math:`b^{(1)}_i`, :math:`x_j`, ...), the loss of one
sample is a scalar expression in them, and SymPy differentiates it with
respect to each symbol separately, knowing nothing about matrices. The matrix
formulas of the sweep (:math:`\delta^{(1)} x^\top`, ...) are then evaluated
with the same symbols filled in, and :func:`prove` subtracts the two entry by
entry: the proof holds when every difference is exactly 0.

Example::

    >>> prove(Network((3, 4, 1), "relu", "mae", kink_policy("zero"))).mismatches
    0
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symderiv.topics.backprop.functions import ALPHA, U, Y
from symderiv.topics.backprop.network import OUTPUTS, Network, parameter_symbols, sweep


@dataclass(frozen=True)
class Proof:
    """The outcome: how many entries were compared and how many differ."""

    entries: int
    mismatches: int
    first_mismatch: str = ""


def scalar_parameters(widths: tuple[int, ...]) -> dict[str, sp.Matrix]:
    """``W1 -> Matrix of w[1]_i_j``, ``b1 -> column of b[1]_i`` (indices from 1)."""
    entries = {}
    for layer in range(1, len(widths)):
        rows, cols = widths[layer], widths[layer - 1]
        entries[f"W{layer}"] = sp.Matrix(rows, cols, lambda i, j, l=layer: sp.Symbol(
            f"w[{l}]_{i + 1}_{j + 1}", real=True))
        entries[f"b{layer}"] = sp.Matrix(rows, 1, lambda i, _, l=layer: sp.Symbol(
            f"b[{l}]_{i + 1}", real=True))
    return entries


def scalar_data(widths: tuple[int, ...]) -> tuple[sp.Matrix, sp.Matrix]:
    """The input ``x_1, ..., x_d`` and the targets ``y_1, ..., y_m``."""
    x = sp.Matrix(widths[0], 1, lambda j, _: sp.Symbol(f"x_{j + 1}", real=True))
    y = sp.Matrix(widths[-1], 1, lambda k, _: sp.Symbol(f"y_{k + 1}", real=True))
    return x, y


def scalar_loss(network: Network, params: dict[str, sp.Matrix], x: sp.Matrix,
                y: sp.Matrix) -> sp.Expr:
    r"""The loss of one sample as one scalar expression, built with sums, not matrices."""
    phi, ell = network.phi(), network.ell()
    activations = list(x)
    for layer in range(1, network.depth + 1):
        weights, biases = params[f"W{layer}"], params[f"b{layer}"]
        pre = [
            sp.Add(*(weights[i, j] * activations[j] for j in range(len(activations))))
            + biases[i]
            for i in range(weights.rows)
        ]
        activations = pre if layer == network.depth else [phi.xreplace({U: p}) for p in pre]
    terms = [ell.xreplace({U: out, Y: target}) for out, target in zip(activations, y, strict=True)]
    return sp.Add(*terms) / len(terms)


def explicit_gradients(network: Network, params: dict[str, sp.Matrix], x: sp.Matrix,
                       y: sp.Matrix) -> dict[str, sp.Matrix]:
    """The sweep's matrix formulas, evaluated with the scalar symbols filled in."""
    per_sample = sweep(network, batch=False)
    symbols = parameter_symbols(network.widths)
    known: dict[sp.Basic, sp.ImmutableMatrix] = {
        symbols[name]: sp.ImmutableMatrix(value) for name, value in params.items()
    }
    known[per_sample.inputs["X"]] = sp.ImmutableMatrix(x)
    known[per_sample.inputs["Y"]] = sp.ImmutableMatrix(y)
    known[OUTPUTS] = sp.Integer(network.outputs)
    for symbol, formula in per_sample.definitions:
        known[symbol] = sp.ImmutableMatrix(formula.xreplace(known).doit())
    return {
        name: sp.Matrix(formula.xreplace(known).doit())
        for name, formula in per_sample.gradients.items()
    }


def prove(network: Network) -> Proof:
    """Compare every entry of the matrix-form gradient with the symbol-by-symbol derivative."""
    params = scalar_parameters(network.widths)
    x, y = scalar_data(network.widths)
    loss = scalar_loss(network, params, x, y)
    matrix_form = explicit_gradients(network, params, x, y)
    entries = mismatches = 0
    first = ""
    for name, symbols in params.items():
        for index, symbol in enumerate(symbols):
            entries += 1
            difference = sp.diff(loss, symbol) - matrix_form[name][index]
            if difference != 0 and sp.expand(difference) != 0:
                mismatches += 1
                first = first or f"{name} entry {index}: {difference}"
    return Proof(entries, mismatches, first)


__all__ = ["ALPHA", "Proof", "explicit_gradients", "prove", "scalar_loss", "scalar_parameters"]

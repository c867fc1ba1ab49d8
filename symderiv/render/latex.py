r"""SymPy objects to LaTeX, in the notation of a deep-learning course.

:class:`NotationPrinter` subclasses SymPy's ``LatexPrinter``; notation is chosen
here, one ``_print_<Class>`` method per type, never by editing strings later.

Layer indices are written into symbol names with square brackets, which the
printer turns into parenthesised superscripts:

=====================  ==========================
name                   LaTeX
=====================  ==========================
``W[1]`` (matrix)      ``\mathbf{W}^{(1)}``
``delta[2]``           ``\delta^{(2)}``
``w[1]_2_3``           ``w^{(1)}_{2,3}``
``z[2]_1``             ``z^{(2)}_{1}``
=====================  ==========================

Matrix symbols are bold; transposes print as :math:`^\top`, Hadamard products as
:math:`\odot`, and a Heaviside step whose value at 0 is 0 as the indicator
:math:`\mathbf{1}_{(u > 0)}`.
"""

from __future__ import annotations

import re
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter

_LAYERED = re.compile(r"^(?P<base>[A-Za-z]+)\[(?P<layer>[^\]]+)\](?:_(?P<sub>.+))?$")

_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon",
    "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi",
    "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}


def _base_latex(base: str, bold: bool) -> str:
    if base in _GREEK:
        text = "\\" + base
        return rf"\boldsymbol{{{text}}}" if bold else text
    if len(base) > 1:
        return rf"\mathbf{{{base}}}" if bold else rf"\mathrm{{{base}}}"
    return rf"\mathbf{{{base}}}" if bold else base


def layered_name(name: str, bold: bool = False) -> str | None:
    """LaTeX for a ``base[layer]_sub`` name, or ``None`` if it is not one."""
    match = _LAYERED.match(name)
    if match is None:
        return None
    text = _base_latex(match["base"], bold) + "^{(" + match["layer"] + ")}"
    if match["sub"]:
        text += "_{" + match["sub"].replace("_", ",") + "}"
    return text


class NotationPrinter(LatexPrinter):
    """LaTeX printer with layer superscripts, bold matrices, ``\\top`` and ``\\odot``."""

    printmethod = "_latex"

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        layered = layered_name(expr.name)
        if layered is not None:
            return layered
        return super()._print_Symbol(expr, style=style)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        name = str(expr.name)
        layered = layered_name(name, bold=True)
        if layered is not None:
            return layered
        if _LAYERED.match(name) is None and re.fullmatch(r"[A-Za-z]+", name):
            return _base_latex(name, bold=True)
        return super()._print_MatrixSymbol(expr)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        inner = self._print(arg)
        if not isinstance(arg, sp.MatrixSymbol):
            inner = rf"\left({inner}\right)"
        return "{" + inner + r"}^{\top}"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        parts = []
        for arg in expr.args:
            text = self._print(arg)
            if isinstance(arg, (sp.MatAdd, sp.MatMul, sp.HadamardProduct)):
                text = rf"\left({text}\right)"
            parts.append(text)
        return r" \odot ".join(parts)

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # SymPy's order puts a negative term first ("-1 + \pi", "- y + z"); a course
        # writes "\pi - 1" and "z - y". Lead with the first positive term, keep the rest.
        terms = list(self._as_ordered_terms(expr, order=order))
        if terms[0].could_extract_minus_sign():
            positive = next((t for t in terms if not t.could_extract_minus_sign()), None)
            if positive is not None:
                terms.remove(positive)
                terms.insert(0, positive)
        text = ""
        for i, term in enumerate(terms):
            if i and term.could_extract_minus_sign():
                text += " - "
                term = -term
            elif i:
                text += " + "
            term_text = self._print(term)
            if self._needs_add_brackets(term):
                term_text = rf"\left({term_text}\right)"
            text += term_text
        return text

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        # SymPy parenthesises a fraction in front of a matrix: (1/4) A. Courses write 1/4 A.
        coefficient, *rest = expr.args
        if coefficient.is_Rational and coefficient.is_positive and rest:
            tail = rest[0] if len(rest) == 1 else sp.MatMul(*rest, evaluate=False)
            return self._print(coefficient) + " " + self._print(tail)
        return super()._print_MatMul(expr)

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return r"\mathbf{1}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        arg, value = expr.args[0], expr.args[1] if len(expr.args) > 1 else None
        if value == 0:
            text = r"\mathbf{1}_{(" + self._print(arg) + " > 0)}"
        else:
            text = r"H\left(" + self._print(arg) + r"\right)"
        return f"{text}^{{{exp}}}" if exp else text

    def _print_sign(self, expr: sp.sign, exp: str | None = None) -> str:
        text = r"\operatorname{sign}\left(" + self._print(expr.args[0]) + r"\right)"
        return f"{text}^{{{exp}}}" if exp else text


_PRINTER_SETTINGS = {"mul_symbol": None, "mat_delim": "("}


def latex(expr: Any, **settings: Any) -> str:
    """LaTeX of a SymPy object in symderiv's notation (a string passes through)."""
    if isinstance(expr, str):
        return expr
    return NotationPrinter({**_PRINTER_SETTINGS, **settings}).doprint(expr)


def _equation_row(item: Any) -> str:
    if isinstance(item, tuple):
        lhs, rhs = item
        return f"{latex(lhs)} &= {latex(rhs)}"
    if isinstance(item, sp.Equality):
        return f"{latex(item.lhs)} &= {latex(item.rhs)}"
    return "&" + latex(item)


def math_block(math: Any) -> str:
    """Display LaTeX for a Step's ``math``.

    One object is a single display. A tuple is an aligned block whose rows are
    objects, ``Eq`` objects or ``(lhs, rhs)`` pairs (aligned at the ``=``).
    """
    if math is None:
        return ""
    if isinstance(math, tuple) and len(math) == 2 and _is_pair(math):
        return math_block((math,))
    if isinstance(math, tuple):
        body = " \\\\\n".join(_equation_row(item) for item in math)
        return "\\begin{align*}\n" + body + "\n\\end{align*}"
    return "\\begin{equation*}\n" + latex(math) + "\n\\end{equation*}"


def _is_pair(math: tuple) -> bool:
    """A bare ``(lhs, rhs)`` pair, as opposed to a tuple of two rows."""
    return not any(isinstance(item, (tuple, sp.Equality)) for item in math) and isinstance(
        math[0], str
    )


def result_label(name: str) -> str:
    """A result's name as LaTeX text (names are plain ASCII like ``dL/dW1``)."""
    from symderiv.render.document import escape_text

    return r"\texttt{" + escape_text(name) + "}"


def summary_math(derivation: Any) -> str:
    """The results of a derivation as one display, for Jupyter's ``_repr_latex_``."""
    rows = [
        result_label(name) + " &: " + latex(value)
        for name, value in derivation.results.items()
    ]
    return "$$\\begin{aligned}" + r" \\ ".join(rows) + "\\end{aligned}$$"

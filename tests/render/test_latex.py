"""The notation printer: exact LaTeX for each notation rule."""

import pytest
import sympy as sp

from symderiv.render.latex import latex, math_block

u = sp.Symbol("u", real=True)
W1 = sp.MatrixSymbol("W[1]", 4, 3)
x = sp.MatrixSymbol("x", 3, 1)
d1 = sp.MatrixSymbol("delta[1]", 4, 1)


@pytest.mark.parametrize(("expr", "expected"), [
    (sp.Symbol("w[1]_2_3"), "w^{(1)}_{2,3}"),
    (sp.Symbol("z[2]_1"), "z^{(2)}_{1}"),
    (sp.Symbol("delta[2]"), r"\delta^{(2)}"),
    (sp.Symbol("x_1"), "x_{1}"),
    (W1, r"\mathbf{W}^{(1)}"),
    (x, r"\mathbf{x}"),
    (d1, r"\boldsymbol{\delta}^{(1)}"),
    (d1 * x.T, r"\boldsymbol{\delta}^{(1)} {\mathbf{x}}^{\top}"),
    (W1.T * d1, r"{\mathbf{W}^{(1)}}^{\top} \boldsymbol{\delta}^{(1)}"),
    (
        sp.HadamardProduct(d1, W1 * x),
        r"\boldsymbol{\delta}^{(1)} \odot \left(\mathbf{W}^{(1)} \mathbf{x}\right)",
    ),
    (sp.Heaviside(u, 0), r"\mathbf{1}_{(u > 0)}"),
    (sp.Heaviside(u, sp.Rational(1, 2)), r"H\left(u\right)"),
    (sp.sign(u - 1), r"\operatorname{sign}\left(u - 1\right)"),
    (sp.Rational(1, 2), r"\frac{1}{2}"),
    (sp.OneMatrix(3, 1), r"\mathbf{1}"),
    (sp.pi - 1, r"\pi - 1"),
    (sp.Symbol("z") - sp.Symbol("y"), "z - y"),
    (1 - sp.Symbol("alpha"), r"1 - \alpha"),
    (-sp.Symbol("a") - 1, "- a - 1"),
    (sp.Symbol("tau") ** 2 * (sp.pi - 1) / (2 * sp.pi), r"\frac{\tau^{2} \left(\pi - 1\right)}{2 \pi}"),
    (sp.Rational(1, 4) * W1, r"\frac{1}{4} \mathbf{W}^{(1)}"),
    (sp.Rational(-1, 4) * W1, r"- \frac{1}{4} \mathbf{W}^{(1)}"),
    (sp.Rational(1, 4) * W1 * x, r"\frac{1}{4} \mathbf{W}^{(1)} \mathbf{x}"),
    (
        sp.MatMul(sp.Rational(1, 4), sp.ImmutableMatrix([[1, -1]]), evaluate=False),
        r"\frac{1}{4} \left(\begin{matrix}1 & -1\end{matrix}\right)",
    ),
])
def test_notation(expr, expected):
    assert latex(expr) == expected


def test_strings_pass_through():
    assert latex(r"\max(0, u)") == r"\max(0, u)"


def test_math_block_aligns_pairs_and_equations():
    block = math_block(((r"\frac{\partial L}{\partial u}", sp.sign(u)), sp.Eq(sp.Symbol("a"), 2 * u)))
    assert block == (
        "\\begin{align*}\n"
        r"\frac{\partial L}{\partial u} &= \operatorname{sign}\left(u\right) \\" "\n"
        "a &= 2 u\n"
        "\\end{align*}"
    )
    assert math_block(u) == "\\begin{equation*}\nu\n\\end{equation*}"
    assert math_block(("L", u)) == "\\begin{align*}\nL &= u\n\\end{align*}"

"""LaTeX made readable on a terminal, as the command line prints check names and titles."""

import pytest
import sympy as sp

from symderiv.render.plain import display_width, pad, plain_text, readable_symbols


@pytest.mark.parametrize(("latex", "plain"), [
    (r"Backprop with $\operatorname{ReLU}$ units", "Backprop with ReLU units"),
    (r"ReLU: $\mathrm{Var}[\phi(z)]$", "ReLU: Var[phi(z)]"),
    (r"linearised sigmoid: $E[(\tfrac12 + \tfrac z4)^2]$", "linearised sigmoid: E[(1/2 + z/4)^2]"),
    (r"$\frac{2}{n_{\mathrm{in}}}$ and $\sqrt{2}$", "2/n_in and sqrt(2)"),
    (r"Saturation: limits as $z \to -\infty$", "Saturation: limits as z -> -inf"),
    (r"nearest kink $7.6 \times 10^{-4}$ away", "nearest kink 7.6e-4 away"),
    (r"a 64$\to$128 convolution with a $3\times 3$ kernel", "a 64 -> 128 convolution with a 3 x 3 kernel"),
    (r"\texttt{relu\_\allowbreak mae} from $400\,000$ draws", "relu_mae from 400 000 draws"),
    (r"$\hat{y} - y$, $\sigma^{2,\mathrm{GN}}$", "y\u0302 - y, sigma^(2,GN)"),
])
def test_plain_text_reads_like_the_formula(latex, plain):
    assert plain_text(latex) == plain


def test_combining_accents_take_no_column():
    assert display_width("y\u0302") == 1
    assert pad("y\u0302", 3) == "y\u0302  "


def test_readable_symbols_only_renames_latex_names():
    hat, plain_y = sp.Symbol(r"\hat{y}"), sp.Symbol("y")
    renamed = readable_symbols(hat - plain_y)
    assert {s.name for s in renamed.free_symbols} == {"y\u0302", "y"}

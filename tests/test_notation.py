"""Measured numbers are written into LaTeX one way everywhere."""

import pytest

from symderiv.notation import latex_number


@pytest.mark.parametrize(("args", "text"), [
    ((6.63e-11,), r"$6.6\times 10^{-11}$"),
    ((2.0,), "$2.0$"),
    ((9.96,), r"$1.0\times 10^{1}$"),  # the range is judged after rounding
    ((0.503, 3, (0.01, 1000)), "$0.503$"),
    ((139.2, 3, (0.01, 1000)), "$139$"),
    ((1234.0, 3, (0.01, 1000)), r"$1.23\times 10^{3}$"),
    ((-6.9e-8, 2, (1e-3, 1e4)), r"$-6.9\times 10^{-8}$"),
    ((3.1, 2, None), r"$3.1\times 10^{0}$"),
    ((0.0,), "$0$"),
    ((float("inf"),), r"$\infty$"),
    ((float("-inf"),), r"$-\infty$"),
    ((float("nan"),), "n/a"),
])
def test_latex_number(args, text):
    assert latex_number(*args) == text

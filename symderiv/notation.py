r"""Numbers written into LaTeX prose and tables, the same way in every topic and renderer.

Topics may not import the renderers, and the renderers may not import topics;
both format measured numbers (errors, tolerances, simulated factors), so the
one formatter lives here.

Example::

    >>> latex_number(6.63e-11)
    '$6.6\\times 10^{-11}$'
    >>> latex_number(0.503, digits=3, fixed=(0.01, 1000))
    '$0.503$'
"""

from __future__ import annotations

import math


def latex_number(value: float, digits: int = 2, fixed: tuple[float, float] | None = (1.0, 10.0)) -> str:
    r"""``value`` to ``digits`` significant digits, in math mode.

    Inside the ``fixed`` range of magnitudes (after rounding) it is written as a
    decimal, outside as :math:`m\times 10^{e}`; ``fixed=None`` always uses the
    latter. Zero is ``$0$``, infinities ``$\infty$`` and NaN ``n/a``.
    """
    if value == 0:
        return "$0$"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return r"$\infty$" if value > 0 else r"$-\infty$"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    power = int(exponent)
    if fixed is not None and fixed[0] <= 10.0**power < fixed[1]:
        return f"${value:.{max(digits - 1 - power, 0)}f}$"
    return rf"${mantissa}\times 10^{{{power}}}$"

r"""What a derivative means where the function has a kink.

:math:`|u|`, :math:`\max(0, u)` and the leaky ReLU have no derivative at
:math:`u = 0`; their subdifferentials there are :math:`[-1, 1]`, :math:`[0, 1]`
and :math:`[\alpha, 1]`. One :class:`KinkPolicy` picks the number used, and the
same choice flows into the LaTeX, the generated NumPy code and every check:

``zero``
    :math:`\operatorname{sign}(0) = 0` and :math:`H(0) = 0`, so
    :math:`\mathrm{relu}'(0) = 0` and :math:`\mathrm{leaky}'(0) = \alpha`:
    what PyTorch, JAX and TensorFlow return. The default.
``half``
    :math:`H(0) = 1/2` (SymPy's convention), so :math:`\mathrm{relu}'(0) = 1/2`,
    the midpoint of the subdifferential; :math:`\operatorname{sign}(0) = 0`.
``set``
    the report states the whole subdifferential; numbers use the ``zero`` values.

Example::

    >>> kink_policy("half").step_at_zero
    1/2
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symderiv.errors import InputError


@dataclass(frozen=True)
class KinkPolicy:
    """How derivatives at kinks are evaluated and described."""

    name: str
    step_at_zero: sp.Rational
    description: str

    def step(self, u: sp.Expr) -> sp.Expr:
        """The Heaviside step :math:`H(u)` with this policy's value at 0."""
        return sp.Heaviside(u, self.step_at_zero)

    def sign(self, u: sp.Expr) -> sp.Expr:
        """:math:`\\operatorname{sign}(u)`, which is 0 at 0 under every policy."""
        return sp.sign(u)

    def relu_derivative_at_zero(self, alpha: sp.Expr | int = 0) -> sp.Expr:
        """The number used for the (leaky) ReLU derivative at 0 (slope ``alpha`` left of 0)."""
        alpha = sp.sympify(alpha)
        return alpha + (1 - alpha) * self.step_at_zero

    @property
    def states_sets(self) -> bool:
        """Whether reports spell out the subdifferential instead of one value."""
        return self.name == "set"

    def abs_at_zero_latex(self) -> str:
        r"""LaTeX for :math:`\partial|u|` at 0 under this policy."""
        if self.states_sets:
            return r"\partial|u|\,\big|_{u=0} = [-1, 1]"
        return r"\partial|u|/\partial u\,\big|_{u=0} := 0"

    def relu_at_zero_latex(self) -> str:
        r"""LaTeX for :math:`\mathrm{ReLU}'(0)` under this policy."""
        if self.states_sets:
            return r"\partial\,\mathrm{ReLU}(u)\,\big|_{u=0} = [0, 1]"
        return rf"\mathrm{{ReLU}}'(0) := {sp.latex(self.step_at_zero)}"


POLICIES: dict[str, KinkPolicy] = {
    "zero": KinkPolicy(
        "zero",
        sp.Integer(0),
        r"At a kink the derivative is taken as $\operatorname{sign}(0) = 0$ and "
        r"$\mathrm{ReLU}'(0) = 0$ (the leaky ReLU uses its left slope $\alpha$), "
        r"the values the common deep-learning frameworks return.",
    ),
    "half": KinkPolicy(
        "half",
        sp.Rational(1, 2),
        r"At a kink the derivative is taken as the midpoint of the subdifferential: "
        r"$\operatorname{sign}(0) = 0$ and $\mathrm{ReLU}'(0) = H(0) = \tfrac12$ "
        r"(SymPy's Heaviside convention).",
    ),
    "set": KinkPolicy(
        "set",
        sp.Integer(0),
        r"At a kink any element of the subdifferential is a valid subgradient: "
        r"$\partial|u| = [-1, 1]$ and $\partial\,\mathrm{ReLU}(u) = [0, 1]$ at $u = 0$. "
        r"Numbers use the element $0$.",
    ),
}


def kink_policy(name: str | KinkPolicy) -> KinkPolicy:
    """Look up a policy by name; an unknown name is an :class:`InputError`."""
    if isinstance(name, KinkPolicy):
        return name
    try:
        return POLICIES[name]
    except (KeyError, TypeError):
        raise InputError(
            f"kink={name!r} is not a kink policy; choose one of: {', '.join(POLICIES)}"
        ) from None

r"""The scalar pieces of a network, as SymPy functions that differentiate, print and run.

A network's hidden activation :math:`\phi` and its per-output loss
:math:`\ell(u, y)` are applied entry by entry. Each is a SymPy expression in
one or two dummy variables, so SymPy's ``diff`` finds :math:`\phi'` and
:math:`\partial\ell/\partial u`. Three functions SymPy lacks are defined here:

* :class:`ReLU` and :class:`LeakyReLU`, whose derivative is the kink policy's
  Heaviside step :math:`H(u)` with the policy's value :math:`H(0)`, carried as an
  argument so that one class serves every policy;
* :class:`Sigmoid` and :class:`Softplus`, so that the binary cross-entropy of a
  logit differentiates to :math:`\sigma(u) - y` and runs without overflow.

:class:`Elementwise` applies such a function to whole matrices, inside matrix
expressions; it prints as :math:`\phi(\mathbf{z})` in LaTeX and as one NumPy
expression in generated code.

Example::

    >>> u = sp.Symbol("u", real=True)
    >>> ReLU(u, 0).diff(u)
    Heaviside(u, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixExpr
from sympy.printing.pretty.stringpict import prettyForm

U = sp.Symbol("u", real=True)
Y = sp.Symbol("y", real=True)
ALPHA = sp.Symbol("alpha", positive=True)


def _numpy(printer, name: str) -> str:
    return printer._module_format("numpy." + name)


class _ScalarFunction(sp.Function):
    """A real function of the network's scalars: ``fdiff`` in the first argument only.

    Subclasses give :meth:`derivative`, :meth:`call_latex` (the LaTeX without a
    power) and ``_numpycode``.
    """

    is_real = True

    def derivative(self) -> sp.Expr:
        raise NotImplementedError

    def call_latex(self, printer) -> str:
        raise NotImplementedError

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return self.derivative()

    def _latex(self, printer, exp: str | None = None) -> str:
        text = self.call_latex(printer)
        return f"{text}^{{{exp}}}" if exp else text


class ReLU(_ScalarFunction):
    r""":math:`\max(0, u)`; the second argument is :math:`H(0)`, the derivative used at 0."""

    nargs = 2

    def derivative(self) -> sp.Expr:
        u, at_zero = self.args
        return sp.Heaviside(u, at_zero)

    def call_latex(self, printer) -> str:
        return r"\operatorname{ReLU}\left(" + printer._print(self.args[0]) + r"\right)"

    def _numpycode(self, printer) -> str:
        return f"{_numpy(printer, 'maximum')}({printer._print(self.args[0])}, 0)"


class LeakyReLU(_ScalarFunction):
    r""":math:`\max(\alpha u, u)` for :math:`0 \le \alpha < 1`; arguments ``(u, alpha, H(0))``."""

    nargs = 3

    def derivative(self) -> sp.Expr:
        u, alpha, at_zero = self.args
        return alpha + (1 - alpha) * sp.Heaviside(u, at_zero)

    def call_latex(self, printer) -> str:
        u, alpha, _ = self.args
        return (r"\operatorname{LeakyReLU}_{" + printer._print(alpha) + r"}\left("
                + printer._print(u) + r"\right)")

    def _numpycode(self, printer) -> str:
        u, alpha, _ = (printer._print(a) for a in self.args)
        return f"{_numpy(printer, 'maximum')}({u}, ({alpha})*{u})"


class Sigmoid(_ScalarFunction):
    r""":math:`\sigma(u) = 1 / (1 + e^{-u})`, evaluated as :math:`e^{-\operatorname{softplus}(-u)}`."""

    nargs = 1

    def derivative(self) -> sp.Expr:
        return self * (1 - self)

    def call_latex(self, printer) -> str:
        return r"\sigma\left(" + printer._print(self.args[0]) + r"\right)"

    def _numpycode(self, printer) -> str:
        u = printer._print(self.args[0])
        return f"{_numpy(printer, 'exp')}(-{_numpy(printer, 'logaddexp')}(0, -({u})))"


class Softplus(_ScalarFunction):
    r""":math:`\log(1 + e^{u})`, evaluated as ``logaddexp(0, u)`` so it never overflows."""

    nargs = 1

    def derivative(self) -> sp.Expr:
        return Sigmoid(self.args[0])

    def call_latex(self, printer) -> str:
        return r"\log\left(1 + e^{" + printer._print(self.args[0]) + r"}\right)"

    def _numpycode(self, printer) -> str:
        return f"{_numpy(printer, 'logaddexp')}(0, {printer._print(self.args[0])})"


# ------------------------------------------------------------------ the tables


@dataclass(frozen=True)
class Activation:
    """A hidden activation: its formula in ``u`` and where it has a kink."""

    name: str
    latex_name: str
    kinked: bool

    def formula(self, at_zero: sp.Expr, alpha: sp.Expr = ALPHA) -> sp.Expr:
        return {
            "relu": lambda: ReLU(U, at_zero),
            "leaky_relu": lambda: LeakyReLU(U, alpha, at_zero),
            "tanh": lambda: sp.tanh(U),
            "sigmoid": lambda: Sigmoid(U),
            "identity": lambda: U,
        }[self.name]()


@dataclass(frozen=True)
class Loss:
    r"""A per-output loss :math:`\ell(u, y)` of the output pre-activation ``u``."""

    name: str
    description: str
    kinked: bool

    def formula(self) -> sp.Expr:
        return {
            "mae": lambda: sp.Abs(U - Y),
            "mse": lambda: (U - Y) ** 2,
            "bce": lambda: Softplus(U) - Y * U,
        }[self.name]()


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", r"\operatorname{ReLU}", kinked=True),
    "leaky_relu": Activation("leaky_relu", r"\operatorname{LeakyReLU}_\alpha", kinked=True),
    "tanh": Activation("tanh", r"\tanh", kinked=False),
    "sigmoid": Activation("sigmoid", r"\sigma", kinked=False),
    "identity": Activation("identity", r"\operatorname{id}", kinked=False),
}

LOSSES: dict[str, Loss] = {
    "mae": Loss("mae", "mean absolute error", kinked=True),
    "mse": Loss("mse", "mean squared error", kinked=False),
    "bce": Loss("bce", "binary cross-entropy of the logit", kinked=False),
}


# ------------------------------------------------------------------ matrices


class _Code(sp.Symbol):
    """Stands for already-printed code inside a scalar formula (printing only)."""

    def _numpycode(self, printer) -> str:
        return self.name

    def _latex(self, printer) -> str:
        return self.name

    def _sympystr(self, printer) -> str:
        return self.name


class _Bold(sp.Symbol):
    """Stands for a matrix inside a scalar formula, so the formula prints with a bold name.

    The name is ``"<position>|<matrix name>"``: the position keeps the terms in
    the order of the formula's variables (``z - y``, not ``-y + z``).
    """

    def _latex(self, printer) -> str:
        return printer._print(sp.MatrixSymbol(self.name.split("|", 1)[1], 1, 1))


class Elementwise(MatrixExpr):
    r"""A scalar formula applied entry by entry: ``Elementwise(Lambda((u, y), f), Z, Y)``.

    Entry :math:`(i, j)` is :math:`f(Z_{ij}, Y_{ij})`; every matrix argument has
    the same shape. In LaTeX it prints as the formula with bold matrix names
    (:math:`\operatorname{sign}(\mathbf{z}^{(2)} - \mathbf{y})`), in NumPy as
    one broadcasting expression.
    """

    def __new__(cls, function: sp.Lambda, *matrices: sp.Basic):
        if len(function.variables) != len(matrices):
            raise ValueError("Elementwise needs one matrix per variable of the function")
        shapes = {m.shape for m in matrices}
        if len(shapes) != 1:
            raise ValueError(f"Elementwise arguments differ in shape: {sorted(map(str, shapes))}")
        return sp.Basic.__new__(cls, function, *matrices)

    @property
    def function(self) -> sp.Lambda:
        return self.args[0]

    @property
    def matrices(self) -> tuple[sp.Basic, ...]:
        return self.args[1:]

    @property
    def shape(self):
        return self.matrices[0].shape

    def _entry(self, i, j, **kwargs):
        return self.function(*(m[i, j] for m in self.matrices))

    def doit(self, **hints):
        matrices = [m.doit(**hints) for m in self.matrices]
        if all(isinstance(m, sp.MatrixBase) for m in matrices):
            rows, cols = self.shape
            return sp.ImmutableMatrix(rows, cols, lambda i, j: self.function(
                *(m[i, j] for m in matrices)))
        return Elementwise(self.function, *matrices)

    def _placed(self, wrap) -> sp.Expr:
        return self.function.expr.xreplace(
            {v: wrap(m) for v, m in zip(self.function.variables, self.matrices, strict=True)}
        )

    def _latex(self, printer) -> str:
        positions = {m: i for i, m in enumerate(self.matrices)}

        def bold(matrix):
            if isinstance(matrix, sp.MatrixSymbol):
                return _Bold(f"{positions[matrix]}|{matrix.name}", **matrix_assumptions())
            return _Code(printer._print(matrix), real=True)

        def rank(term):
            marks = [int(b.name.split("|")[0]) for b in term.atoms(_Bold)]
            return (term.could_extract_minus_sign(), min(marks) if marks else len(positions))

        body = self._placed(bold).replace(
            lambda e: e.is_Add, lambda e: sp.Add(*sorted(e.args, key=rank), evaluate=False))
        ordered = type(printer)({
            key: value for key, value in printer._settings.items()
            if key in printer._default_settings
        } | {"order": "none"})
        text = ordered._print(body)
        return rf"\left({text}\right)" if body.is_Add else text

    def _named_body(self) -> sp.Expr:
        """The formula with each matrix as its name (``str``), terms in the variables' order."""
        positions = {}

        def named(matrix):
            symbol = _Code(sp.sstr(matrix), real=True)
            positions.setdefault(symbol, len(positions))
            return symbol

        body = self._placed(named)

        def rank(term):
            marks = [positions[s] for s in term.atoms(_Code) if s in positions]
            return (term.could_extract_minus_sign(), min(marks) if marks else len(positions))

        return body.replace(lambda e: e.is_Add,
                            lambda e: sp.Add(*sorted(e.args, key=rank), evaluate=False))

    def _sympystr(self, printer) -> str:
        # The formula in the matrices' names, applied entry by entry as in NumPy:
        # sign(z[2] - y), 1 - tanh(z[1])**2.
        ordered = type(printer)({"order": "none"})
        body = self._named_body()
        text = ordered._print(body)
        return f"({text})" if body.is_Add else text

    def _pretty(self, printer):
        ordered = type(printer)({**{key: value for key, value in printer._settings.items()
                                    if key in printer._default_settings}, "order": "none"})
        body = self._named_body()
        form = ordered._print(body)
        return prettyForm(*form.parens()) if body.is_Add else form

    def _numpycode(self, printer) -> str:
        def code(matrix):
            text = printer._print(matrix)
            if not text.isidentifier():
                text = f"({text})"
            return _Code(text, real=True)

        return printer._print(self._placed(code))


def matrix_assumptions() -> dict[str, bool]:
    """Entries of the matrices in a network are real numbers."""
    return {"real": True}

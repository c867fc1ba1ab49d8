r"""The batch gradient as NumPy code, generated from the derived sweep by ``sympy.lambdify``.

The batch sweep of :mod:`symderiv.topics.backprop.network` is already in the
order a program runs it (forward definitions, then the errors
:math:`\Delta^{(L)}, \dots, \Delta^{(1)}`), so its definitions are handed to
``lambdify`` as the common subexpressions and each becomes one line of the
generated function. :class:`BatchPrinter` prints the three things NumPy writes
differently from the mathematics: the all-ones column (a bias row is
broadcast, :math:`\Delta^\top \mathbf{1}` is a column sum), a scalar factor,
and the policy's step :math:`H(u)` (``numpy.heaviside`` with the policy's
value at 0).

Example::

    >>> g = gradient_function((3, 4, 1))
    >>> sorted(g(params, X, y))
    ['W1', 'W2', 'b1', 'b2']
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symderiv.errors import InputError
from symderiv.kinks import kink_policy
from symderiv.topics.backprop.functions import ACTIVATIONS, LOSSES
from symderiv.topics.backprop.network import BATCH, OUTPUTS, Network, sweep

Gradient = Callable[[Mapping[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]]


class BatchPrinter(NumPyPrinter):
    """NumPy printer for batch matrix expressions whose biases are 1-D arrays."""

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        if len(matrices) == 2 and isinstance(matrices[0], sp.OneMatrix):
            # 1 b^T: a bias row, which NumPy broadcasts over the batch.
            text = self._print(_untransposed(matrices[1]))
        elif len(matrices) == 2 and isinstance(matrices[1], sp.OneMatrix):
            # D^T 1: the sum over the batch.
            text = f"{self._print(_untransposed(matrices[0]))}.sum(axis=0)"
        elif len(matrices) == 2 and matrices[0].shape[1] == 1:
            # A column times a row is an outer product: one broadcasting multiply.
            text = f"{self.parenthesize(matrices[0], 50)}*{self.parenthesize(matrices[1], 50)}"
        else:
            text = " @ ".join(self.parenthesize(m, 50) for m in matrices)
        if coefficient == 1:
            return text
        numerator, denominator = sp.fraction(coefficient)
        scaled = text if numerator == 1 else f"{self._print(numerator)}*{_wrapped(text)}"
        if denominator == 1:
            return scaled
        return f"{_wrapped(scaled)}/{_wrapped(self._print(denominator))}"

    # The two rules below update a freshly computed product in place (``+=``, ``*=``)
    # instead of allocating one more batch-sized array for the sum or the product.

    def _print_MatAdd(self, expr: sp.MatAdd) -> str:
        products = [t for t in expr.args if _fresh_product(t)]
        biases = [t for t in expr.args if _bias_row(t)]
        if len(products) == 1 and len(products) + len(biases) == len(expr.args):
            added = " + ".join(self._print(b) for b in biases)
            return f"({self._print(products[0])}).__iadd__({added})"
        return super()._print_MatAdd(expr)

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        first, *rest = expr.args
        factors = "*".join(_wrapped(self._print(arg)) for arg in rest)
        if _fresh_product(first):
            inner = self._print(rest[0]) if len(rest) == 1 else factors
            return f"({self._print(first)}).__imul__({inner})"
        return f"{_wrapped(self._print(first))}*{factors}"

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        rows, cols = expr.arg.shape
        text = self.parenthesize(expr.arg, 100)
        # A transposed row or column is a reshape: it keeps unit strides, which lets
        # NumPy hand the product to BLAS (a strided .T view of a vector does not).
        if cols == 1:
            return f"{text}.reshape(1, -1)"
        if rows == 1:
            return f"{text}.reshape(-1, 1)"
        return f"{text}.T"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        u, at_zero = expr.args
        if at_zero == 0:
            # H(u) with H(0) = 0 is the mask u > 0 (a boolean array, cheaper than heaviside).
            return f"({self._print(u)} > 0)"
        return f"{self._module_format('numpy.heaviside')}({self._print(u)}, {float(at_zero)!r})"

    def _print_sign(self, expr: sp.sign) -> str:
        return f"{self._module_format('numpy.sign')}({self._print(expr.args[0])})"


def _wrapped(text: str) -> str:
    """``text`` in parentheses unless it is a name, a call or already one parenthesised group."""
    if text.replace(".", "").replace("_", "").isalnum():
        return text
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in "+-*/@ " and position:
            return f"({text})"
    return text


def _fresh_product(term: sp.Basic) -> bool:
    """A matrix product NumPy computes into a new array (no ones, no scalar factor)."""
    return (isinstance(term, sp.MatMul) and term.as_coeff_matrices()[0] == 1
            and not any(isinstance(m, sp.OneMatrix) for m in term.args))


def _bias_row(term: sp.Basic) -> bool:
    return isinstance(term, sp.MatMul) and isinstance(term.args[0], sp.OneMatrix)


def _untransposed(matrix: sp.Basic) -> sp.Basic:
    return matrix.arg if isinstance(matrix, sp.Transpose) else matrix


def _safe(symbol: sp.MatrixSymbol) -> sp.MatrixSymbol:
    """``W[1] -> W1``: lambdify needs Python identifiers for matrix arguments."""
    return sp.MatrixSymbol(str(symbol.name).replace("[", "").replace("]", ""), *symbol.shape)


def alpha_value(alpha: float) -> sp.Rational:
    """The leaky slope as an exact rational (0.01 -> 1/100), so the code prints it exactly."""
    return sp.Rational(repr(float(alpha)))


@functools.lru_cache(maxsize=32)
def generated_gradient(widths: tuple[int, ...], activation: str, loss: str, kink: str,
                       alpha: float) -> Callable[..., list[np.ndarray]]:
    """``f(X, Y, N, W1, b1, ..., WL, bL) -> [dW1, db1, ..., dWL, dbL]``, by lambdify.

    ``Y`` is 2-D (N, out); biases are 1-D. The function's source is on ``f.source``.
    """
    network = Network(widths, activation, loss, kink_policy(kink), alpha_value(alpha))
    batch = sweep(network, batch=True)
    rename = {symbol: _safe(symbol) for symbol in batch.inputs.values()}
    rename.update({symbol: _safe(symbol) for symbol, _ in batch.definitions})
    arguments = [rename[batch.inputs["X"]], rename[batch.inputs["Y"]], BATCH]
    arguments += [rename[batch.inputs[name]] for name in batch.gradients]
    rename[OUTPUTS] = sp.Integer(widths[-1])
    steps = [(rename[s], e.xreplace(rename)) for s, e in batch.definitions]
    outputs = [g.xreplace(rename) for g in batch.gradients.values()]
    function = sp.lambdify(
        arguments, outputs, modules=[{"numpy": np}], printer=BatchPrinter,
        cse=lambda exprs: (steps, exprs), docstring_limit=0,
    )
    function.source = inspect.getsource(function)
    return function


#: The leaky ReLU's default slope; any other value is refused for other activations.
DEFAULT_ALPHA = 0.01


def validate_architecture(widths: tuple[int, ...], activation: str, loss: str, kink: str,
                          alpha: float) -> tuple[int, ...]:
    """Refuse what the derivation does not cover; return ``widths`` as a tuple of ints."""
    try:
        widths = tuple(int(w) for w in widths)
    except (TypeError, ValueError):
        raise InputError(
            f"widths={widths!r} is not a sequence of integers; give the layer widths "
            "from input to output, for example (3, 4, 1)"
        ) from None
    if len(widths) < 2:
        raise InputError(
            f"widths={widths} has {len(widths)} entr{'y' if len(widths) == 1 else 'ies'}; "
            "give at least an input and an output width, for example (3, 4, 1)"
        )
    if any(w < 1 for w in widths):
        raise InputError(f"widths={widths} has a width below 1; every layer needs at least one unit")
    if activation not in ACTIVATIONS:
        raise InputError(
            f"activation={activation!r} is not supported; choose one of: {', '.join(ACTIVATIONS)}"
        )
    if loss not in LOSSES:
        raise InputError(f"loss={loss!r} is not supported; choose one of: {', '.join(LOSSES)}")
    kink_policy(kink)
    if not (isinstance(alpha, (int, float)) and 0 <= alpha < 1):
        raise InputError(
            f"alpha={alpha!r} is not a leaky-ReLU slope; choose a number with 0 <= alpha < 1"
        )
    if activation != "leaky_relu" and alpha != DEFAULT_ALPHA:
        raise InputError(
            f"alpha={alpha!r} is the slope of the leaky ReLU and plays no part with "
            f"activation={activation!r}; leave alpha at its default {DEFAULT_ALPHA} or choose "
            "activation='leaky_relu'"
        )
    return widths


def gradient_function(widths, activation: str = "relu", loss: str = "mae", kink: str = "zero",
                      alpha: float = DEFAULT_ALPHA) -> Gradient:
    r"""The batch gradient of the mean loss, generated from the derived matrix formulas.

    Returns ``g(params, X, y) -> {"W1", "b1", ..., "WL", "bL"}`` where ``params``
    holds ``W_l`` of shape ``(widths[l], widths[l-1])`` and ``b_l`` of shape
    ``(widths[l],)``, ``X`` has shape ``(N, widths[0])`` and ``y`` shape
    ``(N, widths[-1])`` (or ``(N,)`` for one output). The loss is
    :math:`L = \frac{1}{N m}\sum_{n,k} \ell(z^{(L)}_{nk}, y_{nk})` with ``m`` outputs.

    Example::

        >>> g = gradient_function((784, 256, 1), activation="relu", loss="mae")
        >>> grads = g(params, X, y); grads["W1"].shape
        (256, 784)
    """
    widths = validate_architecture(widths, activation, loss, kink, alpha)
    function = generated_gradient(widths, activation, loss, kink, float(alpha))
    names = [f"{kind}{layer}" for layer in range(1, len(widths)) for kind in ("W", "b")]
    expected = {}
    for layer in range(1, len(widths)):
        expected[f"W{layer}"] = (widths[layer], widths[layer - 1])
        expected[f"b{layer}"] = (widths[layer],)
    described = f"widths={widths}"

    def gradient(params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray):
        values = _check_params(params, expected, described)
        X, Y = _check_data(_floating(X, "X"), _floating(y, "y"), widths, described)
        if loss == "bce" and (np.any(Y < 0) or np.any(Y > 1)):
            raise InputError(
                f"loss='bce' needs targets y in [0, 1]; got values from {Y.min():g} to "
                f"{Y.max():g}; rescale y or use loss='mse'"
            )
        grads = function(X, Y, X.shape[0], *(values[name] for name in names))
        return dict(zip(names, grads, strict=True))

    gradient.source = function.source
    gradient.__doc__ = f"Batch gradient for {described}, activation={activation}, loss={loss}."
    return gradient


def _floating(value, name: str) -> np.ndarray:
    """Arrays of floats pass through untouched; integers, booleans and lists become float64.

    Anything else (complex numbers, strings, objects) is refused: casting would drop an
    imaginary part silently or fail with NumPy's own message.
    """
    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.floating):
        return value
    if value.dtype.kind in "biu":
        return value.astype(np.float64)
    hint = (f"; pass {name}.real if the imaginary part is meant to be dropped"
            if value.dtype.kind == "c" else "")
    raise InputError(
        f"{name} has dtype {value.dtype}; the gradient needs real numbers, an array of "
        f"floats or integers{hint}"
    )


def _check_params(params: Mapping[str, np.ndarray], expected: dict[str, tuple[int, ...]],
                  described: str) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise InputError(
            f"params must be a mapping with keys {', '.join(expected)}; got {type(params).__name__}"
        )
    missing = [k for k in expected if k not in params]
    extra = sorted(k for k in params if k not in expected)
    if missing or extra:
        raise InputError(
            f"params for {described} need exactly the keys {', '.join(expected)}; "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {', '.join(extra)}" if extra else "")
        )
    values = {}
    for name, shape in expected.items():
        value = _floating(params[name], name)
        if value.shape != shape:
            raise InputError(
                f"{name} has shape {value.shape}; {described} needs {shape} "
                "(W_l is (out, in) and b_l is (out,), with out = widths[l], in = widths[l-1])"
            )
        values[name] = value
    return values


def _check_data(X: np.ndarray, y: np.ndarray, widths: tuple[int, ...],
                described: str) -> tuple[np.ndarray, np.ndarray]:
    inputs, outputs = widths[0], widths[-1]
    if X.ndim != 2 or X.shape[1] != inputs or X.shape[0] == 0:
        raise InputError(
            f"X has shape {X.shape}; {described} needs (N, {inputs}) with N >= 1 samples as rows"
        )
    samples = X.shape[0]
    if y.shape == (samples, outputs):
        return X, y
    if outputs == 1 and y.shape == (samples,):
        return X, y.reshape(samples, 1)
    allowed = f"({samples}, {outputs})" + (f" or ({samples},)" if outputs == 1 else "")
    raise InputError(f"y has shape {y.shape}; for X of shape {X.shape} it must be {allowed}")

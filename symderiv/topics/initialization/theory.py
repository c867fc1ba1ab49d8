r"""The mathematics of He and Xavier initialization, as exact SymPy values.

Everything here is derived, not quoted: activation moments by integrating
against the Gaussian density, weight variances by solving the forward and
backward variance conditions with :func:`sympy.solve`, the uniform bound by
solving :math:`\operatorname{Var}[U(-b, b)] = \sigma^2`.

The public functions are re-exported by :mod:`symderiv.topics.initialization`.

Example::

    >>> weight_variance("he", n_in=256)
    1/128
    >>> activation_moments("relu", sp.Symbol("tau", positive=True))[2]
    tau**2*(-1 + pi)/(2*pi)
"""

from __future__ import annotations

import functools
import numbers
from fractions import Fraction
from typing import Any

import sympy as sp

from symderiv.errors import InputError

Z = sp.Symbol("z", real=True)
TAU = sp.Symbol("tau", positive=True)
ALPHA = sp.Symbol("alpha", nonnegative=True)
SIGMA = sp.Symbol("sigma", positive=True)
N_IN = sp.Symbol("n_in", positive=True, integer=True)
N_OUT = sp.Symbol("n_out", positive=True, integer=True)
BOUND = sp.Symbol("b", positive=True)

# An activation is a list of pieces (expression in z, lower end, upper end):
# integrating piece by piece keeps every integral elementary.
PIECES: dict[str, tuple[tuple[sp.Expr, sp.Expr, sp.Expr], ...]] = {
    "relu": ((sp.Integer(0), -sp.oo, sp.Integer(0)), (Z, sp.Integer(0), sp.oo)),
    "leaky_relu": ((ALPHA * Z, -sp.oo, sp.Integer(0)), (Z, sp.Integer(0), sp.oo)),
    "identity": ((Z, -sp.oo, sp.oo),),
}
ACTIVATIONS = tuple(PIECES)
# Saturating activations enter only through their linearisation at 0.
SMOOTH = {"tanh": sp.tanh(Z), "sigmoid": 1 / (1 + sp.exp(-Z))}
# The example convolution of the report: 64 -> 128 channels, 3x3 kernel.
CONV_EXAMPLE = (64, 128, (3, 3))
C_IN, C_OUT, K_H, K_W = sp.symbols("C_in C_out k_h k_w", positive=True, integer=True)
SCHEMES = ("he", "xavier")
MODES = ("fan_in", "fan_out", "fan_avg")
_DEFAULT_MODE = {"he": "fan_in", "xavier": "fan_avg"}


def gaussian_density(z: sp.Expr = Z, tau: sp.Expr = TAU) -> sp.Expr:
    r"""The density of :math:`\mathcal{N}(0, \tau^2)`."""
    return sp.exp(-(z**2) / (2 * tau**2)) / (sp.sqrt(2 * sp.pi) * tau)


def expectation_integrals(
    activation: str, power: int, derivative: bool = False, density: sp.Expr | None = None
) -> list[sp.Integral]:
    r"""The unevaluated integrals whose sum is :math:`E[\phi(z)^k]` (or :math:`E[\phi'(z)^k]`).

    ``density`` replaces the Gaussian density, e.g. by a symbol :math:`p(z)` for display.
    """
    _check_activation(activation)
    density = gaussian_density() if density is None else density
    integrals = []
    for expr, low, high in PIECES[activation]:
        piece = sp.diff(expr, Z) if derivative else expr
        if piece != 0:
            integrals.append(sp.Integral(piece**power * density, (Z, low, high)))
    return integrals


@functools.cache
def _moment(activation: str, power: int, derivative: bool = False) -> sp.Expr:
    """E[phi(z)^power] for z ~ N(0, tau^2), symbolic in tau and alpha."""
    total = sum((i.doit() for i in expectation_integrals(activation, power, derivative)),
                sp.Integer(0))
    return sp.factor(total)


def activation_moments(
    activation: str, tau: Any = TAU, alpha: Any = None
) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r"""Mean, second moment and variance of :math:`\phi(z)` for :math:`z \sim \mathcal{N}(0, \tau^2)`.

    Derived by integrating :math:`\phi(z)^k` against the Gaussian density.
    ``activation`` is ``relu``, ``leaky_relu`` (slope ``alpha`` for :math:`z < 0`,
    symbolic :math:`\alpha` if not given) or ``identity``.

    Example: ``activation_moments("relu", 1)`` is
    ``(sqrt(2)/(2*sqrt(pi)), 1/2, (pi - 1)/(2*pi))``.
    """
    _check_activation(activation)
    values = _substitutions(activation, tau, alpha)
    mean = _moment(activation, 1).subs(values)
    second = _moment(activation, 2).subs(values)
    variance = sp.factor(_moment(activation, 2) - _moment(activation, 1) ** 2)
    return mean, second, sp.factor(variance.subs(values))


def slope_second_moment(activation: str, alpha: Any = None) -> sp.Expr:
    r""":math:`E[\phi'(z)^2]` for a zero-mean Gaussian :math:`z` (it does not depend on :math:`\tau`)."""
    _check_activation(activation)
    return _moment(activation, 2, derivative=True).subs(_substitutions(activation, TAU, alpha))


def fluctuation_excess(activation: str, alpha: Any = None) -> sp.Expr:
    r"""The excess :math:`\kappa = \operatorname{Var}[\phi(\xi)^2] / E[\phi(\xi)^2]^2`.

    Here :math:`\xi \sim \mathcal{N}(0, 1)`.

    In a layer of width :math:`n`, the empirical second moment of the
    activations fluctuates with relative variance :math:`\kappa / n`.
    """
    _check_activation(activation)
    return _excess(activation).subs(_substitutions(activation, TAU, alpha))


@functools.cache
def _excess(activation: str) -> sp.Expr:
    return sp.factor(_moment(activation, 4) / _moment(activation, 2) ** 2 - 1)


@functools.cache
def linearisation(name: str) -> sp.Expr:
    r"""First-order Taylor polynomial :math:`\phi(0) + \phi'(0) z` of ``tanh`` or ``sigmoid``."""
    if name not in SMOOTH:
        raise InputError(f"no linearisation for {name!r}; choose one of: {', '.join(SMOOTH)}")
    phi = SMOOTH[name]
    return phi.subs(Z, 0) + sp.diff(phi, Z).subs(Z, 0) * Z


@functools.cache
def linearised_second_moment(name: str) -> sp.Expr:
    r""":math:`E[(\phi(0) + \phi'(0) z)^2]` for :math:`z \sim \mathcal{N}(0, \tau^2)`."""
    # Integrating monomial by monomial is the same integral and three times faster.
    terms = sp.Add.make_args(sp.expand(linearisation(name) ** 2))
    return sp.expand(sum(
        (sp.Integral(term * gaussian_density(), (Z, -sp.oo, sp.oo)).doit() for term in terms),
        sp.Integer(0),
    ))


# --------------------------------------------------------------------------- conditions


@functools.cache
def variance_conditions(scheme: str) -> dict[str, sp.Eq]:
    r"""The conditions on :math:`\sigma^2` that ``scheme`` imposes, one per mode.

    Forward: :math:`n_\mathrm{in}\sigma^2 E[\phi(z)^2] = \tau^2` (the
    pre-activation variance is kept). Backward: :math:`n_\mathrm{out}\sigma^2
    E[\phi'(z)^2] = 1` (the gradient variance is kept). Glorot's compromise
    replaces the fan by the average :math:`(n_\mathrm{in} + n_\mathrm{out})/2`.
    He uses the leaky ReLU (``alpha = 0`` is the ReLU); Xavier uses tanh
    linearised at 0.
    """
    if scheme == "he":
        gain_forward = _moment("leaky_relu", 2) / TAU**2
        gain_backward = _moment("leaky_relu", 2, derivative=True)
    elif scheme == "xavier":
        tanh_linear = linearisation("tanh")
        gain_forward = linearised_second_moment("tanh") / TAU**2
        gain_backward = sp.diff(tanh_linear, Z) ** 2
    else:
        raise InputError(_unknown_scheme(scheme))
    gain_forward, gain_backward = sp.cancel(gain_forward), sp.cancel(gain_backward)
    return {
        "fan_in": sp.Eq(N_IN * SIGMA**2 * gain_forward, 1),
        "fan_out": sp.Eq(N_OUT * SIGMA**2 * gain_backward, 1),
        "fan_avg": sp.Eq((N_IN + N_OUT) / 2 * SIGMA**2 * gain_forward, 1),
    }


@functools.cache
def solved_variance(scheme: str, mode: str) -> sp.Expr:
    r""":math:`\sigma^2` solved from ``variance_conditions(scheme)[mode]``, symbolic."""
    (solution,) = sp.solve(variance_conditions(scheme)[mode], SIGMA**2, dict=True)
    return sp.factor(solution[SIGMA**2])


def weight_variance(
    scheme: str, n_in: Any, n_out: Any = None, alpha: Any = 0, mode: str | None = None
) -> sp.Expr:
    r"""The exact weight variance :math:`\sigma^2` of an initialization scheme.

    ``scheme`` is ``he`` (ReLU, or leaky ReLU with slope ``alpha``) or
    ``xavier`` (tanh in its linear regime). ``mode`` chooses the condition:
    ``fan_in`` keeps the forward variance, ``fan_out`` the backward variance,
    ``fan_avg`` is Glorot's compromise; by default He uses ``fan_in`` and
    Xavier ``fan_avg``. Fans are positive integers or SymPy symbols.

    Example: ``weight_variance("he", n_in=256) == Rational(1, 128)``;
    ``weight_variance("xavier", n_in=256, n_out=128) == Rational(1, 192)``.
    """
    if scheme not in SCHEMES:
        raise InputError(_unknown_scheme(scheme))
    mode = _DEFAULT_MODE[scheme] if mode is None else mode
    if mode not in MODES:
        raise InputError(
            f"mode={mode!r} is not a fan mode; choose one of: {', '.join(MODES)} "
            f"(or leave it out for the scheme's own: he uses fan_in, xavier fan_avg)"
        )
    values = {N_IN: _fan("n_in", n_in)}
    if mode != "fan_in" and n_out is None:
        raise InputError(
            f"scheme {scheme!r} with mode {mode!r} needs n_out (the fan-out); "
            f"pass it, e.g. weight_variance({scheme!r}, n_in=256, n_out=128"
            f"{'' if mode == _DEFAULT_MODE[scheme] else f', mode={mode!r}'})"
        )
    if n_out is not None:
        values[N_OUT] = _fan("n_out", n_out)
    if scheme == "he":
        values[ALPHA] = _slope(alpha)
    elif _slope(alpha) != 0:
        raise InputError(
            f"alpha={alpha!r} applies to scheme 'he' (leaky ReLU) only; "
            "xavier assumes tanh in its linear regime, so leave alpha at 0"
        )
    return solved_variance(scheme, mode).subs(values)


def gain(activation: str, alpha: Any = None) -> sp.Expr:
    r"""The gain :math:`g` of the convention :math:`\mathrm{std} = g / \sqrt{\mathrm{fan}}`.

    :math:`g^2 = \tau^2 / E[\phi(z)^2]`, so that :math:`n_\mathrm{in} \sigma^2 E[\phi(z)^2] = \tau^2`:
    :math:`\sqrt{2}` for ReLU, :math:`\sqrt{2 / (1 + \alpha^2)}` for the leaky ReLU,
    1 for the identity and for tanh in its linear regime.
    """
    if activation == "tanh":
        return sp.sqrt(sp.cancel(TAU**2 / linearised_second_moment("tanh")))
    if activation == "sigmoid":
        raise InputError(
            "activation='sigmoid' has no gain in this convention: its output is not "
            "zero-centred, so no weight scale makes the forward map a pure rescaling; "
            f"choose one of: {', '.join((*ACTIVATIONS, 'tanh'))}"
        )
    _check_activation(activation, extra=("tanh",))
    second = _moment(activation, 2).subs(_substitutions(activation, TAU, alpha))
    return sp.sqrt(sp.cancel(TAU**2 / second))


def std_from_gain(gain_value: Any, fan: Any) -> sp.Expr:
    r""":math:`\mathrm{std} = g / \sqrt{\mathrm{fan}}`, exact."""
    return sp.sympify(gain_value) / sp.sqrt(_fan("fan", fan))


@functools.cache
def _uniform_bound_symbolic() -> sp.Expr:
    x = sp.Symbol("x", real=True)
    variance = sp.integrate(x**2 / (2 * BOUND), (x, -BOUND, BOUND))
    (solution,) = sp.solve(sp.Eq(variance, SIGMA**2), BOUND)
    return solution


def uniform_bound(variance: Any) -> sp.Expr:
    r"""The bound :math:`b` of :math:`U(-b, b)` with variance ``variance``: :math:`b = \sqrt{3}\,\sigma`."""
    value = sp.nsimplify(sp.sympify(variance))
    if value.is_number and not value.is_positive:
        raise InputError(
            f"variance={variance!r} is not a weight variance; pass a positive value, "
            "for example weight_variance('he', 256)"
        )
    return _uniform_bound_symbolic().subs(SIGMA, sp.sqrt(value))


def conv_fan_sums() -> tuple[sp.Sum, sp.Sum]:
    r"""Fan-in and fan-out of a convolution as unevaluated counting sums.

    Output :math:`y_{o,h,w} = \sum_{c,i,j} W_{o,c,i,j}\, x_{c,h+i,w+j}` has one term per
    (c, i, j); input :math:`x_{c,h,w}` appears in the outputs indexed by (o, i, j).
    """
    c, o, i, j = sp.symbols("c o i j", integer=True, positive=True)
    return (
        sp.Sum(1, (c, 1, C_IN), (i, 1, K_H), (j, 1, K_W)),
        sp.Sum(1, (o, 1, C_OUT), (i, 1, K_H), (j, 1, K_W)),
    )


def conv_fans(in_channels: int, out_channels: int, kernel_size: Any) -> tuple[int, int]:
    r"""Fan-in and fan-out of a convolution weight of shape (C_out, C_in, k_h, k_w).

    Each output sums :math:`C_\mathrm{in} k_h k_w` products; each input feeds
    :math:`C_\mathrm{out} k_h k_w` outputs. Example: ``conv_fans(64, 128, 3) == (576, 1152)``.
    """
    c_in = _positive_int("in_channels", in_channels)
    c_out = _positive_int("out_channels", out_channels)
    kernel = (kernel_size, kernel_size) if isinstance(kernel_size, numbers.Integral) else kernel_size
    try:
        k_h, k_w = (_positive_int("kernel_size", k) for k in kernel)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"kernel_size={kernel_size!r} must be a positive integer or a pair (k_h, k_w)"
        ) from None
    return c_in * k_h * k_w, c_out * k_h * k_w


# --------------------------------------------------------------------------- validation


def _check_activation(activation: str, extra: tuple[str, ...] = ()) -> None:
    if activation not in PIECES and activation not in extra:
        allowed = ", ".join((*ACTIVATIONS, *extra))
        raise InputError(f"activation={activation!r} is not supported; choose one of: {allowed}")


def _unknown_scheme(scheme: Any) -> str:
    return (
        f"scheme={scheme!r} is not an initialization scheme; choose one of: "
        f"{', '.join(SCHEMES)} (he for ReLU-like, xavier for tanh-like activations)"
    )


def _substitutions(activation: str, tau: Any, alpha: Any) -> dict[sp.Symbol, Any]:
    values: dict[sp.Symbol, Any] = {TAU: _scale(tau)}
    if activation == "leaky_relu":
        values[ALPHA] = ALPHA if alpha is None else _slope(alpha)
    elif alpha is not None:
        raise InputError(
            f"alpha={alpha!r} applies to activation 'leaky_relu' only, not {activation!r}"
        )
    return values


def _exact(value: Any) -> sp.Expr:
    """A number or SymPy expression as an exact SymPy value; anything else is a TypeError.

    Floats (Python or NumPy) become the rational of their shortest decimal form, so
    ``1.5`` and ``np.float32(1.5)`` both give 3/2 and ``np.float32(0.1)`` gives 1/10.
    Strings, lists and arrays are refused rather than parsed or broadcast.
    """
    if isinstance(value, sp.Expr):
        return value
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise TypeError(value)
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return sp.Integer(int(value))
    if isinstance(value, numbers.Rational):  # fractions.Fraction
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real):  # float, numpy floats
        return sp.Rational(Fraction(str(value)))  # ValueError/OverflowError if not finite
    raise TypeError(value)


_ACCEPTED = "an int, a float, a fractions.Fraction or a SymPy expression"


def _scale(tau: Any) -> sp.Expr:
    try:
        value = _exact(tau)
    except TypeError:
        raise InputError(
            f"tau={tau!r} of type {type(tau).__name__} is not allowed; pass one positive "
            f"standard deviation as {_ACCEPTED} (e.g. 1.5 or sympy.Symbol('tau', positive=True))"
        ) from None
    except (ValueError, OverflowError):
        value = None
    if value is None or (value.is_number and not value.is_positive) or value.is_positive is False:
        raise InputError(f"tau={tau!r} must be a positive standard deviation (e.g. 1 or 1.5)")
    return value


def _slope(alpha: Any) -> sp.Expr:
    try:
        value = _exact(alpha)
    except TypeError:
        raise InputError(
            f"alpha={alpha!r} of type {type(alpha).__name__} is not allowed; pass one slope "
            f"in [0, 1) as {_ACCEPTED}"
        ) from None
    except (ValueError, OverflowError):
        value = None
    if value is None or (value.is_number and not (0 <= value < 1)):
        raise InputError(
            f"alpha={alpha!r} is not a leaky-ReLU slope; choose a number in [0, 1) "
            "(0 is the plain ReLU)"
        )
    return value


def _fan(name: str, value: Any) -> sp.Expr:
    if isinstance(value, sp.Symbol):
        return value
    return sp.Integer(_positive_int(name, value))


def _positive_int(name: str, value: Any) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
    if not ok:
        raise InputError(
            f"{name}={value!r} is not allowed; a fan or channel count must be a positive "
            "integer (the number of units a weight connects)"
        )
    return int(value)

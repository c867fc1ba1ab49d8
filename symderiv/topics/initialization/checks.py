r"""Checks of the initialization results against independent computations.

* moments: Monte Carlo (tolerance from the standard error) and mpmath quadrature;
* weight variances, gains, uniform bounds: exact rational arithmetic with
  :class:`fractions.Fraction`, written without SymPy;
* convolution fans: counting the weights an output depends on in a hand-written
  NumPy convolution;
* depth behaviour: the per-layer factors measured in a simulated deep network.

Each builder takes the derived value as an argument, so the tests can hand it a
wrong one and watch the check fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp

from symderiv import numeric
from symderiv.derivation import Check, Measurement
from symderiv.topics.initialization.theory import (
    ALPHA,
    C_IN,
    C_OUT,
    CONV_EXAMPLE,
    K_H,
    K_W,
    N_IN,
    N_OUT,
    TAU,
    Z,
    fluctuation_excess,
    linearisation,
    std_from_gain,
    weight_variance,
)

MONTE_CARLO_SAMPLES = 400_000
QUADRATURE_DIGITS = 30


def numpy_activation(activation: str, alpha: float) -> tuple[Callable, Callable]:
    """Hand-written NumPy activation and derivative (derivative 0 at the kink)."""
    if activation == "relu":
        return (lambda z: np.maximum(z, 0.0)), (lambda z: (z > 0).astype(float))
    if activation == "leaky_relu":
        return (lambda z: np.where(z > 0, z, alpha * z)), (lambda z: np.where(z > 0, 1.0, alpha))
    raise ValueError(f"no reference for {activation!r}")


def _statistic(kind: str, values: np.ndarray, slopes: np.ndarray) -> tuple[float, np.ndarray]:
    """A Monte Carlo estimate and the per-sample terms whose standard error bounds it."""
    if kind == "mean":
        return float(values.mean()), values
    if kind == "second moment":
        return float(np.mean(values**2)), values**2
    if kind == "variance":
        centred = (values - values.mean()) ** 2
        return float(centred.mean()), centred
    if kind == "slope second moment":
        return float(np.mean(slopes**2)), slopes**2
    raise ValueError(kind)


def _thousands(count: int) -> str:
    r"""``400000`` as :math:`400\,000`, grouped in thousands by thin spaces."""
    return "$" + f"{count:,}".replace(",", r"\,") + "$"


def monte_carlo_moment_check(
    name: str, kind: str, exact: float, activation: str, alpha: float, tau: float, seed: int,
    samples: int = MONTE_CARLO_SAMPLES,
) -> Check:
    r"""Compare an exact moment with the Monte Carlo average over ``samples`` draws of z."""
    phi, slope = numpy_activation(activation, alpha)
    draws = numeric.rng(seed).standard_normal(samples) * tau
    estimate, terms = _statistic(kind, phi(draws), slope(draws))
    tolerance = numeric.monte_carlo_tolerance(terms)

    def run() -> Measurement:
        return Measurement(
            abs(estimate - float(exact)),
            f"Exact ${float(exact):.6f}$, Monte Carlo ${estimate:.6f}$ from "
            f"{_thousands(samples)} draws (seed {seed}).",
        )

    return Check(
        name, f"Monte Carlo, {_thousands(samples)} draws", run, tolerance,
        f"{numeric.MONTE_CARLO_Z:g} standard errors $s/\\sqrt{{N}}$ of the average, $s$ "
        "being the sample standard deviation of the $N$ terms (a false alarm is rarer than one "
        "in a million).",
    )


def quadrature_check(
    name: str, exact: dict[str, float], activation: str, alpha: float, tau: float
) -> Check:
    r"""Compare exact moments with mpmath quadrature of hand-written integrands.

    ``exact`` maps ``mean``, ``second``, ``variance``, ``slope2``, ``fourth`` to values.
    """

    def run() -> Measurement:
        with mpmath.workdps(QUADRATURE_DIGITS):
            slope_left = mpmath.mpf(alpha) if activation == "leaky_relu" else mpmath.mpf(0)
            t = mpmath.mpf(tau)

            def density(z):
                return mpmath.exp(-(z**2) / (2 * t**2)) / (mpmath.sqrt(2 * mpmath.pi) * t)

            def expect(power, derivative=False):
                def left(z):
                    return (slope_left if derivative else slope_left * z) ** power * density(z)

                def right(z):
                    return (1 if derivative else z) ** power * density(z)

                return mpmath.quad(left, [-mpmath.inf, 0]) + mpmath.quad(right, [0, mpmath.inf])

            mean, second = expect(1), expect(2)
            numbers = {
                "mean": mean, "second": second, "variance": second - mean**2,
                "slope2": expect(2, derivative=True), "fourth": expect(4),
            }
            errors = {
                key: abs(float(numbers[key]) - value) / max(1.0, abs(value))
                for key, value in exact.items()
            }
        worst = max(errors, key=errors.get)
        return Measurement(errors[worst], f"Largest relative difference in {_LABEL[worst]}.")

    return Check(
        name, f"mpmath quadrature ({QUADRATURE_DIGITS} digits)", run,
        numeric.ROUNDOFF_TOLERANCE,
        f"Quadrature at {QUADRATURE_DIGITS} digits; only the rounding of the symbolic value "
        "to a float separates the two.",
    )


_LABEL = {
    "mean": r"$E[\phi(z)]$", "second": r"$E[\phi(z)^2]$", "variance": r"$\mathrm{Var}[\phi(z)]$",
    "slope2": r"$E[\phi'(z)^2]$", "fourth": r"$E[\phi(z)^4]$", "linear": "the linearised moment",
}


def linearisation_check(name: str, exact: sp.Expr, offset: float, slope: float, tau: float) -> Check:
    r"""Compare :math:`E[(c + s z)^2]` with quadrature, for the linearised sigmoid or tanh."""

    def run() -> Measurement:
        with mpmath.workdps(QUADRATURE_DIGITS):
            t = mpmath.mpf(tau)
            value = mpmath.quad(
                lambda z: (offset + slope * z) ** 2 * mpmath.npdf(z, 0, t), [-mpmath.inf, mpmath.inf]
            )
        # Relative to the size of the moment (as in quadrature_check): it grows like tau^2.
        return Measurement(abs(float(value) - float(exact)) / max(1.0, abs(float(exact))),
                           f"Relative difference at $\\tau = {tau:g}$.")

    return Check(
        name, "mpmath quadrature", run, numeric.ROUNDOFF_TOLERANCE,
        f"Quadrature at {QUADRATURE_DIGITS} digits; only the rounding of the symbolic value "
        "to a float separates the two (difference relative to $\\max(1, |E|)$).",
    )


def exact_rational_check(name: str, pairs: Sequence[tuple[str, sp.Expr, Fraction]]) -> Check:
    r"""Derived exact values against :class:`Fraction` arithmetic written by hand.

    Each pair is (label, SymPy value, Fraction). Square roots are compared
    through their squares, which are rational.
    """

    def run() -> Measurement:
        worst, labels = 0.0, []
        for label, derived, expected in pairs:
            numerator, denominator = sp.fraction(sp.nsimplify(derived))
            value = Fraction(int(numerator), int(denominator))
            difference = abs(value - expected)
            if difference:
                labels.append(label)
            worst = max(worst, float(difference))
        detail = f"{len(pairs)} values compared exactly."
        if labels:
            detail += " Different: " + ", ".join(labels) + "."
        return Measurement(worst, detail)

    return Check(
        name, r"exact \texttt{Fraction} arithmetic", run, 0.0,
        "Both sides are exact rational numbers, so they must be equal.",
    )


def conv_fan_check(name: str, derived: tuple[int, int], in_channels: int, out_channels: int,
                   kernel: tuple[int, int]) -> Check:
    """Fans against the number of weights one output uses and one input feeds, counted."""

    def run() -> Measurement:
        k_h, k_w = kernel
        height, width = 3 * k_h, 3 * k_w
        weights = np.ones((out_channels, in_channels, k_h, k_w))
        image = np.ones((in_channels, height, width))
        # A "valid" cross-correlation built from strided windows, no loops over pixels.
        windows = np.lib.stride_tricks.sliding_window_view(image, (k_h, k_w), axis=(1, 2))
        output = np.einsum("chwij,ocij->ohw", windows, weights)
        fan_in = int(output[0, 0, 0])
        # The gradient of the summed output with respect to an interior input pixel.
        grad_windows = np.einsum("ohw,ocij->chwij", np.ones_like(output), weights)
        grad = np.zeros_like(image)
        for i in range(k_h):
            for j in range(k_w):
                grad[:, i:i + output.shape[1], j:j + output.shape[2]] += grad_windows[:, :, :, i, j]
        fan_out = int(grad[0, height // 2, width // 2])
        error = abs(fan_in - derived[0]) + abs(fan_out - derived[1])
        return Measurement(
            float(error), f"Counted fan-in {fan_in} and fan-out {fan_out} for a "
            f"{in_channels}$\\to${out_channels} convolution with a "
            f"${k_h}\\times {k_w}$ kernel.",
        )

    return Check(
        name, "counting in a NumPy convolution", run, 0.0,
        "Counts of weights are integers and must agree exactly.",
    )


# --------------------------------------------------------------------------- simulation


def factor_residuals(
    measured: np.ndarray, factors: Sequence[float], groups: Sequence[object]
) -> dict[object, np.ndarray]:
    r"""Per-layer :math:`\log(\text{measured ratio}) - \log(\text{predicted factor})`, by group.

    ``measured`` holds per-layer second moments v_1..v_L; the ratio v_l / v_{l-1}
    is compared with ``factors[l]`` and filed under ``groups[l]`` (layers of the
    same shape share a group). Entry 0 of ``factors`` and ``groups`` is unused.
    """
    ratios = np.log(measured[1:] / measured[:-1])
    residuals: dict[object, list[float]] = {}
    for l in range(1, len(measured)):
        residuals.setdefault(groups[l], []).append(ratios[l - 1] - math.log(factors[l]))
    return {key: np.array(values) for key, values in residuals.items()}


def depth_factor_check(
    name: str, series: Sequence[tuple[str, np.ndarray, Sequence[float], Sequence[object]]],
    what: str,
) -> Check:
    r"""Mean per-layer factors of simulated networks against the derived ones.

    ``series`` holds (label, measured v_1..v_L, predicted factors, layer groups).
    The error is the largest absolute mean, over series and layer shapes, of
    :math:`\log(v_l/v_{l-1}) - \log(\text{factor}_l)`; the tolerance is the largest
    ``numeric.monte_carlo_tolerance`` of those residuals.
    """
    residuals = {
        (label, key): values
        for label, measured, factors, groups in series
        for key, values in factor_residuals(np.asarray(measured), factors, groups).items()
    }
    tolerance = max(numeric.monte_carlo_tolerance(r) for r in residuals.values())

    def run() -> Measurement:
        means = {key: float(np.mean(r)) for key, r in residuals.items()}
        worst = max(means, key=lambda key: abs(means[key]))
        by_series: dict[str, list[np.ndarray]] = {}
        for (label, _), values in residuals.items():
            by_series.setdefault(label, []).append(values)
        ratios = ", ".join(
            f"{label}: ${math.exp(np.mean(np.concatenate(parts))):.3f}$"
            for label, parts in by_series.items()
        )
        return Measurement(
            abs(means[worst]),
            f"Measured/predicted per-layer factor of the {what} (geometric mean); "
            f"{ratios}.",
        )

    return Check(
        name, "deep-network simulation", run, tolerance,
        f"{numeric.MONTE_CARLO_Z:g} standard errors of the mean per-layer log-ratio, per "
        "layer shape; this is conservative, since neighbouring ratios share a layer and are "
        "negatively correlated, and the bias $-\\kappa/(2n)$ of a log-ratio is below a "
        "tenth of it.",
    )


def band_check(name: str, measured: np.ndarray, excess: float, width: int) -> Check:
    r"""Every :math:`\log q_l` lies within 5 standard deviations :math:`\sqrt{(\kappa(l-1) + 4)/n}`."""
    from symderiv.topics.initialization.simulation import log_spread

    measured = np.asarray(measured)
    spreads = np.array([log_spread(excess, width, l) for l in range(len(measured))])

    def run() -> Measurement:
        scores = np.abs(np.log(measured)) / spreads
        layer = int(np.argmax(scores))
        return Measurement(
            float(scores[layer]),
            f"Largest deviation at layer {layer + 1}: $q = {measured[layer]:.3f}$, "
            f"{scores[layer]:.2f} standard deviations of $\\log q$.",
        )

    return Check(
        name, "deep-network simulation", run, numeric.MONTE_CARLO_Z,
        r"The error is $\max_l |\log q_l| / s_l$ with the random-walk spread "
        r"$s_l = \sqrt{(\kappa (l-1) + 4)/n}$, an upper estimate of the standard deviation of "
        f"$\\log q_l$; the band is ${numeric.MONTE_CARLO_Z:g}\\,s_l$ on each side. At the "
        "last layer this is "
        f"$q \\in [{math.exp(-numeric.MONTE_CARLO_Z * spreads[-1]):.3g}, "
        f"{math.exp(numeric.MONTE_CARLO_Z * spreads[-1]):.3g}]$.",
    )


def same_order_check(name: str, forward: np.ndarray, backward: np.ndarray) -> Check:
    r"""Forward and backward signals change by the same order of magnitude across the network."""

    def run() -> Measurement:
        forward_change = math.log10(forward[-1] / forward[0])
        backward_change = math.log10(backward[0] / backward[-1])
        return Measurement(
            abs(forward_change - backward_change),
            f"Forward change $10^{{{forward_change:.2f}}}$, backward change "
            f"$10^{{{backward_change:.2f}}}$.",
        )

    return Check(
        name, "deep-network simulation", run, 1.0,
        r"``The same order'' means within a factor of 10, one decade in $\log_{10}$: "
        "a qualitative claim, so the tolerance states its meaning rather than a statistic.",
    )


# --------------------------------------------------------------------------- the topic's checks


def moment_checks(results: dict, alpha: float, tau: float, seed: int) -> list:
    """Monte Carlo and quadrature checks of every activation moment in ``results``."""
    checks = []
    for key, activation, slope in (("relu", "relu", 0.0), ("leaky", "leaky_relu", alpha)):
        values = {ALPHA: sp.Rational(Fraction(repr(slope))), TAU: sp.Rational(Fraction(repr(tau)))}
        name = "ReLU" if key == "relu" else rf"leaky ReLU ($\alpha = {alpha:g}$)"
        exact = {
            "mean": results[f"E[{key}(z)]"], "second moment": results[f"E[{key}(z)^2]"],
            "variance": results[f"Var[{key}(z)]"], "slope second moment": results[f"E[{key}'(z)^2]"],
        }
        symbols = {
            "mean": r"$E[\phi(z)]$", "second moment": r"$E[\phi(z)^2]$",
            "variance": r"$\mathrm{Var}[\phi(z)]$", "slope second moment": r"$E[\phi'(z)^2]$",
        }
        for index, (kind, value) in enumerate(exact.items()):
            checks.append(monte_carlo_moment_check(
                f"{name}: {symbols[kind]}", kind, float(value.subs(values)), activation, slope,
                tau, seed + index,
            ))
        fourth = fluctuation_excess(activation, **({"alpha": ALPHA} if key == "leaky" else {}))
        second_standard = exact["second moment"].subs(TAU, 1)
        fourth_moment = (fourth + 1) * second_standard**2 * TAU**4
        checks.append(quadrature_check(
            f"{name}: all moments and $E[\\phi(z)^4]$",
            {
                "mean": float(exact["mean"].subs(values)),
                "second": float(exact["second moment"].subs(values)),
                "variance": float(exact["variance"].subs(values)),
                "slope2": float(exact["slope second moment"].subs(values)),
                "fourth": float(fourth_moment.subs(values)),
            },
            activation, slope, tau,
        ))
    offset, slope = sp.Poly(linearisation("sigmoid"), Z).all_coeffs()[::-1]
    checks.append(linearisation_check(
        r"linearised sigmoid: $E[(\tfrac12 + \tfrac z4)^2]$",
        results["E[sigmoid_lin(z)^2]"].subs(TAU, sp.Rational(Fraction(repr(tau)))),
        float(offset), float(slope), tau,
    ))
    return checks


def exact_checks(results: dict, n_in: int, n_out: int, alpha: float) -> list:
    """Exact checks of the weight variances, bounds, gains and convolution fans."""
    a = Fraction(repr(alpha))
    values = {N_IN: n_in, N_OUT: n_out, ALPHA: sp.Rational(a)}

    def at(name):
        return results[name].subs(values)

    variances = [
        ("He fan-in", at("sigma^2 he fan_in"), Fraction(2, n_in)),
        ("He fan-out", at("sigma^2 he fan_out"), Fraction(2, n_out)),
        ("leaky fan-in", at("sigma^2 leaky fan_in"), 2 / ((1 + a * a) * n_in)),
        ("leaky fan-out", at("sigma^2 leaky fan_out"), 2 / ((1 + a * a) * n_out)),
        ("Xavier fan-in", at("sigma^2 xavier fan_in"), Fraction(1, n_in)),
        ("Xavier fan-out", at("sigma^2 xavier fan_out"), Fraction(1, n_out)),
        ("Xavier", at("sigma^2 xavier"), Fraction(2, n_in + n_out)),
        ("API he", weight_variance("he", n_in), Fraction(2, n_in)),
        ("API leaky", weight_variance("he", n_in, alpha=alpha), 2 / ((1 + a * a) * n_in)),
        ("API xavier", weight_variance("xavier", n_in, n_out), Fraction(2, n_in + n_out)),
    ]
    scales = [
        ("He uniform bound squared", at("uniform bound he") ** 2, Fraction(6, n_in)),
        ("Xavier uniform bound squared", at("uniform bound xavier") ** 2, Fraction(6, n_in + n_out)),
        ("ReLU gain squared", at("gain relu") ** 2, Fraction(2)),
        ("leaky gain squared", at("gain leaky") ** 2, 2 / (1 + a * a)),
        ("tanh gain squared", at("gain tanh") ** 2, Fraction(1)),
        ("He std from the gain, squared", std_from_gain(at("gain relu"), n_in) ** 2,
         Fraction(2, n_in)),
    ]
    c_in, c_out, kernel = CONV_EXAMPLE
    conv_values = {C_IN: c_in, C_OUT: c_out, K_H: kernel[0], K_W: kernel[1]}
    derived_fans = (int(results["conv fan_in"].subs(conv_values)),
                    int(results["conv fan_out"].subs(conv_values)))
    return [
        exact_rational_check("weight variances $\\sigma^2$ (all rules)", variances),
        exact_rational_check("uniform bounds and gains", scales),
        conv_fan_check("convolution fans", derived_fans, c_in, c_out, kernel),
    ]

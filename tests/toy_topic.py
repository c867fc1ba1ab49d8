"""A tiny topic used by the foundation's tests: d/dx of c*x^2, with one honest check."""

from __future__ import annotations

import numpy as np
import sympy as sp

from symderiv.derivation import Check, Derivation, Figure, LinePlot, Measurement, Section, Step
from symderiv.errors import InputError
from symderiv.numeric import FD_TOLERANCE, central_difference_gradient, relative_error
from symderiv.topics import Parameter

SUMMARY = "the derivative of c x^2 (a test fixture)"
PARAMETERS = (
    Parameter("c", "int", 3, "the coefficient, a positive integer"),
    Parameter("wrong", "bool", False, "break the result on purpose"),
)


def derive(c: int, wrong: bool) -> Derivation:
    if c <= 0:
        raise InputError(f"c={c} must be positive")
    x = sp.Symbol("x", real=True)
    f = c * x**2
    derivative = sp.diff(f, x) + (1 if wrong else 0)
    derivation = None

    def finite_differences() -> Measurement:
        points = np.linspace(-2.0, 2.0, 9)
        fd = np.array([central_difference_gradient(lambda v: c * v[0] ** 2, [p])[0] for p in points])
        return Measurement(relative_error(derivation.numpy("df/dx")(points), fd), "at 9 points")

    derivation = Derivation(
        name="toy",
        title="A toy derivative",
        statement=r"Differentiate $f(x) = c x^2$.",
        assumptions=(r"$x \in \mathbb{R}$",),
        steps=(
            Section("Power rule"),
            Step("The power rule gives", (r"\frac{df}{dx}", derivative)),
            Figure("curve", "The derivative.", LinePlot((0.0, 1.0), (("f'", (0.0, 2.0 * c)),), "x", "f'")),
        ),
        results={"df/dx": derivative},
        checks=(
            Check("df/dx", "central differences", finite_differences, FD_TOLERANCE,
                  "Central differences in float64 are accurate to about 1e-9 here."),
        ),
        parameters={"c": c, "wrong": wrong},
    )
    return derivation

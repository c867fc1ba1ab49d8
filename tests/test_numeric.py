"""Finite differences, error measures and Monte Carlo error bars behave as documented."""

import numpy as np
import pytest

from symderiv.numeric import (
    FD_TOLERANCE,
    central_difference_gradient,
    distance_to_interval,
    monte_carlo_tolerance,
    one_sided_differences,
    relative_error,
)


def test_central_differences_match_a_known_gradient():
    point = np.array([[0.3, -1.2], [2.0, 0.5]])
    grad = central_difference_gradient(lambda v: float(np.sum(np.sin(v))), point)
    assert relative_error(grad, np.cos(point)) < FD_TOLERANCE


def test_central_differences_catch_a_wrong_gradient():
    point = np.array([0.3, -1.2])
    grad = central_difference_gradient(lambda v: float(np.sum(v**3)), point)
    assert relative_error(grad, 3 * point**2 + 1e-4) > FD_TOLERANCE


def test_one_sided_differences_straddle_a_kink():
    left, right = one_sided_differences(lambda v: abs(v[0]), np.array([0.0]), (0,))
    assert left == pytest.approx(-1.0) and right == pytest.approx(1.0)
    assert distance_to_interval(0.0, (left, right)) == 0.0
    assert distance_to_interval(1.5, (left, right)) == pytest.approx(0.5)


def test_relative_error_is_absolute_below_one_and_relative_above():
    assert relative_error(np.array([0.1]), np.array([0.0])) == pytest.approx(0.1)
    assert relative_error(np.array([110.0]), np.array([100.0])) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(2), np.zeros(3))


def test_monte_carlo_tolerance_is_z_standard_errors():
    samples = np.array([0.0, 2.0] * 50)
    expected = 5.0 * np.std(samples, ddof=1) / 10.0
    assert monte_carlo_tolerance(samples) == pytest.approx(expected)


def test_lambdify_keeps_layered_matrix_arguments_as_matrices():
    import sympy as sp

    from symderiv.numeric import lambdify_numpy

    delta, x = sp.MatrixSymbol("delta[1]", 3, 1), sp.MatrixSymbol("x", 2, 1)
    f = lambdify_numpy((delta, x), delta * x.T)
    assert f.argument_names == ("delta[1]", "x")
    d, v = np.array([[1.0], [2.0], [3.0]]), np.array([[4.0], [5.0]])
    np.testing.assert_array_equal(f(d, v), d @ v.T)

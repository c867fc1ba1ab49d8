"""The public API exactly as DESIGN.md shows it: the calls users copy from the docs."""

import numpy as np
import pytest
import sympy as sp

import symderiv
from symderiv.topics import backprop, initialization, normalization


def test_derive_verify_and_render_backprop():
    d = symderiv.derive("backprop", widths=(3, 4, 1), activation="relu", loss="mae")
    assert "dL/dW1" in d.results
    assert all(r.passed for r in d.verify())
    assert d.to_latex().startswith("\\documentclass")
    assert d._repr_latex_().startswith("$$\\begin{aligned}")


def test_gradient_function_shapes_follow_the_documented_convention():
    g = backprop.gradient_function(widths=(784, 256, 1), activation="relu", loss="mae", kink="zero")
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(256, 784)), "b1": np.zeros(256),
              "W2": rng.normal(size=(1, 256)), "b2": np.zeros(1)}
    grads = g(params, rng.normal(size=(8, 784)), rng.normal(size=8))
    assert {k: v.shape for k, v in grads.items()} == {k: v.shape for k, v in params.items()}


def test_initialization_calls():
    tau = sp.Symbol("tau", positive=True)
    mean, second, variance = initialization.activation_moments("relu", tau)
    assert sp.simplify(second - tau**2 / 2) == 0
    assert sp.simplify(variance - tau**2 * (sp.pi - 1) / (2 * sp.pi)) == 0
    assert sp.simplify(mean - tau / sp.sqrt(2 * sp.pi)) == 0
    assert initialization.weight_variance("he", n_in=256) == sp.Rational(1, 128)
    assert initialization.weight_variance("he", n_in=256, alpha=0.2) == sp.Rational(2, 256) / sp.Rational(
        104, 100
    )
    assert initialization.weight_variance("xavier", n_in=256, n_out=128) == sp.Rational(1, 192)


def test_normalization_calls():
    x = np.random.default_rng(1).normal(size=(2, 8, 3, 3))
    y = normalization.group_norm(x, 2, gamma=None, beta=None, eps=1e-5)
    dx, dgamma, dbeta = normalization.group_norm_backward(x, np.ones_like(x), 2, gamma=None, eps=1e-5)
    assert y.shape == dx.shape == x.shape and dgamma.shape == dbeta.shape == (8,)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: normalization.group_norm(np.zeros((1, 8, 2, 2)), 3),
     "groups=3 does not divide channels=8; choose a divisor of 8: 1, 2, 4, 8"),
    (lambda: initialization.weight_variance("he", n_in=-3), "n_in=-3 is not allowed"),
    (lambda: symderiv.derive("backprop", activation="elu"), "activation='elu' is not allowed"),
])
def test_bad_input_is_an_input_error_and_a_value_error(call, message):
    with pytest.raises(symderiv.InputError, match=message) as caught:
        call()
    assert isinstance(caught.value, ValueError)

"""Backprop: the derivation, the generated gradient, its checks, and the checks' power to fail."""

from __future__ import annotations

import latexify
import numpy as np
import pytest
import sympy as sp

import symderiv
from symderiv.errors import InputError
from symderiv.kinks import kink_policy
from symderiv.render.document import standalone
from symderiv.render.latex import latex
from symderiv.topics import backprop
from symderiv.topics.backprop import checks as checks
from symderiv.topics.backprop.elementwise import prove
from symderiv.topics.backprop.functions import Elementwise, ReLU, U
from symderiv.topics.backprop.network import Network
from symderiv.topics.backprop.reference import batch_loss, reference_gradient, relu_mae_gradient

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "identity")
LOSSES = ("mae", "mse", "bce")


def setting(widths=(3, 4, 1), activation="relu", loss="mae", alpha=0.01, step=0.0, kink="zero"):
    return checks.Setting(tuple(widths), activation, loss, alpha, step, kink)


# ---------------------------------------------------------------- the derivation


def test_default_derivation_matches_the_source_formulas():
    d = symderiv.derive("backprop")
    assert str(d.results["dl/du"]) == "sign(u - y)"
    assert str(d.results["dL/dW2"]) == "delta[2]*a[1].T"
    assert str(d.results["dL/db2"]) == "delta[2]"
    assert str(d.results["dL/da1"]) == "W[2].T*delta[2]"
    assert str(d.results["dL/dW1"]) == "delta[1]*x.T"
    assert str(d.results["dL/db1"]) == "delta[1]"
    assert latex(d.results["delta1"]) == (
        r"\left({\mathbf{W}^{(2)}}^{\top} \boldsymbol{\delta}^{(2)}\right) \odot "
        r"\mathbf{1}_{(\mathbf{z}^{(1)} > 0)}"
    )
    assert latex(d.results["delta2"]) == r"\operatorname{sign}\left(\mathbf{z}^{(2)} - \mathbf{y}\right)"
    assert latex(d.results["batch dL/db1"]) == r"{\boldsymbol{\Delta}^{(1)}}^{\top} \mathbf{1}"


def test_default_checks_pass_and_cover_every_kind():
    results = symderiv.derive("backprop").verify()
    assert all(r.passed for r in results), [r for r in results if not r.passed]
    names = [r.name for r in results]
    assert len(names) == 6
    assert any("finite differences" in n for n in names)
    assert any("autograd" in n for n in names)
    assert any("hand-written" in n for n in names)
    assert sum("Kink" in n for n in names) == 2
    proof = results[0]
    assert proof.max_error == 0 and proof.tolerance == 0


def test_report_walks_the_five_steps_and_states_the_kinks():
    d = symderiv.derive("backprop")
    tex = standalone(d, d.verify())
    for heading in ("Step 1: the error at the output", "Step 2: the output layer",
                    "Step 3: the error reaching the hidden layer",
                    "Step 4: through the activation", "Step 5: the first layer",
                    "Summary of the gradients"):
        assert heading in tex
    assert r"\mathbf{1}_{(\mathbf{z}^{(1)} > 0)}" in tex
    assert r"|a^{(2)} y|" in tex  # the note on the missing minus sign
    assert r"\begin{lstlisting}" in tex and "Delta1" in tex
    assert r"\operatorname{sign}(0) = 0" in tex


def test_set_policy_states_the_subdifferentials():
    d = symderiv.derive("backprop", kink="set")
    tex = standalone(d)
    assert r"\text{any } g \in [-1, 1]" in tex
    assert r"\text{any } g \in [0, 1]" in tex


def test_half_policy_shows_heaviside_and_one_half():
    tex = standalone(symderiv.derive("backprop", kink="half"))
    assert r"H\left(\mathbf{z}^{(1)}\right)" in tex
    assert r"\phi'(0) = \frac{1}{2}" in tex


def test_mse_step_mentions_the_missing_half():
    tex = standalone(symderiv.derive("backprop", loss="mse"))
    assert r"without the factor $\tfrac12$" in tex


def test_listing_is_latexified():
    formula = latexify.get_latex(relu_mae_gradient)
    assert r"\mathrm{D1}" in formula
    # the bias gradients typeset as D^T 1, not as a sum that has lost its axis
    assert r"\mathbf{D1}^\intercal \cdot \mathrm{ones}" in formula
    assert r"\sum" not in formula and ".T" not in formula


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_activation_and_loss_verifies(activation, loss):
    d = symderiv.derive("backprop", widths=(2, 3, 1), activation=activation, loss=loss)
    failed = [r for r in d.verify() if not r.passed]
    assert not failed


@pytest.mark.parametrize("widths", [(2, 1), (3, 4, 2), (2, 3, 3, 2)])
def test_other_depths_verify(widths):
    d = symderiv.derive("backprop", widths=widths, activation="leaky_relu", loss="mae",
                        kink="half")
    assert all(r.passed for r in d.verify())
    assert f"dL/dW{len(widths) - 1}" in d.results


def test_large_widths_check_entries_numerically():
    d = symderiv.derive("backprop", widths=(30, 20, 1))
    proof = d.checks[0]
    assert "sampled entries" in proof.method
    assert all(r.passed for r in d.verify())


# ---------------------------------------------------------------- the symbolic pieces


def test_relu_differentiates_to_the_policy_step():
    assert ReLU(U, 0).diff(U) == sp.Heaviside(U, 0)
    assert ReLU(U, sp.Rational(1, 2)).diff(U) == sp.Heaviside(U, sp.Rational(1, 2))


@pytest.mark.parametrize("n", [2, 3])
def test_elementwise_proof_holds(n):
    proof = prove(Network((n, n, 1), "relu", "mae", kink_policy("zero")))
    assert proof.mismatches == 0 and proof.entries == n * n + n + n + 1


class WrongMaskNetwork(Network):
    """Its matrix form uses ReLU'(0) = 1/2 while its loss's ReLU says 0."""

    def phi_prime(self):
        return sp.Heaviside(U, sp.Rational(1, 2))


class MissingSignNetwork(Network):
    """The source's typo taken literally: the output error of |u y| instead of |u - y|."""

    def ell_prime(self):
        return sp.sign(U)


@pytest.mark.parametrize("network_class", [WrongMaskNetwork, MissingSignNetwork])
def test_elementwise_proof_catches_a_wrong_matrix_form(network_class):
    proof = prove(network_class((2, 2, 1), "relu", "mae", kink_policy("zero")))
    assert proof.mismatches > 0


def test_elementwise_latex_and_explicit_entries():
    Z = sp.MatrixSymbol("Z[1]", 2, 2)
    mask = Elementwise(sp.Lambda(U, sp.Heaviside(U, 0)), Z)
    assert latex(mask) == r"\mathbf{1}_{(\mathbf{Z}^{(1)} > 0)}"
    assert mask.as_explicit()[0, 1] == sp.Heaviside(Z[0, 1], 0)


# ---------------------------------------------------------------- the generated gradient


def problem(widths=(3, 4, 1), loss="mae", samples=6, seed=0):
    return checks.random_problem(setting(widths, loss=loss), seed, samples)


def test_generated_code_is_lambdified_and_has_no_loop():
    g = backprop.gradient_function((3, 4, 1))
    assert "_lambdifygenerated" in g.source
    assert "for " not in g.source and "while " not in g.source
    assert "Delta1.T @ X" in g.source


def test_gradient_function_is_cached():
    assert backprop.gradient_function((3, 4, 1)).source is backprop.gradient_function(
        [3, 4, 1]).source


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kink", ["zero", "half"])
def test_generated_matches_hand_written_reference(activation, loss, kink):
    widths = (3, 5, 4, 2)
    params, X, Y = checks.random_problem(setting(widths, activation, loss), seed=7, samples=9)
    got = backprop.gradient_function(widths, activation, loss, kink)(params, X, Y)
    expected = reference_gradient(params, X, Y, activation, loss, 0.01,
                                  float(kink_policy(kink).step_at_zero))
    assert list(got) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    for name in params:
        assert got[name].shape == params[name].shape
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-14)


def test_y_may_be_a_vector_for_one_output():
    params, X, Y = problem()
    g = backprop.gradient_function((3, 4, 1))
    as_matrix, as_vector = g(params, X, Y), g(params, X, Y[:, 0])
    for name in params:
        np.testing.assert_array_equal(as_matrix[name], as_vector[name])


def test_float32_input_gives_float32_gradients():
    params, X, Y = problem(loss="mse")
    g = backprop.gradient_function((3, 4, 1), loss="mse")
    exact = g(params, X, Y)
    single = g({k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32),
               Y.astype(np.float32))
    for name in params:
        assert single[name].dtype == np.float32
        np.testing.assert_allclose(single[name], exact[name], rtol=1e-4, atol=1e-5)


def test_integer_and_list_inputs_are_converted():
    params, X, Y = problem(loss="mse")
    g = backprop.gradient_function((3, 4, 1), loss="mse")
    rounded = {k: np.round(v).astype(int) for k, v in params.items()}
    got = g(rounded, np.round(X).astype(int).tolist(), np.round(Y[:, 0]).tolist())
    expected = g({k: v.astype(float) for k, v in rounded.items()}, np.round(X), np.round(Y))
    for name in params:
        np.testing.assert_array_equal(got[name], expected[name])


def test_kink_policies_differ_only_at_kinks():
    params, X, Y = checks.hidden_kink_problem(setting())
    zero = backprop.gradient_function((3, 4, 1), kink="zero")(params, X, Y)
    half = backprop.gradient_function((3, 4, 1), kink="half")(params, X, Y)
    assert not np.allclose(zero["b1"][0], half["b1"][0])
    np.testing.assert_array_equal(zero["b1"][1:], half["b1"][1:])
    np.testing.assert_array_equal(zero["W2"], half["W2"])


def test_output_kink_contributes_nothing_under_sign_zero():
    params, X, Y = checks.output_kink_problem(setting())
    full = backprop.gradient_function((3, 4, 1))(params, X, Y)
    rest = backprop.gradient_function((3, 4, 1))(params, X[1:], Y[1:])
    np.testing.assert_allclose(full["b2"] * len(X), rest["b2"] * (len(X) - 1), atol=1e-15)


# ---------------------------------------------------------------- each check can fail


def generated(widths=(3, 4, 1), activation="relu", loss="mae", kink="zero"):
    return backprop.gradient_function(widths, activation, loss, kink)


def scaled(gradient, name, factor):
    def wrong(params, X, Y):
        grads = dict(gradient(params, X, Y))
        grads[name] = grads[name] * factor
        return grads
    return wrong


def test_finite_difference_check_catches_a_wrong_gradient():
    s = setting()
    assert checks.finite_difference_check(generated(), s).error < 1e-6
    assert checks.finite_difference_check(scaled(generated(), "W1", 1.01), s).error > 1e-4


def test_autograd_check_catches_a_wrong_gradient():
    s = setting()
    assert checks.autograd_check(generated(), s).error < 1e-10
    assert checks.autograd_check(scaled(generated(), "b2", 2.0), s).error > 1e-3


def test_reference_check_catches_a_wrong_gradient():
    s = setting(loss="bce", activation="tanh")
    g = generated(loss="bce", activation="tanh")
    assert checks.reference_check(g, s).error < 1e-10
    assert checks.reference_check(scaled(g, "W2", 0.5), s).error > 1e-3


def test_hidden_kink_check_catches_the_wrong_policy():
    s = setting(step=0.0)
    assert checks.kink_check(generated(kink="zero"), s, "hidden").error < 1e-6
    # ReLU'(0) = 1/2 lies inside the one-sided interval but is not the zero policy's value.
    assert checks.kink_check(generated(kink="half"), s, "hidden").error > 1e-3


def output_slope_at_kink(value):
    """The generated gradient with sign(0) replaced by ``value`` for the kinked first sample."""

    def gradient(params, X, Y):
        grads = dict(generated()(params, X, Y))
        grads["b2"] = grads["b2"] + value / len(X)
        return grads

    return gradient


def test_output_kink_check_catches_a_one_sided_value():
    s = setting()
    assert checks.kink_check(generated(), s, "output").error < 1e-6
    # sign(0) taken as +1: inside [-1, 1] but not the policy's value.
    assert checks.kink_check(output_slope_at_kink(1.0), s, "output").error > 1e-3


def test_kink_check_catches_a_value_outside_the_interval():
    measured = checks.kink_check(output_slope_at_kink(3.0), setting(), "output")
    assert measured.error > 1e-3
    assert "outside the one-sided interval $0$" not in measured.detail


@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_output_kink_is_exact_for_rounding_activations(activation):
    s = setting(activation=activation)
    params, X, Y = checks.output_kink_problem(s)
    assert np.all(params["W2"][0] == 0)
    assert checks.kink_check(generated(activation=activation), s, "output").error < 1e-6


def test_batch_loss_agrees_with_the_source_loss_for_one_sample():
    params, X, Y = problem(samples=1)
    z1 = params["W1"] @ X[0] + params["b1"]
    z2 = params["W2"] @ np.maximum(z1, 0) + params["b2"]
    assert batch_loss(params, X, Y, "relu", "mae") == pytest.approx(abs(z2[0] - Y[0, 0]))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"widths": (3,)}, "widths=(3,) has 1 entry; give at least an input and an output width, "
                       "for example (3, 4, 1)"),
    ({"widths": (3, 0, 1)}, "widths=(3, 0, 1) has a width below 1; every layer needs at least "
                            "one unit"),
    ({"activation": "elu"}, "activation='elu' is not supported; choose one of: relu, leaky_relu, "
                            "tanh, sigmoid, identity"),
    ({"loss": "hinge"}, "loss='hinge' is not supported; choose one of: mae, mse, bce"),
    ({"alpha": 1.0}, "alpha=1.0 is not a leaky-ReLU slope; choose a number with 0 <= alpha < 1"),
    ({"alpha": -0.1}, "alpha=-0.1 is not a leaky-ReLU slope; choose a number with 0 <= alpha < 1"),
    ({"kink": "left"}, "kink='left' is not a kink policy; choose one of: zero, half, set"),
])
def test_bad_architecture_is_refused(kwargs, message):
    arguments = {"widths": (3, 4, 1), **kwargs}
    with pytest.raises(InputError) as caught:
        backprop.gradient_function(**arguments)
    assert str(caught.value) == message
    with pytest.raises(InputError):
        backprop.derive(**arguments)


def test_registry_refuses_bad_widths_text():
    with pytest.raises(InputError, match=r"widths=\(3,\) has 1 entry"):
        symderiv.derive("backprop", widths="3")


@pytest.mark.parametrize(("change", "message"), [
    (lambda p, X, y: ({**p, "W1": p["W1"].T}, X, y),
     "W1 has shape (3, 4); widths=(3, 4, 1) needs (4, 3) (W_l is (out, in) and b_l is "
     "(out,), with out = widths[l], in = widths[l-1])"),
    (lambda p, X, y: ({k: v for k, v in p.items() if k != "b2"}, X, y),
     "params for widths=(3, 4, 1) need exactly the keys W1, b1, W2, b2; missing b2"),
    (lambda p, X, y: ({**p, "W3": p["W2"]}, X, y),
     "params for widths=(3, 4, 1) need exactly the keys W1, b1, W2, b2; unexpected W3"),
    (lambda p, X, y: (p, X[:, :2], y),
     "X has shape (6, 2); widths=(3, 4, 1) needs (N, 3) with N >= 1 samples as rows"),
    (lambda p, X, y: (p, X[0], y),
     "X has shape (3,); widths=(3, 4, 1) needs (N, 3) with N >= 1 samples as rows"),
    (lambda p, X, y: (p, X, y[:5]),
     "y has shape (5, 1); for X of shape (6, 3) it must be (6, 1) or (6,)"),
    (lambda p, X, y: (p, X, np.zeros((6, 2))),
     "y has shape (6, 2); for X of shape (6, 3) it must be (6, 1) or (6,)"),
    (lambda p, X, y: (list(p.values()), X, y),
     "params must be a mapping with keys W1, b1, W2, b2; got list"),
])
def test_bad_shapes_are_refused(change, message):
    params, X, Y = problem()
    g = backprop.gradient_function((3, 4, 1))
    with pytest.raises(InputError) as caught:
        g(*change(params, X, Y))
    assert str(caught.value) == message


def test_multi_output_y_must_be_a_matrix():
    params, X, Y = problem(widths=(3, 4, 2))
    with pytest.raises(InputError) as caught:
        backprop.gradient_function((3, 4, 2))(params, X, Y[:, 0])
    assert str(caught.value) == "y has shape (6,); for X of shape (6, 3) it must be (6, 2)"


def test_bce_targets_must_be_probabilities():
    params, X, Y = problem(loss="bce")
    with pytest.raises(InputError) as caught:
        backprop.gradient_function((3, 4, 1), loss="bce")(params, X, np.full_like(Y, 2.5))
    assert str(caught.value) == ("loss='bce' needs targets y in [0, 1]; got values from 2.5 to "
                                 "2.5; rescale y or use loss='mse'")


def test_generated_code_reuses_activations_for_tanh_and_sigmoid():
    assert "__imul__(1 - A1**2)" in backprop.gradient_function((3, 4, 1), "tanh").source
    assert "__imul__(A1*(1 - A1))" in backprop.gradient_function((3, 4, 1), "sigmoid").source


def test_multi_output_mean_shows_m_and_fills_it_in():
    d = symderiv.derive("backprop", widths=(3, 4, 2), loss="mse")
    assert latex(d.results["delta2"]) == (
        r"\frac{1}{m} \left(2 \mathbf{z}^{(2)} - 2 \mathbf{y}\right)")
    assert "/(2*N)" in backprop.gradient_function((3, 4, 2), loss="mse").source


# ---------------------------------------------------------------- review additions


def test_finite_difference_check_moves_a_point_off_a_kink(monkeypatch):
    s = setting()
    assert checks.kink_margin(s, *checks.random_problem(s, 1)) > 100 * 1e-6
    at_kink = checks.hidden_kink_problem(s)
    monkeypatch.setattr(checks, "random_problem", lambda setting, seed, samples=5: at_kink)
    measured = checks.finite_difference_check(generated(), s)
    assert measured.error < 1e-6
    assert "moved by at most" in measured.detail
    # ... and it still catches a wrong gradient there.
    assert checks.finite_difference_check(scaled(generated(), "b1", 1.01), s).error > 1e-4


def test_clear_of_kinks_moves_little_and_clears_every_sample():
    s = setting(widths=(3, 20000, 2))
    params, X, Y = checks.random_problem(s, 1)
    assert checks.kink_margin(s, params, X, Y) < 1e-4
    moved_params, moved_Y, moved = checks.clear_of_kinks(s, params, X, Y, 1e-4)
    assert checks.kink_margin(s, moved_params, X, moved_Y) >= 1e-4
    assert 0 < moved <= 4e-4
    changed = moved_params["b1"] != params["b1"]
    assert 0 < changed.sum() < 100
    np.testing.assert_array_equal(moved_params["W1"], params["W1"])
    assert checks.clear_of_kinks(s, moved_params, X, moved_Y, 1e-4)[2] == 0.0


def test_a_very_wide_layer_passes_without_a_seed_to_change():
    # widths=3,100000,1 failed two checks with error inf and the advice "change the seed",
    # but backprop has no seed parameter: some of its 500 000 pre-activations always lie
    # within 100 steps of the kink.
    results = symderiv.derive("backprop", widths=(3, 100000, 1)).verify()
    assert [(r.name, r.max_error) for r in results if not r.passed] == []
    assert not any("change the seed" in r.detail for r in results)


def test_deep_network_passes_the_output_kink_check():
    # widths=50 x 10, 1: unscaled dyadic weights gave activations of 1e8, whose rounding in
    # the loss (eps |L| / h = 1e-2) swamped the one-sided quotients (gap 3.3e-3).
    widths = (50,) * 10 + (1,)
    s = setting(widths=widths)
    params, X, Y = checks.output_kink_problem(s)
    assert np.max(np.abs(checks._forward_outputs(s, params, X))) < 100
    measured = checks.kink_check(generated(widths=widths), s, "output")
    assert measured.error < 1e-6
    assert checks.kink_check(scaled(generated(widths=widths), "b10", 1.5), s, "output").error > 1e-3
    results = symderiv.derive("backprop", widths=widths).verify()
    assert [r.name for r in results if not r.passed] == []


def test_output_kink_steps_avoid_other_samples_kinks(monkeypatch):
    s = setting()
    params, X, Y = checks.output_kink_problem(s)
    residual = checks._forward_outputs(s, params, X)[1, 0]
    Y[1, 0] = residual - 3e-7  # another sample 3e-7 from its own kink
    steps = checks.output_kink_steps(s, params, X, Y)
    assert steps["b2"] <= 3e-7 / 4 * (1 + 1e-6)
    assert np.all(steps["W2"] <= 1e-6)
    monkeypatch.setattr(checks, "output_kink_problem", lambda setting, seed=4: (params, X, Y))
    assert checks.kink_check(generated(), s, "output").error < 1e-6
    assert checks.kink_check(output_slope_at_kink(1.0), s, "output").error > 1e-3


def test_non_default_alpha_is_refused_without_the_leaky_relu():
    with pytest.raises(InputError) as caught:
        symderiv.derive("backprop", activation="relu", alpha=0.3)
    assert str(caught.value) == (
        "alpha=0.3 is the slope of the leaky ReLU and plays no part with activation='relu'; "
        "leave alpha at its default 0.01 or choose activation='leaky_relu'")
    with pytest.raises(InputError, match="activation='tanh'"):
        backprop.gradient_function((3, 4, 1), activation="tanh", alpha=0.2)
    assert symderiv.derive("backprop", activation="leaky_relu", alpha=0.3).parameters["alpha"] == 0.3


@pytest.mark.parametrize("dtype, hint", [(complex, "; pass X.real if the imaginary part is "
                                                   "meant to be dropped"), (str, "")])
def test_non_real_inputs_are_refused(dtype, hint):
    params, X, Y = problem()
    g = backprop.gradient_function((3, 4, 1))
    with pytest.raises(InputError) as caught:
        g(params, X.astype(dtype), Y)
    assert str(caught.value) == (
        f"X has dtype {X.astype(dtype).dtype}; the gradient needs real numbers, an array of "
        f"floats or integers{hint}")
    with pytest.raises(InputError, match="W1 has dtype complex128"):
        g({**params, "W1": params["W1"] + 0j}, X, Y)
    with pytest.raises(InputError, match="y has dtype object"):
        g(params, X, np.array([object()] * len(X)))
    assert g(params, X.astype(np.int64), Y.astype(bool))["W1"].dtype == np.float64


def test_elementwise_results_print_readably():
    d = symderiv.derive("backprop")
    assert str(d.results["delta2"]) == "sign(z[2] - y)"
    assert sp.pretty(d.results["delta2"], use_unicode=True) == "sign(z[2] - y)"
    assert "entrywise" not in str(d.results["delta1"])
    bce = symderiv.derive("backprop", widths=(3, 4, 2), activation="tanh", loss="bce")
    # The sum stays in parentheses inside a product.
    assert str(bce.results["delta2"]) == "1/m*(Sigmoid(z[2]) - y)"
    assert str(bce.results["delta1"]) == "HadamardProduct(W[2].T*delta[2], (1 - tanh(z[1])**2))"
    assert "(Sigmoid(z[2]) - y)" in sp.pretty(bce.results["delta2"], use_unicode=True)


def test_kink_margin_is_infinite_without_kinks():
    s = setting(activation="tanh", loss="mse")
    assert checks.kink_margin(s, *checks.random_problem(s, 1)) == np.inf


def test_kink_checks_name_the_output_layer():
    names = [c.name for c in symderiv.derive("backprop", widths=(2, 3, 3, 1)).checks]
    assert "Kink of $|u|$ at $z^{(3)}_1 = y_1$" in names
    assert not any("z^{(L)}" in n for n in names)


def test_alpha_is_a_parameter_only_of_the_leaky_relu():
    relu = symderiv.derive("backprop")
    assert "alpha" not in relu.parameters
    assert backprop.derive(alpha=0.01) is backprop.derive()
    leaky = symderiv.derive("backprop", activation="leaky_relu", alpha=0.2)
    assert leaky.parameters["alpha"] == 0.2


def test_deeper_networks_state_the_activation_and_the_pairing_once():
    d = symderiv.derive("backprop", widths=(2, 3, 3, 2), activation="leaky_relu")
    tex = standalone(d)
    assert tex.count(r"SymPy's derivative of $\phi$ is") == 1
    assert tex.count("Hold $") == 1
    assert tex.count("the same $\\phi'$ as above") == 1


# ---------------------------------------------------------------- kink values from the quotients


@pytest.fixture
def fresh_caches():
    """Derivations and generated gradients rebuilt from the (possibly patched) policies."""
    from symderiv.topics.backprop import generated as generated_module

    def clear():
        backprop._derive.cache_clear()
        generated_module.generated_gradient.cache_clear()

    clear()
    yield clear
    clear()


def _kink_results(kink, activation="relu"):
    d = backprop.derive(kink=kink, activation=activation)
    return [r for r in d.verify() if r.name.startswith("Kink of the activation")]


@pytest.mark.parametrize(
    ("kink", "activation", "wrong"),
    [
        ("zero", "relu", sp.Rational(1, 2)),
        ("set", "relu", sp.Integer(1)),
        ("half", "relu", sp.Integer(0)),
        ("half", "relu", sp.Rational(1, 3)),
        ("zero", "leaky_relu", sp.Rational(1, 2)),
    ],
)
def test_kink_check_fails_when_the_policy_table_is_wrong(monkeypatch, fresh_caches, kink,
                                                         activation, wrong):
    """A wrong number in symderiv.kinks.POLICIES reaches the derivation and the generated code;
    the check takes its expected value from the one-sided quotients and catches it."""
    import dataclasses

    from symderiv import kinks

    (right,) = _kink_results(kink, activation)
    assert right.passed and right.max_error < 1e-8, right
    fresh_caches()
    monkeypatch.setitem(kinks.POLICIES, kink,
                        dataclasses.replace(kinks.POLICIES[kink], step_at_zero=wrong))
    (mutated,) = _kink_results(kink, activation)
    assert not mutated.passed, mutated
    assert mutated.max_error > 1e-3


def test_expected_kink_value_is_written_from_the_policy_names():
    assert checks.expected_at_activation_kink("half", 0.2, 1.0) == pytest.approx(0.6)
    assert checks.expected_at_activation_kink("zero", 0.2, 1.0) == 0.2
    assert checks.expected_at_activation_kink("set", 0.0, 1.0) == 0.0
    with pytest.raises(ValueError, match="policy 'mean'"):
        checks.expected_at_activation_kink("mean", 0.0, 1.0)


@pytest.mark.parametrize(("widths", "method"), [
    ((3, 4, 4, 1), "SymPy, differentiating the scalar loss symbol by symbol"),
    ((4, 4, 4, 4, 4, 4, 1), "central differences on sampled entries"),
])
def test_deep_networks_check_the_matrix_form_numerically(widths, method):
    # The symbolic proof's time grows steeply with depth; six layers took minutes.
    derivation = symderiv.derive("backprop", widths=widths)
    proof = derivation.checks[0]
    assert proof.method.startswith(method)
    assert proof.evaluate().passed


def test_wide_input_passes_the_hidden_kink_check():
    # Unscaled dyadic first-layer weights (entries up to 2 for 784 inputs) made the loss large
    # enough that rounding in the one-sided quotients exceeded the tolerance (1.2e-6).
    s = setting(widths=(784, 256, 1), activation="leaky_relu", loss="mse")
    g = generated(widths=(784, 256, 1), activation="leaky_relu", loss="mse")
    assert checks.kink_check(g, s, "hidden").error < 1e-6
    assert checks.kink_check(scaled(g, "b1", 1.5), s, "hidden").error > 1e-3

"""Tests of the convexity topic: results, checks (and that they can fail), inputs, stability."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import latexify
import numpy as np
import pytest
import sympy as sp

import symderiv
from symderiv.derivation import Figure, Listing
from symderiv.errors import InputError
from symderiv.render.document import standalone
from symderiv.topics import convexity
from symderiv.topics.convexity import logits as logits
from symderiv.topics.convexity import losses as losses
from symderiv.topics.convexity import multiclass as softmax_part
from symderiv.topics.convexity import parameters as params
from symderiv.topics.convexity import prediction as prediction
from symderiv.topics.convexity import reference as ref
from symderiv.topics.convexity import stability as stability
from symderiv.topics.convexity.checks import (
    derivative_check,
    jensen_check,
    negative_region,
    second_derivative_check,
)
from symderiv.topics.convexity.losses import P, Y, Z

Z_MP = ref.mp_binary


@pytest.fixture(scope="module")
def derivation():
    return symderiv.derive("convexity")


@pytest.fixture(scope="module")
def results(derivation):
    return derivation.verify()


# --------------------------------------------------------------------------- the derivation


def test_every_check_passes(results):
    failed = [(r.name, r.max_error, r.detail) for r in results if not r.passed]
    assert not failed
    assert len(results) >= 25


def test_every_result_is_numeric(derivation):
    """Each result's NumPy function gives SymPy's own value at a point inside every domain.

    Arguments are set to 0.2, 0.33, 0.46, ... (all in (0, 1), so probabilities and labels are
    valid); 1e-12 allows the rounding of a few float64 operations.
    """
    for name, expr in derivation.results.items():
        function = derivation.numpy(name)
        arguments = derivation.signatures.get(name) or tuple(
            sorted(expr.free_symbols, key=lambda s: s.name))
        values = [0.2 + 0.13 * i for i in range(len(arguments))]
        point = {symbol: sp.Float(v, 30) for symbol, v in zip(arguments, values, strict=True)}
        exact = np.array(sp.N(sp.sympify(expr).xreplace(point).doit(), 20), dtype=float)
        got = np.asarray(function(*values), dtype=float)
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got.reshape(exact.shape), exact, rtol=1e-12, atol=1e-14,
                                   err_msg=name)


def test_parameters_are_recorded(derivation):
    assert dict(derivation.parameters) == {"classes": 3, "seed": 0, "samples": 2000}
    assert [p.name for p in convexity.PARAMETERS] == ["classes", "seed", "samples"]


def test_mse_results(derivation):
    r = derivation.results
    assert r["d2mse/dyhat2"] == 1
    assert r["mse: vector hessian"] == sp.eye(3)
    t, a, b = derivation.signatures["mse: jensen gap"]
    assert sp.expand(r["mse: jensen gap"] - t * (1 - t) * (a - b) ** 2 / 2) == 0


def test_bce_second_derivative_is_the_source_form(derivation):
    second = derivation.results["d2bce/dp2"]
    assert sp.cancel(second - (Y / P**2 + (1 - Y) / (1 - P) ** 2)) == 0


def test_logit_results(derivation):
    r = derivation.results
    assert sp.expand(r["dbce/dz"] - (P - Y)) == 0
    assert sp.expand(r["d2bce/dz2"] - P * (1 - P)) == 0
    assert sp.expand(r["dmse/dz"] - (P - Y) * P * (1 - P)) == 0
    expected = P * (1 - P) * (P * (1 - P) + (P - Y) * (1 - 2 * P))
    assert sp.expand(r["d2mse/dz2"] - expected) == 0
    value = r["d2mse/dz2 at z=-2, y=1"]
    assert value.is_negative
    assert float(value) == pytest.approx(-0.0594071, rel=1e-5)


def test_saturation_limits(derivation):
    assert list(derivation.results["saturation: limits"]) == [-1, 0]


def test_parameter_space_results(derivation):
    r = derivation.results
    assert list(r["product: eigenvalues at 0"]) == [-1, 1]
    assert r["product: midpoint loss"] == sp.Rational(1, 2)
    half = sp.Rational(1, 2)
    assert list(r["relu: eigenvalues at midpoint"]) == [-half, half, half, half]
    assert r["relu: midpoint loss"] == sp.Rational(1, 8)


def test_softmax_hessian_is_diag_p_minus_ppT(derivation):
    hessian = derivation.numpy("softmax: hessian")
    z = np.array([0.3, -1.2, 2.0])
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(np.array(hessian(*z), float), np.diag(p) - np.outer(p, p),
                               atol=1e-15)


def test_negative_region_is_exact():
    assert negative_region(2 / P**2 - 1 / (1 - P) ** 2, P) == sp.Interval.open(2 - sp.sqrt(2), 1)
    assert negative_region(P * (1 - P) ** 2 * (3 * P - 1), P) == sp.Interval.open(0, sp.Rational(1, 3))
    assert negative_region(1 / P**2, P) == sp.S.EmptySet


@pytest.mark.parametrize("classes", [2, 5])
def test_other_class_counts(classes):
    d = symderiv.derive("convexity", classes=classes, samples=300)
    assert all(r.passed for r in d.verify())
    assert d.results["softmax: hessian"].shape == (classes, classes)
    assert d.results["mse: vector hessian"] == sp.eye(classes)


# --------------------------------------------------------------------------- checks can fail


def _fails(check) -> bool:
    return not check.evaluate().passed


def _logit_sampler(generator):
    return generator.uniform(-4, 4, 50), generator.uniform(0, 1, 50)


def test_second_derivative_check_catches_a_wrong_formula():
    wrong = Y / P**2  # the source's hard-label form, missing the (1-y)/(1-p)^2 term

    def sampler(g):
        return g.uniform(0.2, 0.8, 50), g.uniform(0, 1, 50)

    good = Y / P**2 + (1 - Y) / (1 - P) ** 2
    assert not _fails(second_derivative_check("ok", good, (P, Y), ref.bce_reference, sampler, 0))
    assert _fails(second_derivative_check("bad", wrong, (P, Y), ref.bce_reference, sampler, 0))


def test_derivative_check_catches_a_wrong_gradient():
    sigma = 1 / (1 + sp.exp(-Z))
    assert not _fails(derivative_check("ok", sigma - Y, (Z, Y), ref.bce_logits_reference,
                                       _logit_sampler, 0))
    assert _fails(derivative_check("bad", sigma + Y, (Z, Y), ref.bce_logits_reference,
                                   _logit_sampler, 0))


def test_jensen_check_fails_both_ways():
    def sampler(g, n):
        return g.uniform(-8, 8, n), g.uniform(-8, 8, n)

    def concave(z):
        return losses.mse_from_logits(z, 1.0)

    def convex(z):
        return losses.bce_from_logits(z, 1.0)

    assert _fails(jensen_check("concave claimed convex", concave, sampler, 0, 500))
    assert _fails(jensen_check("convex claimed not", convex, sampler, 0, 500, convex=False))
    assert not _fails(jensen_check("convex", convex, sampler, 0, 500))


def test_negative_curvature_check_can_fail():
    from symderiv.topics.convexity.logits import negative_curvature_check

    exact = -(sp.exp(2) - 2) * sp.exp(4) / (1 + sp.exp(2)) ** 4
    assert not _fails(negative_curvature_check("ok", exact, -2.0, 1.0))
    assert _fails(negative_curvature_check("wrong value", exact / 2, -2.0, 1.0))
    # at z = 0 with y = 1 the curvature is positive: the check must refuse it
    assert _fails(negative_curvature_check("convex point", exact, 0.0, 1.0))


def test_parameter_checks_can_fail():
    w1, w2, x, y = params.W1, params.W2, params.X, params.Y
    wrong = sp.Matrix([[w2**2 * x**2, 0], [0, w1**2 * x**2]])  # drops the mixed term
    assert _fails(params.hessian_check("h", wrong, (w1, w2), ref.product_net_loss, 0))
    origin = {w1: 0, w2: 0, x: 1, y: 1}
    assert _fails(params.eigenvalue_check("e", [-2, 2], origin, (w1, w2), ref.product_net_loss))
    # at a zero-loss point the Hessian is J^T J: PSD, so "indefinite" must fail
    fitted = {w1: 1, w2: 1, x: 1, y: 1}
    assert _fails(params.eigenvalue_check("psd", [0, 2], fitted, (w1, w2), ref.product_net_loss))
    settings = ({w1: 1, w2: 1}, {w1: -1, w2: -1})
    assert _fails(params.jensen_witness_check("j", settings, sp.Rational(1, 4), (w1, w2),
                                              ref.product_net_loss))
    assert _fails(params.random_violation_check(
        "convex", lambda th, x, y: (th[0] - y) ** 2 + th[1] ** 2, 2, 0, 200))


def test_softmax_checks_can_fail():
    s = softmax_part._symbols(3)
    z, y, p, v = s["z"], s["y"], s["p"], s["v"]
    total = sum(sp.exp(zk) for zk in z)
    probs = sp.Matrix([sp.exp(zk) / total for zk in z])
    wrong_hessian = sp.diag(*probs) + probs * probs.T
    assert _fails(softmax_part.hessian_check("h", wrong_hessian, z, 0))
    assert _fails(softmax_part.gradient_check("g", probs + sp.Matrix(y), z, y, 0))
    assert _fails(softmax_part.psd_check("psd", 3, 0, 100,
                                         hessian=lambda l: -losses.softmax_cross_entropy_hessian(l)))
    quadratic = sum(pk * vk**2 for pk, vk in zip(p, v, strict=True))  # drops -(p.v)^2
    assert _fails(softmax_part.variance_check("v", quadratic, p, v, 0))


def test_stability_check_fails_for_the_textbook_formulas():
    forms = stability.textbook_forms()
    naive = {
        name: (lambda f: (lambda z, y=0.0: f(z, y)))(sp.lambdify((Z, Y), forms[name], "numpy"))
        for name in ("bce_from_logits", "bce_from_logits_gradient")
    }
    with np.errstate(all="ignore"):
        assert _fails(stability.binary_extremes_check("naive", naive))
    assert stability.naive_failures() > 0


# --------------------------------------------------------------------------- input policy


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: convexity.bce(np.array([0.2, 1.0, 1.5]), 1.0),
         "p=1.0 at index (1,) is outside the open interval (0, 1) (2 of 3 values); pass logits "
         "to bce_from_logits for saturated predictions, or clip explicitly with "
         "numpy.clip(p, eps, 1 - eps)"),
        (lambda: convexity.bce_gradient(0.0, 1.0),
         "p=0.0 is outside the open interval (0, 1) (1 of 1 value); pass logits to "
         "bce_from_logits for saturated predictions, or clip explicitly with "
         "numpy.clip(p, eps, 1 - eps)"),
        (lambda: convexity.bce_from_logits(0.0, [0.5, 1.2]),
         "y=1.2 at index (1,) is outside [0, 1] (1 of 2 values); labels are probabilities: "
         "0 or 1 (hard) or a number in between (soft)"),
        (lambda: convexity.bce_from_logits([np.inf], 1.0),
         "z=inf at index (0,) is not finite (1 of 1 value); z must be a finite number"),
        (lambda: convexity.softmax_cross_entropy([[1.0, 2.0, 3.0]], [[0.5, 0.4, 0.0]]),
         "the target row at index (0,) sums to 0.9 or has a negative entry (1 of 1 row); "
         "each row must be non-negative and sum to 1"),
        (lambda: convexity.softmax_cross_entropy([[1.0, 2.0, 3.0]], [[1.0, 0.0]]),
         "y has shape (1, 2) but the logits have 3 classes; give targets with last axis 3 "
         "(one-hot or probabilities)"),
        (lambda: convexity.softmax([1.0]),
         "z has shape (1,); softmax needs logits with a class axis of length at least 2 as "
         "the last axis"),
        (lambda: symderiv.derive("convexity", classes=7),
         "classes=7 is not allowed; choose K between 2 and 6 (the symbolic Hessian grows as "
         "K^2; the NumPy functions take any K)"),
        (lambda: symderiv.derive("convexity", samples=10),
         "samples=10 is outside 100..100000; choose a number of Jensen pairs in that range"),
        (lambda: symderiv.derive("convexity", seed=-1),
         "seed=-1 is negative; give a seed of 0 or more"),
    ],
)
def test_input_errors(call, message):
    with pytest.raises(InputError) as caught:
        call()
    assert str(caught.value) == message


def test_probability_nan_is_rejected():
    with pytest.raises(InputError, match="outside the open interval"):
        convexity.bce(np.nan, 0.0)


# --------------------------------------------------------------------------- numbers


def test_functions_are_vectorised_and_broadcast():
    z = np.linspace(-5, 5, 12).reshape(3, 4)
    y = np.array([0.0, 0.3, 0.7, 1.0])
    for function in (convexity.bce_from_logits, convexity.bce_from_logits_gradient,
                     convexity.bce_from_logits_second_derivative, convexity.mse_from_logits,
                     convexity.mse_from_logits_gradient,
                     convexity.mse_from_logits_second_derivative):
        assert function(z, y).shape == (3, 4)
    assert convexity.mse_second_derivative(z, y).shape == (3, 4)
    logits = np.random.default_rng(0).normal(size=(7, 4))
    assert convexity.softmax_cross_entropy_hessian(logits).shape == (7, 4, 4)


def test_no_nan_or_inf_at_extreme_logits():
    z = np.array([-1e308, -1e300, -1e4, -745.0, 0.0, 745.0, 1e4, 1e300, 1e308])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for y in (0.0, 0.5, 1.0):
            for function in (convexity.bce_from_logits, convexity.bce_from_logits_gradient,
                             convexity.bce_from_logits_second_derivative,
                             convexity.mse_from_logits, convexity.mse_from_logits_gradient,
                             convexity.mse_from_logits_second_derivative):
                assert np.all(np.isfinite(function(z, y)))
        rows = np.array([[1e300, -1e300, 0.0], [-1e4, 1e4, 3.0]])
        target = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        loss = convexity.softmax_cross_entropy(rows, target)
        np.testing.assert_allclose(loss, [2e300, 2e4], rtol=1e-15)


def test_bce_in_p_never_nan_near_the_ends():
    p = np.array([5e-324, 1e-300, 1e-154, 0.5, 1 - 2**-53])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for y in (0.0, 1.0, 0.5):
            for function in (convexity.bce, convexity.bce_gradient,
                             convexity.bce_second_derivative):
                assert not np.any(np.isnan(function(p, y)))
    assert np.all(np.isfinite(convexity.bce(p, 0.3)))
    assert convexity.bce_second_derivative(5e-324, 0.0) == pytest.approx(1.0)
    assert np.isinf(convexity.bce_second_derivative(1e-200, 1.0))  # exact value 1e400


def test_bce_from_logits_matches_bce_of_sigmoid():
    # the probability path loses digits once sigma(z) rounds near 1 (z > 10 or so)
    z = np.linspace(-20, 20, 41)
    y = np.linspace(0, 1, 41)
    np.testing.assert_allclose(convexity.bce_from_logits(z, y),
                               convexity.bce(convexity.sigmoid(z), y), rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("z", [-1e300, -800.0, -37.5, -1.0, 0.0, 2.5, 40.0, 900.0, 1e300])
@pytest.mark.parametrize("y", [0.0, 0.1, 1.0])
def test_binary_functions_against_mpmath(z, y):
    exact = ref.mp_binary(z, y)
    for name in stability.BINARY_NAMES:
        function = getattr(convexity, name)
        actual = function(np.array([z])) if name == "sigmoid" else function(np.array([z]), y)
        assert ref.relative_to_exact(actual, [exact[name]]) <= 1e-13, name


def test_softmax_is_shift_invariant_and_matches_binary():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(20, 2))
    target = np.array([0.0, 1.0]) * np.ones((20, 1))
    np.testing.assert_allclose(convexity.softmax_cross_entropy(logits, target),
                               convexity.softmax_cross_entropy(logits + 1e3, target), rtol=1e-12)
    # two classes reduce to binary cross-entropy of the logit difference
    np.testing.assert_allclose(convexity.softmax_cross_entropy(logits, target),
                               convexity.bce_from_logits(logits[:, 1] - logits[:, 0], 1.0),
                               rtol=1e-12)


def test_softmax_hessian_eigenvalues_scipy():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    logits = np.random.default_rng(3).normal(0, 4, (50, 5))
    for h in convexity.softmax_cross_entropy_hessian(logits):
        eigenvalues = scipy_linalg.eigh(h, eigvals_only=True)
        assert eigenvalues.min() > -1e-15
        assert abs(eigenvalues.min()) < 1e-15


# --------------------------------------------------------------------------- report pieces


def _figure(derivation) -> Figure:
    return next(b for b in derivation.steps if isinstance(b, Figure))


def test_saturation_figure_numbers(derivation):
    plot = _figure(derivation).plot
    x = np.array(plot.x)
    assert x[0] == -10 and x[-1] == 10 and len(x) == 81
    (bce_label, bce), (mse_label, mse) = plot.series
    assert "p - y" in bce_label and "(p - y)" in mse_label
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(bce, p - 1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(mse, (p - 1) * p * (1 - p), rtol=1e-12, atol=1e-15)
    # on the wrong side BCE's gradient stays near -1, MSE's vanishes
    assert bce[0] == pytest.approx(-0.9999546, rel=1e-6)
    assert abs(mse[0]) < 5e-5
    assert abs(mse[0] / bce[0]) < 1e-4
    # MSE's gradient peaks (in size) at p = 1/3, i.e. z = -log 2
    assert x[np.argmin(mse)] == pytest.approx(-np.log(2), abs=0.25)
    assert plot.hline == 0.0


def test_listings_latexify(derivation):
    listings = [b for b in derivation.steps if isinstance(b, Listing)]
    assert len(listings) == 3
    for listing in listings:
        assert latexify.get_latex(listing.function)


def test_latex_renders_with_results(derivation, results):
    text = standalone(derivation, results)
    assert r"\section{Where the source question differs}" in text
    assert "figures/convexity-saturation.pdf" in text
    assert f"{len(results)} of {len(results)} checks passed" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_latex_compiles(derivation, results, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = _figure(derivation)
    (tmp_path / "figures").mkdir()
    fig, ax = plt.subplots()
    for _label, ys in figure.plot.series:
        ax.plot(figure.plot.x, ys)
    fig.savefig(tmp_path / "figures" / "convexity-saturation.pdf")
    plt.close(fig)
    (tmp_path / "convexity.tex").write_text(standalone(derivation, results))
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-no-shell-escape", "-halt-on-error",
         "convexity.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]


def test_softmax_keeps_tiny_losses():
    # the right class leads by 97: the loss is log(1 + e^-97) ~ 7.5e-43, not 0
    logits = np.array([[0.0, 97.0, -50.0]])
    exact, _ = ref.mp_softmax(logits[0], np.array([0.0, 1.0, 0.0]))
    loss = convexity.softmax_cross_entropy(logits, [[0.0, 1.0, 0.0]])
    assert exact > 0
    assert loss[0] == pytest.approx(exact, rel=1e-13)


# --------------------------------------------------------------------------- review additions


def test_jensen_gap_is_chord_minus_curve():
    a, b, t = np.array([0.0, -1.0]), np.array([2.0, 3.0]), np.array([0.25, 0.5])
    gaps = ref.jensen_gaps(lambda u: u**2 / 2, a, b, t)
    np.testing.assert_allclose(gaps, t * (1 - t) * (a - b) ** 2 / 2)
    assert np.all(ref.jensen_gaps(lambda u: -(u**2), a, b, t) < 0)


def test_stationary_point_check_uses_the_derived_point():
    assert not _fails(prediction.stationary_point_check("ok", Y, 0))
    assert _fails(prediction.stationary_point_check("bad", Y / 2, 0))
    assert _fails(prediction.stationary_point_check("bad", 1 - Y, 0))


def test_report_separates_soft_and_hard_labels(derivation):
    text = standalone(derivation)
    assert "For a hard label the root lies outside $(0, 1)$" in text
    assert r"\left(\frac{2}{3}, 1\right)" in text  # the y = 0 region, solved
    assert derivation.results["bce: minimiser"] == Y


def test_stated_concave_logit_thresholds_match_the_numerical_sign_change(derivation):
    """The logit bounds in the prose are the derived results, located again by bisection."""
    text = " ".join(b.text for b in derivation.steps if hasattr(b, "text"))
    hard_one = logits.curvature_sign_change(1.0, -5.0, 0.0)
    hard_zero = logits.curvature_sign_change(0.0, 0.0, 5.0)
    assert hard_one < 0 < hard_zero
    bound = derivation.results["mse(z), y=1: concave for z below"]
    assert bound == -sp.log(2)
    assert list(derivation.results["mse(z), y=0: concave for p in"]) == [sp.Rational(2, 3), 1]
    # 1e-6 is the bisection's accuracy on second differences with h = 1e-4, with a margin
    assert abs(float(bound) - hard_one) < 1e-6
    assert abs(float(sp.log(2)) - hard_zero) < 1e-6
    for root, relation in ((hard_one, "<"), (hard_zero, ">")):
        closed = sp.nsimplify(root, [sp.log(2)], tolerance=1e-6)
        assert f"$z {relation} {sp.latex(closed)}$" in text, (relation, sp.latex(closed))


def test_concave_threshold_checks_are_in_the_report(results):
    found = {r.name: r for r in results if "concave exactly" in r.name}
    assert len(found) == 2
    for r in found.values():
        assert r.passed and r.max_error < 1e-7, (r.name, r.max_error)


@pytest.mark.parametrize(
    ("label", "bound", "negative_below"),
    [
        (1.0, -sp.log(2), True),
        (0.0, sp.log(2), False),
    ],
)
def test_concave_threshold_check_passes_on_the_derived_bound(label, bound, negative_below):
    assert not _fails(logits.concave_threshold_check("ok", label, bound, negative_below))


@pytest.mark.parametrize(
    ("label", "bound", "negative_below"),
    [
        (1.0, sp.Integer(0), True),  # the threshold p = 1/2 instead of 1/3
        (1.0, -sp.log(3), True),  # p = 1/4
        (1.0, -sp.log(2) + sp.Rational(1, 10**5), True),  # off by 1e-5
        (1.0, -sp.log(2), False),  # the region on the wrong side
        (0.0, -sp.log(2), False),  # the y = 1 bound used for y = 0
        (0.0, sp.log(2), True),
    ],
)
def test_concave_threshold_check_fails_on_a_wrong_bound(label, bound, negative_below):
    assert _fails(logits.concave_threshold_check("bad", label, bound, negative_below))


def test_curvature_bisection_needs_a_sign_change():
    with pytest.raises(ValueError, match="same sign"):
        logits.curvature_sign_change(1.0, 0.0, 5.0)

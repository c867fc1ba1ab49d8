r"""The checks of the normalization derivation: each compares with an independent computation.

* exact rationals: the spec's SymPy sums evaluated on the integer example tensor;
* a hand-written NumPy reference (:mod:`.reference`);
* central finite differences and the autograd package for the backward pass;
* SymPy differentiation of an explicit small group for the closed form;
* Monte Carlo for the bias of the variance.

Float32 tolerances are derived from the unit roundoff :math:`u = 2^{-24}`.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from symderiv.derivation import Check, Measurement
from symderiv.numeric import (
    FD_TOLERANCE,
    ROUNDOFF_TOLERANCE,
    central_difference_gradient,
    monte_carlo_tolerance,
    relative_error,
    rng,
)
from symderiv.topics.normalization import reference as reference
from symderiv.topics.normalization.kernels import (
    batch_norm,
    group_norm,
    group_norm_backward,
    instance_norm,
    layer_norm,
)

FLOAT32_UNIT = 2.0**-24
MONTE_CARLO_DRAWS = 200_000


def _affine(channels: int, generator) -> tuple[np.ndarray, np.ndarray]:
    return generator.normal(1.0, 0.5, channels), generator.normal(0.0, 0.5, channels)


def _divisors(channels: int) -> list[int]:
    return [d for d in range(1, channels + 1) if channels % d == 0]


# --------------------------------------------------------------------------- forward


def exact_forward_check(tensor, groups, eps, seed) -> Check:
    from symderiv.topics.normalization import example as example

    def run() -> Measurement:
        gamma, beta = _affine(tensor.shape[1], rng(seed))
        x = tensor.astype(float)
        generated = {
            "GN": group_norm(x, groups, gamma, beta, eps),
            "LN": layer_norm(x, gamma, beta, eps),
            "IN": instance_norm(x, gamma, beta, eps),
            "BN": batch_norm(x, gamma, beta, eps),
        }
        batch, channels = x.shape[:2]
        sets = {  # the index sets of each method, one per row
            "GN": x.reshape(batch * groups, -1), "LN": x.reshape(batch, -1),
            "IN": x.reshape(batch * channels, -1),
            "BN": np.moveaxis(x, 1, 0).reshape(channels, -1),
        }
        errors = {
            key: relative_error(
                value, example.exact_output(key, tensor, groups if key == "GN" else 1,
                                            gamma, beta, eps)) / forward_condition(sets[key], eps)
            for key, value in generated.items()
        }
        detail = ("Largest errors over the condition number: "
                  + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()) + ".")
        return Measurement(max(errors.values()), detail)

    return Check(
        "forward of BN, LN, IN, GN on the example tensor",
        "exact rational evaluation of the spec's sums (square root to 30 digits)",
        run, ROUNDOFF_TOLERANCE,
        r"The generated float64 functions against exact values: only rounding separates them. "
        r"Rounding the mean moves $x - \mu$ by about $2^{-53}\max|x|$, which the division "
        r"by $\sqrt{\sigma^2 + \epsilon}$ magnifies; each error is therefore divided by the "
        r"condition number $1 + \max_{\mathcal{S}} \bigl(\max_{i \in \mathcal{S}} |x_i| / "
        r"\sqrt{\sigma^2_{\mathcal{S}} + \epsilon}\bigr)$ over the index sets "
        r"$\mathcal{S}$, which is below $10$ unless "
        r"a set is (nearly) constant and $\epsilon$ tiny.",
    )


def forward_condition(rows: np.ndarray, eps: float) -> float:
    r""":math:`1 + \max_{\mathcal{S}} \max |x| / \sqrt{\sigma^2 + \epsilon}` over the rows (sets)."""
    spread = np.sqrt(np.var(rows, axis=1) + eps)
    return 1.0 + float(np.max(np.max(np.abs(rows), axis=1) / spread))


def example_statistics_check(tensor, groups) -> Check:
    from symderiv.topics.normalization import example as example

    def run() -> Measurement:
        stats = example.exact_statistics("GN", tensor, groups)
        grouped = tensor.reshape(tensor.shape[0], groups, -1).astype(float)
        means, variances = np.mean(grouped, axis=2), np.var(grouped, axis=2)
        error = max(
            max(abs(float(mean) - means[key]), abs(float(variance) - variances[key]))
            for key, (mean, variance) in stats.items()
        )
        return Measurement(error, f"{len(stats)} groups compared.")

    return Check(
        "worked example: exact group means and variances",
        r"\texttt{np.mean} and \texttt{np.var} of the reshaped tensor",
        run, ROUNDOFF_TOLERANCE,
        r"Integers below $10$ make the float64 mean and variance exact up to one rounding.",
    )


def reference_forward_check(seed) -> Check:
    def run() -> Measurement:
        generator = rng(seed + 1)
        x = generator.normal(0.5, 2.0, (3, 12, 5, 4))
        gamma, beta = _affine(12, generator)
        flat = reference.flatten_spatial(x)
        errors = {
            f"GN G={G}": relative_error(
                group_norm(x, G, gamma, beta), reference.group_norm_reference(
                    flat, G, gamma, beta, 1e-5).reshape(x.shape))
            for G in _divisors(12)
        }
        errors["BN"] = relative_error(
            batch_norm(x, gamma, beta),
            reference.batch_norm_reference(flat, gamma, beta, 1e-5).reshape(x.shape))
        worst = max(errors, key=errors.get)
        return Measurement(errors[worst], f"{len(errors)} cases; largest {worst}.")

    return Check(
        "forward of GN (every G dividing 12) and BN, shape (3,12,5,4)",
        r"hand-written NumPy reference (\texttt{np.mean}, \texttt{np.var})",
        run, ROUNDOFF_TOLERANCE,
        r"Two float64 computations of the same values in a different order.",
    )


def special_cases_numeric_check(seed) -> Check:
    def run() -> Measurement:
        x = rng(seed + 2).normal(0.0, 1.5, (4, 6, 3, 3))
        flat = reference.flatten_spatial(x)
        ln = relative_error(group_norm(x, 1).reshape(flat.shape),
                            reference.layer_norm_reference(flat, 1e-5))
        inst = relative_error(group_norm(x, 6).reshape(flat.shape),
                              reference.instance_norm_reference(flat, 1e-5))
        single = x[:1]
        bn_in = relative_error(batch_norm(single), instance_norm(single))
        return Measurement(max(ln, inst, bn_in),
                           f"GN(1) against LN {ln:.1e}, GN(C) against IN {inst:.1e}, "
                           f"BN against IN at N=1 {bn_in:.1e}.")

    return Check(
        "GN(G=1) = LN, GN(G=C) = IN, BN at N=1 = IN, on random tensors",
        "separately written LN and IN references",
        run, ROUNDOFF_TOLERANCE,
        r"The identities are exact, so only float64 rounding may separate the two sides.",
    )


def special_cases_symbolic_check() -> Check:
    from symderiv.topics.normalization import spec as spec

    def run() -> Measurement:
        failed = [name for name, (a, b) in spec.special_cases().items() if a != b]
        return Measurement(float(len(failed)), "Failed: " + ", ".join(failed) + "."
                           if failed else "All four identities hold.")

    return Check(
        "GN(G=1) = LN and GN(G=C) = IN as index-set sums",
        "SymPy: substitute G, rename indices, compare structurally",
        run, 0.0,
        r"A symbolic identity either holds or not; the error counts the ones that fail.",
    )


def batch_coupling_check(seed) -> Check:
    def run() -> Measurement:
        generator = rng(seed + 3)
        x = generator.normal(0.0, 1.0, (3, 4, 2, 2))
        moved = x.copy()
        moved[1:] += generator.normal(0.0, 1.0, moved[1:].shape)
        gn_change = float(np.max(np.abs(group_norm(moved, 2)[0] - group_norm(x, 2)[0])))
        bn_change = float(np.max(np.abs(batch_norm(moved)[0] - batch_norm(x)[0])))
        gamma, beta = _affine(4, generator)
        degenerate = relative_error(batch_norm(generator.normal(size=(1, 4, 1, 1)), gamma, beta),
                                    beta.reshape(1, 4, 1, 1))
        # the error is 1 unless BN reacts to the other samples and GN does not
        error = gn_change + degenerate + (1.0 if bn_change < 1e-3 else 0.0)
        return Measurement(error, f"Changing samples 1 and 2 moves BN's output for sample 0 "
                                  f"by up to {bn_change:.2f} and GN's by {gn_change:.1e}; "
                                  f"BN at N=H=W=1 returns beta to {degenerate:.1e}.")

    return Check(
        "BN couples samples, GN does not; BN at N=H=W=1 outputs beta",
        "perturb other samples and compare outputs; compare with beta",
        run, ROUNDOFF_TOLERANCE,
        r"GN must not move at all and the degenerate BN output must equal $\beta$ up to "
        r"rounding; BN must move by more than $10^{-3}$.",
    )


# The kernels promise (kernels.CANCELLATION_BITS, written out here so that raising the
# threshold there fails the check) that the one-pass variance loses at most 4 bits beyond
# the conditioning of the data; any float32 implementation already errs by about
# u (1 + |mu|/sigma), because rounding x or mu moves x - mu by about u|mu|.
PROMISED_BITS = 4
FLOAT32_PROMISE = 2**PROMISED_BITS * FLOAT32_UNIT
# Means (in units of the spread) of the float32 cases: 0; 3, the largest ratio the one-pass
# variance is used for (mu^2/sigma^2 = 9 < 2^4 - 1); 50, which needs the two-pass
# recomputation unless the threshold is raised to 12 bits or more; 1000 (20 bits or more).
FLOAT32_MEANS = (0.0, 3.0, 50.0, 1000.0)


def float32_check(seed) -> Check:
    import autograd

    gradients = autograd.grad(
        lambda xg, beta, weights: reference.group_norm_loss(xg[0], xg[1], beta, weights, 4,
                                                            1e-5))

    def run() -> Measurement:
        generator = rng(seed + 4)
        gamma, beta = _affine(8, generator)
        gamma32, beta32 = gamma.astype(np.float32), beta.astype(np.float32)
        errors, dtypes = {}, set()
        for mean in FLOAT32_MEANS:
            x32 = generator.normal(mean, 1.0, (2, 8, 16, 16)).astype(np.float32)
            dy32 = generator.normal(0.0, 1.0, x32.shape).astype(np.float32)
            x, dy = x32.astype(float), dy32.astype(float)
            y32 = group_norm(x32, 4, gamma32, beta32)
            dx32, dg32, db32 = group_norm_backward(x32, dy32, 4, gamma32)
            dtypes |= {y32.dtype, dx32.dtype, dg32.dtype, db32.dtype}
            # float64 references on the same float32 values: the hand-written forward, and
            # autograd through the hand-written loss sum(dy * GN(x)) for dx and dgamma
            exact = reference.group_norm_reference(reference.flatten_spatial(x), 4,
                                                   gamma32.astype(float), beta, 1e-5)
            dx, dgamma = gradients((x, gamma32.astype(float)), beta, dy)
            condition = 1.0 + abs(float(np.mean(x))) / float(np.std(x))
            errors[mean] = max(relative_error(y32.reshape(exact.shape), exact),
                               relative_error(dx32, dx), relative_error(dg32, dgamma)) / condition
        error = max(errors.values()) + (0.0 if dtypes == {np.dtype(np.float32)} else 1.0)
        return Measurement(
            error,
            "Largest error of $y$, $\\partial L/\\partial x$ and $\\partial L/\\partial\\gamma$ "
            "over the condition number, in units of $u$, at mean "
            + ", ".join(f"{m:g}: ${v / FLOAT32_UNIT:.2f}$" for m, v in errors.items())
            + "; every output stays float32.")

    return Check(
        "float32 GN forward and backward keep float32 and the promised accuracy",
        "float64 hand-written reference and autograd on the same float32 values, "
        "random $\\partial L/\\partial y$; means $0$, $3$, $50$, $1000$, standard deviation $1$",
        run, FLOAT32_PROMISE,
        r"Rounding $x$ or $\mu$ to float32 moves $x - \mu$ by about $u|\mu|$, "
        r"$u = 2^{-24}$, so any float32 implementation errs by about $u\,\kappa$ with the "
        r"condition number $\kappa = 1 + |\mu|/\sigma$ of the data; the kernels promise to "
        r"lose at most $4$ more bits (the one-pass variance $E[x^2] - \mu^2$ is used only "
        r"while $\mu^2/\sigma^2 < 2^4 - 1$). Each error, relative to the size of the "
        r"reference, is divided by $\kappa$ and must stay below $2^4 u$, with no further "
        r"safety factor. The backward pass reuses the same statistics; its extra sums over "
        r"$m = 512$ values add about $\log_2 m \approx 9$ roundings, inside the same bound. "
        r"A threshold raised to $12$ bits loses about $11$ bits at mean $50$ and fails; a "
        r"one-pass variance everywhere loses about $20$ at mean $1000$.",
    )


# --------------------------------------------------------------------------- running stats


def running_statistics_check(seed, function=None) -> Check:
    """Batch norm with running statistics against the hand-written test-time formula."""

    def run() -> Measurement:
        normalize = batch_norm if function is None else function
        generator = rng(seed + 9)
        x = generator.normal(2.0, 3.0, (4, 6, 5, 5))
        gamma, beta = _affine(6, generator)
        running_mean = generator.normal(2.0, 1.0, 6)
        running_var = generator.uniform(0.05, 9.0, 6)
        eps = 1e-3  # large enough that forgetting it is far above rounding
        got = normalize(x, gamma, beta, eps, running_mean=running_mean, running_var=running_var)
        expected = reference.batch_norm_running_reference(x, gamma, beta, running_mean,
                                                          running_var, eps)
        return Measurement(relative_error(got, expected),
                           "Random batch (mean 2, standard deviation 3) and running statistics "
                           "unlike the batch's own, $\\epsilon = 10^{-3}$.")

    return Check(
        "BN with running statistics: $\\gamma_c(x - \\bar{\\mu}_c)/"
        "\\sqrt{\\bar{\\sigma}^2_c + \\epsilon} + \\beta_c$",
        "hand-written NumPy test-time formula",
        run, ROUNDOFF_TOLERANCE,
        r"The same arithmetic in float64 in a different order: only rounding separates the "
        r"two. The running statistics differ from the batch's own, so using the batch "
        r"statistics, dropping $\epsilon$ or rescaling the variance all fail.",
    )


def biased_variance_check(size, seed) -> Check:
    from symderiv.topics.normalization import spec as spec

    def run() -> Measurement:
        factor = float(spec.biased_variance_expectation(size).subs(
            sp.Symbol("sigma^2", positive=True), 1))
        draws = rng(seed + 5).normal(3.0, 2.0, (MONTE_CARLO_DRAWS, size))
        biased = np.var(draws, axis=1) / 4.0
        error = abs(float(np.mean(biased)) - factor)
        tolerance = monte_carlo_tolerance(biased)
        if tolerance == 0:
            # m = 1: the biased variance of one value is exactly 0 in every draw, so the
            # Monte Carlo mean has no spread and the comparison is exact.
            return Measurement(0.0 if error == 0 else np.inf,
                               f"With $m = {size}$ every draw's biased variance is exactly "
                               f"{np.mean(biased):g}; the derived factor is {factor:g} "
                               "(compared exactly).")
        return Measurement(error / tolerance * 1.0,
                           f"Monte Carlo mean {np.mean(biased):.4f} against {factor:.4f} "
                           f"(in units of the true variance).")

    return Check(
        "expected biased variance = (m-1)/m times the variance",
        f"Monte Carlo, {MONTE_CARLO_DRAWS} batches of normal draws (mean 3, variance 4)",
        run, 1.0,
        r"The error is divided by five standard errors of the Monte Carlo mean, so it passes "
        r"below $1$ (a false alarm about once in $1.7$ million seeds). For $m = 1$ every "
        r"draw gives exactly $0$ and the comparison is exact.",
    )


# --------------------------------------------------------------------------- backward


def closed_form_check() -> Check:
    from symderiv.topics.normalization import spec as spec

    def run() -> Measurement:
        size = 4
        xs = sp.symbols(f"x_1:{size + 1}", real=True)
        gs = sp.symbols(f"g_1:{size + 1}", real=True)
        mean = sp.Add(*xs) / size
        variance = sp.Add(*[(v - mean) ** 2 for v in xs]) / size
        loss = sp.Add(*[gj * (xj - mean) / sp.sqrt(variance + spec.eps)
                        for gj, xj in zip(gs, xs, strict=True)])
        closed = spec.group_backward()["closed"]
        point = {v: sp.Rational(p, 7) for v, p in zip(xs + gs, (3, -5, 11, 2, 4, -1, 6, 9),
                                                      strict=True)}
        point[spec.eps] = sp.Rational(1, 10)
        mean_value, variance_value = mean.xreplace(point), variance.xreplace(point)
        std = sp.sqrt(variance_value + point[spec.eps])
        xhat = [(point[v] - mean_value) / std for v in xs]
        worst = 0.0
        for index in range(size):
            direct = sp.diff(loss, xs[index]).xreplace(point)
            formula = closed.xreplace({
                spec.m: sp.Integer(size), spec.mu: mean_value, spec.var: variance_value,
                spec.eps: point[spec.eps],
                spec.xg[spec.i]: point[xs[index]], spec.dhat[spec.i]: point[gs[index]],
                spec.mean_dhat: sp.Add(*[point[v] for v in gs]) / size,
                spec.mean_dhat_xhat: sp.Add(*[point[v] * h for v, h in zip(gs, xhat,
                                                                          strict=True)]) / size,
            })
            worst = max(worst, abs(float(sp.N(direct - formula, 30))))
        return Measurement(worst, "Four coordinates at a rational point, 30 digits.")

    return Check(
        "closed-form dL/dx for a group of 4 values",
        "SymPy diff of the explicit 4-variable loss",
        run, 1e-25,
        r"Both sides are exact expressions evaluated to 30 digits; only the last digits may "
        r"differ.",
    )


def _backward_problem(seed, shape=(2, 6, 3, 2)):
    generator = rng(seed + 6)
    x = generator.normal(0.0, 1.0, shape)
    weights = generator.normal(0.0, 1.0, shape)
    gamma, beta = _affine(shape[1], generator)
    return x, weights, gamma, beta


def finite_difference_check(seed) -> Check:
    groups = 3

    def run() -> Measurement:
        x, weights, gamma, beta = _backward_problem(seed)
        dx, dgamma, dbeta = group_norm_backward(x, weights, groups, gamma)
        numeric = {
            "dx": central_difference_gradient(
                lambda v: float(np.sum(weights * group_norm(v, groups, gamma, beta))), x),
            "dgamma": central_difference_gradient(
                lambda v: float(np.sum(weights * group_norm(x, groups, v, beta))), gamma),
            "dbeta": central_difference_gradient(
                lambda v: float(np.sum(weights * group_norm(x, groups, gamma, v))), beta),
        }
        errors = {"dx": relative_error(dx, numeric["dx"]),
                  "dgamma": relative_error(dgamma, numeric["dgamma"]),
                  "dbeta": relative_error(dbeta, numeric["dbeta"])}
        return Measurement(max(errors.values()),
                           "Errors: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
                           + ".")

    return Check(
        "GN backward (dL/dx, dL/dgamma, dL/dbeta), shape (2,6,3,2), G=3",
        "central finite differences of sum(w y)",
        run, FD_TOLERANCE,
        r"Central differences with $h = 10^{-6}$ are accurate to about $10^{-8}$ here.",
    )


def autograd_check(seed) -> Check:
    groups = 4

    def run() -> Measurement:
        from autograd import grad

        x, weights, gamma, beta = _backward_problem(seed, (3, 8, 5, 4))
        dx, dgamma, dbeta = group_norm_backward(x, weights, groups, gamma)
        expected = [grad(reference.group_norm_loss, k)(x, gamma, beta, weights, groups, 1e-5)
                    for k in range(3)]
        errors = [relative_error(a, b) for a, b in zip((dx, dgamma, dbeta), expected,
                                                      strict=True)]
        return Measurement(max(errors), "Errors for x, gamma, beta: "
                           + ", ".join(f"{e:.1e}" for e in errors) + ".")

    return Check(
        "GN backward, shape (3,8,5,4), G=4",
        "reverse-mode autograd of a separately written forward",
        run, ROUNDOFF_TOLERANCE,
        r"Two exact-in-principle float64 gradients computed in a different order.",
    )


def memory_check(seed) -> Check:
    from symderiv.topics.normalization import spec as spec

    def run() -> Measurement:
        x = rng(seed + 7).normal(size=(5, 12, 3, 3))
        errors = 0.0
        for key, groups in (("GN", 4), ("LN", 1)):
            grouped = x.reshape(5, groups, -1)
            stored = np.mean(grouped, axis=2).size + np.var(grouped, axis=2).size
            kept = {spec.n: spec.N, spec.c: spec.C, spec.g: spec.G}
            formula = 2 * sp.Mul(*[kept[k] for k in spec.reductions()[key].kept])
            errors += abs(int(formula.subs({spec.N: 5, spec.G: groups})) - stored)
        return Measurement(errors, "With N = 5, G = 4: GN stores 40 statistics, LN 10.")

    return Check(
        "statistics stored: 2NG (GN) and 2N (LN)",
        "count the means and variances a reference computes",
        run, 0.0,
        r"Counts are integers and must agree exactly.",
    )


def build_checks(tensor, groups, eps, seed) -> tuple[Check, ...]:
    """All checks of the derivation for the worked example ``tensor``."""
    return (
        exact_forward_check(tensor, groups, eps, seed),
        example_statistics_check(tensor, groups),
        reference_forward_check(seed),
        special_cases_symbolic_check(),
        special_cases_numeric_check(seed),
        batch_coupling_check(seed),
        float32_check(seed),
        running_statistics_check(seed),
        biased_variance_check(tensor.shape[2] * tensor.shape[3], seed),
        closed_form_check(),
        finite_difference_check(seed),
        autograd_check(seed),
        memory_check(seed),
    )

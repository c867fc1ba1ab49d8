r"""Softmax cross-entropy is convex in the logits (beyond the source question).

For :math:`K` classes, :math:`p = \operatorname{softmax}(z)` and a target
:math:`y` on the probability simplex,

.. math::

    L(z) = -\sum_k y_k \log p_k = \log\sum_j e^{z_j} - y^\top z, \qquad
    \nabla L = p - y, \qquad \nabla^2 L = \operatorname{diag}(p) - p p^\top,

and :math:`v^\top \nabla^2 L\, v = \sum_k p_k v_k^2 - (\sum_k p_k v_k)^2
= \operatorname{Var}_{k \sim p}(v_k) \ge 0`, so the Hessian is positive
semidefinite for every :math:`K` and every :math:`z`.
"""

from __future__ import annotations

import autograd
import numpy
import sympy as sp

from symderiv.derivation import Check, Listing, Measurement, Section, Step
from symderiv.numeric import ROUNDOFF_TOLERANCE, lambdify_numpy, relative_error, rng
from symderiv.topics.convexity import losses as losses
from symderiv.topics.convexity import reference as ref
from symderiv.topics.convexity.checks import Part, confirm, jensen_check, scientific


def _symbols(classes: int) -> dict[str, tuple[sp.Symbol, ...]]:
    def vector(base: str, **assumptions) -> tuple[sp.Symbol, ...]:
        return tuple(sp.Symbol(f"{base}_{k}", **assumptions) for k in range(1, classes + 1))

    return {
        "z": vector("z", real=True),
        "y": vector("y", nonnegative=True),
        "p": vector("p", positive=True),
        "v": vector("v", real=True),
        "e": vector("e", positive=True),  # e_k stands for exp(z_k)
    }


def _random_simplex(generator: numpy.random.Generator, shape: tuple[int, ...]) -> numpy.ndarray:
    weights = generator.exponential(size=shape)
    return weights / weights.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------- checks


def hessian_check(name: str, hessian: sp.Matrix, z: tuple[sp.Symbol, ...], seed: int) -> Check:
    """The symbolic softmax-CE Hessian in the logits against autograd at random logits."""
    derived = lambdify_numpy(z, hessian)
    classes = len(z)

    def run() -> Measurement:
        generator = rng(seed)
        worst = 0.0
        for _ in range(20):
            logits = generator.normal(0, 2, classes)
            target = _random_simplex(generator, (classes,))
            expected = autograd.hessian(ref.softmax_ce_reference)(logits, target)
            worst = max(worst, relative_error(numpy.array(derived(*logits), float), expected))
            worst = max(worst, relative_error(losses.softmax_cross_entropy_hessian(logits),
                                              expected))
        return Measurement(worst, "Symbolic and public NumPy Hessians at 20 random logits.")

    return Check(name, "autograd Hessian", run,
                 ROUNDOFF_TOLERANCE,
                 "Autograd differentiates the hand-written log-sum-exp loss exactly; only float64 "
                 "rounding separates the results.")


def gradient_check(name: str, gradient: sp.Matrix, z, y, seed: int) -> Check:
    """The symbolic gradient p - y and the public NumPy gradient against autograd."""
    derived = lambdify_numpy((*z, *y), gradient)
    classes = len(z)

    def run() -> Measurement:
        generator = rng(seed)
        logits = generator.normal(0, 2, (50, classes))
        target = _random_simplex(generator, (50, classes))
        expected = autograd.elementwise_grad(ref.softmax_ce_reference)(logits, target)
        symbolic = numpy.array(derived(*logits.T, *target.T), float).reshape(classes, 50).T
        public = losses.softmax_cross_entropy_gradient(logits, target)
        error = max(relative_error(symbolic, expected), relative_error(public, expected))
        return Measurement(error, "Symbolic and public NumPy gradients at 50 random rows.")

    return Check(name, "autograd gradient", run,
                 ROUNDOFF_TOLERANCE,
                 "Autograd differentiates the hand-written loss exactly; only float64 rounding remains.")


def psd_check(name: str, classes: int, seed: int, samples: int, hessian=None) -> Check:
    """Eigenvalues of the Hessian (numpy.linalg.eigvalsh) at random logits: all >= 0, min = 0."""
    hessian = hessian or losses.softmax_cross_entropy_hessian

    def run() -> Measurement:
        generator = rng(seed)
        logits = generator.normal(0, 3, (samples, classes))
        eigenvalues = numpy.linalg.eigvalsh(hessian(logits))
        smallest = eigenvalues[:, 0]
        # PSD: no eigenvalue below -rounding; and the all-ones null vector makes the smallest 0.
        error = max(float(numpy.max(-eigenvalues)), float(numpy.max(numpy.abs(smallest))))
        return Measurement(
            max(error, 0.0),
            f"Smallest eigenvalue over {samples} random logit vectors: "
            f"{scientific(float(smallest.min()))}; largest: {scientific(float(eigenvalues.max()), 3)}.",
        )

    return Check(name, "eigvalsh, random logits", run, ROUNDOFF_TOLERANCE,
                 "The eigenvalues of a symmetric matrix with entries at most 1 are computed "
                 "to about $10^{-16}$; the smallest must be $0$ (null vector $\\mathbf{1}$) and "
                 "none may be negative beyond rounding.")


def variance_check(name: str, identity: sp.Expr, p, v, seed: int) -> Check:
    """The derived quadratic form against a hand-written weighted variance of v under p."""
    derived = lambdify_numpy((*p, *v), identity)
    classes = len(p)

    def run() -> Measurement:
        generator = rng(seed)
        weights = _random_simplex(generator, (200, classes))
        vectors = generator.normal(size=(200, classes))
        mean = numpy.sum(weights * vectors, axis=1, keepdims=True)
        variance = numpy.sum(weights * (vectors - mean) ** 2, axis=1)
        actual = derived(*weights.T, *vectors.T)
        return Measurement(relative_error(actual, variance), "Over 200 random (p, v) pairs.")

    return Check(name, "NumPy weighted variance", run, ROUNDOFF_TOLERANCE,
                 "Two float64 evaluations of the same polynomial in a different order.")


# --------------------------------------------------------------------------- derivation


def softmax_part(classes: int, seed: int, samples: int) -> Part:
    """Softmax cross-entropy in the logits: gradient, Hessian, positive semidefiniteness."""
    s = _symbols(classes)
    z, y, p, v, e = s["z"], s["y"], s["p"], s["v"], s["e"]
    total = sum(sp.exp(zk) for zk in z)
    definition = -sum(yk * sp.log(sp.exp(zk) / total) for yk, zk in zip(y, z, strict=True))
    on_simplex = {y[-1]: 1 - sum(y[:-1])}
    lse_form = sp.log(total) - sum(yk * zk for yk, zk in zip(y, z, strict=True))
    confirm(sp.expand(sp.expand_log(definition - lse_form, force=True).subs(on_simplex)) == 0,
            "the two forms of the softmax cross-entropy agree")

    gradient = sp.Matrix([sp.diff(lse_form, zk) for zk in z])
    hessian = sp.hessian(lse_form, z)
    to_e = {sp.exp(zk): ek for zk, ek in zip(z, e, strict=True)}
    softmax_e = sp.Matrix([ek / sum(e) for ek in e])
    structured = sp.diag(*softmax_e) - softmax_e * softmax_e.T
    confirm((hessian.subs(to_e) - structured).applyfunc(sp.cancel).is_zero_matrix,
            "the Hessian is diag(p) - p p^T")
    in_e = gradient.subs(to_e)
    as_p_minus_y = sp.Matrix(p) - sp.Matrix(y)
    confirm((in_e - as_p_minus_y.xreplace(dict(zip(p, softmax_e, strict=True))))
            .applyfunc(sp.cancel).is_zero_matrix, "the gradient is p - y")
    in_p = sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T

    quadratic = sp.expand((sp.Matrix(v).T * in_p * sp.Matrix(v))[0, 0])
    mean = sum(pk * vk for pk, vk in zip(p, v, strict=True))
    variance = sum(pk * (vk - mean) ** 2 for pk, vk in zip(p, v, strict=True))
    v_bar = sp.Symbol(r"\bar{v}")
    quadratic_display = sum(pk * vk**2 for pk, vk in zip(p, v, strict=True)) - mean**2
    variance_display = sum(pk * (vk - v_bar) ** 2 for pk, vk in zip(p, v, strict=True))
    confirm(sp.expand(quadratic - quadratic_display) == 0, "v^T H v = sum p v^2 - (sum p v)^2")
    simplex_p = {p[-1]: 1 - sum(p[:-1])}
    confirm(sp.expand((quadratic - variance).subs(simplex_p)) == 0,
            "the quadratic form is the variance")
    null = (in_p * sp.ones(classes, 1)).subs(simplex_p).applyfunc(sp.expand)

    steps = [
        Section("Softmax cross-entropy is convex in the logits"),
        Step(
            rf"For $K = {classes}$ classes with logits $z$, probabilities "
            r"$p_k = e^{z_k} / \sum_j e^{z_j}$ and a target $y$ on the probability simplex "
            r"(one-hot or soft), the loss $-\sum_k y_k \log p_k$ becomes a log-sum-exp minus "
            r"a linear term once $\sum_k y_k = 1$ is used (SymPy confirms the two forms agree):",
            ("L(z)", lse_form),
        ),
        Step("Differentiating, with $e_k = e^{z_k}$, gives the gradient $p - y$:",
             ((r"\nabla_z L", in_e), ("", as_p_minus_y))),
        Step(
            r"The Hessian does not depend on $y$. Writing $e_k = e^{z_k}$, SymPy confirms "
            r"entry by entry that it equals $\operatorname{diag}(p) - p p^\top$:",
            (r"\nabla_z^2 L", in_p),
        ),
        Step(
            r"For any direction $v$ the quadratic form is the variance of $v_k$ when $k$ is "
            r"drawn with probabilities $p$; with $\sum_k p_k = 1$ SymPy expands both sides "
            r"and finds them equal:",
            (
                (r"v^\top \nabla_z^2 L\, v", quadratic_display),
                (r"\operatorname{Var}_{k\sim p}(v_k)", variance_display),
                (r"\bar v", mean),
            ),
        ),
        Step(
            r"The same expansion holds for every $K$: $\sum_k p_k (v_k - \bar v)^2 = "
            r"\sum_k p_k v_k^2 - 2\bar v \sum_k p_k v_k + \bar v^2 \sum_k p_k = "
            r"\sum_k p_k v_k^2 - \bar v^2$ with $\bar v = \sum_k p_k v_k$. A variance is "
            r"non-negative, so the Hessian is positive semidefinite and the loss is convex in "
            r"$z$. It is not strictly convex: adding the same constant to every logit leaves "
            r"$p$ unchanged, and accordingly $\mathbf{1}$ is in the null space,",
            (r"\nabla_z^2 L\,\mathbf{1}", null),
        ),
        Listing("The hand-written reference loss (no max shift; used at moderate logits):",
                ref.softmax_ce_reference),
    ]
    results = {
        "softmax: loss": lse_form,
        "softmax: gradient": gradient,
        "softmax: hessian": hessian,
        "softmax: quadratic form": quadratic,
    }

    def jensen_sampler(generator: numpy.random.Generator, n: int):
        return generator.normal(0, 3, (n, classes)), generator.normal(0, 3, (n, classes))

    fixed_target = _random_simplex(rng(seed + 1), (classes,))
    checks = [
        gradient_check("Softmax CE: gradient $p - y$", gradient, z, y, seed),
        hessian_check("Softmax CE: Hessian", hessian, z, seed),
        variance_check("Softmax CE: quadratic form is a variance", quadratic, p, v, seed),
        psd_check("Softmax CE: Hessian is PSD", classes, seed, samples),
        jensen_check(
            "Softmax CE: convex (Jensen)",
            lambda logits: losses.softmax_cross_entropy(logits, fixed_target),
            jensen_sampler, seed, samples,
        ),
    ]
    signatures = {
        "softmax: loss": (*z, *y),
        "softmax: gradient": (*z, *y),
        "softmax: hessian": z,
        "softmax: quadratic form": (*p, *v),
    }
    return Part(steps, results, checks, signatures)

r"""Why a loss convex in the prediction is not convex in the parameters.

Two small networks, each trained on the single example :math:`(x, y) = (1, 1)`
with the squared error :math:`\tfrac12(\hat y - y)^2`:

* the product network :math:`\hat y = w_2 w_1 x` (a two-layer linear network
  with one unit per layer);
* a ReLU network with two hidden units,
  :math:`\hat y = v_1 \max(0, w_1 x) + v_2 \max(0, w_2 x)`.

For each, SymPy computes the Hessian in the parameters, its exact eigenvalues
at a concrete point (one negative, one positive: a saddle, so not convex), and
two parameter settings with zero loss whose midpoint has positive loss, which
violates Jensen's inequality outright.
"""

from __future__ import annotations

from typing import Any

import autograd
import numpy
import sympy as sp

from symderiv.derivation import Check, Listing, Measurement, Section, Step
from symderiv.numeric import ROUNDOFF_TOLERANCE, lambdify_numpy, relative_error, rng
from symderiv.topics.convexity import reference as ref
from symderiv.topics.convexity.checks import Part, jensen_check, scientific

W1, W2, V1, V2, X, Y = sp.symbols("w1 w2 v1 v2 x y", real=True)
EXAMPLE = {X: sp.Integer(1), Y: sp.Integer(1)}


def _point(values: dict[sp.Symbol, Any]) -> str:
    return ", ".join(f"{sp.latex(k)} = {sp.latex(v)}" for k, v in values.items())


# --------------------------------------------------------------------------- checks


def hessian_check(
    name: str,
    hessian: sp.Matrix,
    parameters: tuple[sp.Symbol, ...],
    loss,
    seed: int,
    samples: int = 20,
    away_from_zero: float = 0.0,
) -> Check:
    """Compare a symbolic parameter Hessian with autograd's at random points (x, y, theta)."""
    symbolic = lambdify_numpy((*parameters, X, Y), hessian)
    exact_hessian = autograd.hessian(loss)

    def run() -> Measurement:
        generator = rng(seed)
        worst = 0.0
        for _ in range(samples):
            theta = generator.uniform(-2, 2, len(parameters))
            # keep ReLU pre-activations off the kink, where the Hessian does not exist
            theta = numpy.where(
                numpy.abs(theta) < away_from_zero, numpy.sign(theta) + 0.5, theta
            )
            x, y = generator.uniform(0.5, 2), generator.normal()
            expected = exact_hessian(theta, x, y)
            actual = numpy.array(symbolic(*theta, x, y), dtype=float)
            worst = max(worst, relative_error(actual, expected))
        return Measurement(worst, f"Largest error over {samples} random parameter points.")

    return Check(
        name,
        "autograd Hessian",
        run,
        ROUNDOFF_TOLERANCE,
        "Autograd differentiates the hand-written NumPy loss exactly; the two computations "
        "differ only by "
        "float64 rounding, so the round-off tolerance applies.",
    )


def eigenvalue_check(
    name: str, eigenvalues: list[sp.Expr], point: dict[sp.Symbol, Any], parameters, loss
) -> Check:
    """Exact eigenvalues at ``point`` versus numpy.linalg.eigvalsh of autograd's Hessian."""

    def run() -> Measurement:
        theta = numpy.array([float(point[s]) for s in parameters])
        numeric = numpy.linalg.eigvalsh(
            autograd.hessian(loss)(theta, float(point[X]), float(point[Y]))
        )
        exact = numpy.sort(numpy.array([float(e) for e in eigenvalues]))
        error = relative_error(numeric, exact)
        signs = f"smallest {scientific(numeric[0], 6)}, largest {scientific(numeric[-1], 6)}"
        if not (numeric[0] < 0 < numeric[-1]):
            return Measurement(numpy.inf, f"not indefinite: {signs}.")
        return Measurement(error, f"Eigenvalues of both signs ({signs}).")

    return Check(
        name,
        "eigvalsh of autograd Hessian",
        run,
        ROUNDOFF_TOLERANCE,
        "A symmetric eigensolver is backward stable, so the eigenvalues agree to "
        "rounding; the check also fails unless the numeric spectrum has both signs.",
    )


def jensen_witness_check(
    name: str, settings: tuple[dict, dict], midpoint_loss: sp.Expr, parameters, loss
) -> Check:
    """Losses of the two settings (must be 0) and of their midpoint (must match the exact value)."""

    def run() -> Measurement:
        a, b = (numpy.array([float(s[p]) for p in parameters]) for s in settings)
        x, y = float(EXAMPLE[X]), float(EXAMPLE[Y])
        values = loss(a, x, y), loss(b, x, y), loss((a + b) / 2, x, y)
        error = max(abs(values[0]), abs(values[1]), abs(values[2] - float(midpoint_loss)))
        if values[2] <= max(values[0], values[1]):
            return Measurement(numpy.inf, "the midpoint loss does not exceed the endpoints'.")
        return Measurement(
            error,
            f"Losses {scientific(values[0])} and {scientific(values[1])} at the endpoints, "
            f"{scientific(values[2], 6)} at the midpoint.",
        )

    return Check(
        name,
        "NumPy loss at 3 points",
        run,
        ROUNDOFF_TOLERANCE,
        "The points have short binary expansions, so float64 evaluates the losses "
        "essentially exactly.",
    )


def random_violation_check(name: str, loss, dimension: int, seed: int, samples: int) -> Check:
    """Random pairs of parameters at the example (x, y) = (1, 1) must violate Jensen's inequality."""

    def parameter_pairs(generator, n):
        return generator.uniform(-2, 2, (n, dimension)), generator.uniform(-2, 2, (n, dimension))

    return jensen_check(name, lambda theta: loss(theta.T, 1.0, 1.0), parameter_pairs, seed,
                        samples, convex=False)


# --------------------------------------------------------------------------- derivation


def _product_network(seed: int, samples: int) -> Part:
    yhat = W2 * W1 * X
    loss = (yhat - Y) ** 2 / 2
    parameters = (W1, W2)
    hessian = sp.hessian(loss, parameters)
    determinant = sp.factor(hessian.det())
    origin = {W1: sp.Integer(0), W2: sp.Integer(0), **EXAMPLE}
    at_origin = hessian.subs(origin)
    eigen = sorted(at_origin.eigenvals(multiple=True), key=float)
    # the residual is linear in w2: its root is -residual(w2 = 0) / (d residual / d w2)
    residual = (yhat - Y).subs(EXAMPLE)
    zero_set = [sp.cancel(-residual.subs(W2, 0) / sp.diff(residual, W2))]
    settings = ({W1: sp.Integer(1), W2: zero_set[0].subs(W1, 1)},
                {W1: sp.Integer(-1), W2: zero_set[0].subs(W1, -1)})
    midpoint = {W1: (settings[0][W1] + settings[1][W1]) / 2,
                W2: (settings[0][W2] + settings[1][W2]) / 2}
    midpoint_loss = loss.subs({**midpoint, **EXAMPLE})

    steps = [
        Section("Not convex in the parameters"),
        Step(
            r"Convexity in $\hat y$ does not carry over to the parameters, because "
            r"$\hat y$ is a nonlinear function of them. The smallest example is a "
            r"two-layer linear network with one unit per layer, $\hat y = w_2 w_1 x$, "
            r"and the squared error:",
            (r"L(w_1, w_2)", loss),
        ),
        Step(
            "Its Hessian in $(w_1, w_2)$ and the determinant of the Hessian are",
            ((r"\nabla^2_{w} L", hessian), (r"\det \nabla^2_{w} L", determinant)),
        ),
        Step(
            r"A negative determinant means one negative and one positive eigenvalue. "
            r"With $x = y = 1$ it is negative whenever $w_1 w_2 < \tfrac13$ or "
            r"$w_1 w_2 > 1$. At the origin the Hessian and its exact eigenvalues are",
            ((r"\nabla^2_{w} L\,\big|_{w = 0}", at_origin),
             (r"\lambda", sp.Tuple(*eigen))),
        ),
        Step(
            r"so the origin is a saddle point. Jensen's inequality fails as well: every "
            rf"setting on the hyperbola $w_2 = {sp.latex(zero_set[0])}$ fits the example "
            rf"exactly, in particular $({_point(settings[0])})$ and "
            rf"$({_point(settings[1])})$, but their midpoint $w = (0, 0)$ has loss",
            (r"L(0, 0)", midpoint_loss),
        ),
        Step(
            "which exceeds the average $0$ of the two endpoint losses. The set of "
            "minimisers is not even convex."
        ),
        Listing("The hand-written loss the checks differentiate with autograd:",
                ref.product_net_loss),
    ]
    results = {
        "product: hessian": hessian,
        "product: eigenvalues at 0": sp.Matrix(eigen),
        "product: midpoint loss": midpoint_loss,
    }
    checks = [
        hessian_check("Product net: Hessian", hessian, parameters,
                      ref.product_net_loss, seed),
        eigenvalue_check("Product net: eigenvalues at the origin", eigen, origin,
                         parameters, ref.product_net_loss),
        jensen_witness_check("Product net: Jensen witness", settings, midpoint_loss,
                             parameters, ref.product_net_loss),
        random_violation_check("Product net: random Jensen search",
                               ref.product_net_loss, 2, seed, samples),
    ]
    signatures = {"product: hessian": (W1, W2, X, Y)}
    return Part(steps, results, checks, signatures)


def _relu_network(seed: int, samples: int) -> Part:
    yhat = V1 * sp.Max(0, W1 * X) + V2 * sp.Max(0, W2 * X)
    loss = (yhat - Y) ** 2 / 2
    parameters = (W1, W2, V1, V2)
    # Off the kinks (w_i x != 0) the Dirac deltas in Max'' vanish; they have no NumPy form.
    hessian = sp.hessian(loss, parameters).replace(sp.DiracDelta, lambda *args: sp.Integer(0))
    half = sp.Rational(1, 2)
    settings = ({W1: sp.Integer(1), W2: sp.Integer(0), V1: sp.Integer(1), V2: sp.Integer(0)},
                {W1: sp.Integer(0), W2: sp.Integer(1), V1: sp.Integer(0), V2: sp.Integer(1)})
    endpoint_losses = [loss.subs({**s, **EXAMPLE}) for s in settings]
    midpoint = {s: half * (settings[0][s] + settings[1][s]) for s in parameters}
    midpoint_loss = loss.subs({**midpoint, **EXAMPLE})
    point = {**midpoint, **EXAMPLE}
    at_midpoint = hessian.subs(point)
    eigen = sorted(at_midpoint.eigenvals(multiple=True), key=float)

    steps = [
        Step(
            r"A ReLU network shows the same for a reason shared by every network with two or "
            r"more hidden units in a layer: permuting them leaves the function unchanged, so "
            r"every minimiser has permuted copies, and the average of two copies is usually "
            r"not a minimiser. Take two hidden units and no biases,",
            (r"\hat y", yhat),
        ),
        Step(
            r"With $x = y = 1$, the settings $\theta_A = (w_1, w_2, v_1, v_2) = (1, 0, 1, 0)$ "
            r"and its permutation $\theta_B = (0, 1, 0, 1)$ both fit exactly "
            rf"(losses ${sp.latex(endpoint_losses[0])}$ and ${sp.latex(endpoint_losses[1])}$), "
            r"but the midpoint $\tfrac12(\theta_A + \theta_B)$ predicts $\tfrac12$ and has loss",
            (r"L\left(\tfrac12(\theta_A + \theta_B)\right)", midpoint_loss),
        ),
        Step(
            r"Away from the kinks ($w_i x \neq 0$) the loss is twice differentiable. "
            r"At that midpoint the Hessian in $(w_1, w_2, v_1, v_2)$ and its exact "
            r"eigenvalues are",
            ((r"\nabla^2_{\theta} L", at_midpoint), (r"\lambda", sp.Tuple(*eigen))),
        ),
        Step(
            "One eigenvalue is negative and the others positive: the midpoint is a "
            "saddle, and the loss is not convex in the parameters of this network."
        ),
        Listing("The hand-written ReLU-network loss used by the checks:", ref.relu_net_loss),
    ]
    results = {
        "relu: hessian": hessian,
        "relu: eigenvalues at midpoint": sp.Matrix(eigen),
        "relu: midpoint loss": midpoint_loss,
    }
    checks = [
        hessian_check("ReLU net: Hessian off kinks", hessian, parameters,
                      ref.relu_net_loss, seed, away_from_zero=0.1),
        eigenvalue_check("ReLU net: eigenvalues at the midpoint", eigen, point,
                         parameters, ref.relu_net_loss),
        jensen_witness_check("ReLU net: Jensen witness", settings, midpoint_loss,
                             parameters, ref.relu_net_loss),
    ]
    signatures = {"relu: hessian": (W1, W2, V1, V2, X, Y)}
    return Part(steps, results, checks, signatures)


def parameter_space(seed: int, samples: int) -> Part:
    """The non-convexity-in-parameters part of the derivation."""
    product, relu = _product_network(seed, samples), _relu_network(seed, samples)
    return Part(
        product.steps + relu.steps,
        {**product.results, **relu.results},
        product.checks + relu.checks,
        {**product.signatures, **relu.signatures},
    )

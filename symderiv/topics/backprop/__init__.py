r"""Backpropagation through an MLP, derived in matrix (delta) notation and checked entry by entry.

The source's network is :math:`z^{(1)} = W^{(1)} x + b^{(1)}`,
:math:`a^{(1)} = \mathrm{ReLU}(z^{(1)})`, :math:`z^{(2)} = W^{(2)} a^{(1)} + b^{(2)}`,
:math:`L = |z^{(2)} - y|`. :func:`derive` follows its five steps for any depth
(``widths = (d, h_1, ..., m)``), hidden activation and loss:

1. the output error :math:`\delta^{(L)} = \partial L / \partial z^{(L)}`;
2. :math:`\partial L/\partial W^{(L)} = \delta^{(L)} a^{(L-1)\top}`,
   :math:`\partial L/\partial b^{(L)} = \delta^{(L)}`;
3. :math:`\partial L/\partial a^{(l)} = W^{(l+1)\top} \delta^{(l+1)}`;
4. :math:`\delta^{(l)} = \partial L/\partial a^{(l)} \odot \phi'(z^{(l)})`;
5. :math:`\partial L/\partial W^{(l)} = \delta^{(l)} a^{(l-1)\top}`,
   :math:`\partial L/\partial b^{(l)} = \delta^{(l)}`.

:func:`gradient_function` is the batch version of the same formulas, turned
into NumPy by ``lambdify``.

Example::

    >>> d = derive(widths=(3, 4, 1), activation="relu", loss="mae", kink="zero", alpha=0.01)
    >>> d.results["dL/dW1"]
    delta[1]*x.T
"""

from __future__ import annotations

import functools

import sympy as sp

from symderiv.derivation import Check, Derivation, Listing, Section, Step
from symderiv.kinks import kink_policy
from symderiv.numeric import FD_TOLERANCE, ROUNDOFF_TOLERANCE
from symderiv.topics import Parameter
from symderiv.topics.backprop.functions import ACTIVATIONS, ALPHA, LOSSES, U, Y
from symderiv.topics.backprop.generated import (
    DEFAULT_ALPHA,
    gradient_function,
    validate_architecture,
)
from symderiv.topics.backprop.network import Network, bold_ones, sweep

SUMMARY = "Backpropagation through an MLP (ReLU hidden layer, linear output, MAE by default)"

PARAMETERS = (
    Parameter("widths", "ints", (3, 4, 1),
              "layer widths from input to output, for example 3,4,1 (d, hidden..., outputs)"),
    Parameter("activation", "str", "relu", "hidden activation",
              choices=tuple(ACTIVATIONS)),
    Parameter("loss", "str", "mae", "loss, averaged over samples and outputs",
              choices=tuple(LOSSES)),
    Parameter("kink", "str", "zero", "derivative used at kinks", choices=("zero", "half", "set")),
    Parameter("alpha", "float", DEFAULT_ALPHA,
              "slope of the leaky ReLU for negative inputs, 0 <= alpha < 1 "
              "(activation=leaky_relu only)"),
)

#: The symbolic proof writes every weight as a symbol; above this many it checks numerically.
PROOF_PARAMETERS = 200
#: Each layer nests the expressions once more and the proof's time grows steeply with depth
#: (about 1 s for 3 weight layers, 7 s for 4, minutes for 6), so deeper nets check numerically.
PROOF_LAYERS = 3

__all__ = ["PARAMETERS", "SUMMARY", "derive", "gradient_function"]


def derive(widths=(3, 4, 1), activation: str = "relu", loss: str = "mae", kink: str = "zero",
           alpha: float = DEFAULT_ALPHA) -> Derivation:
    """The derivation for these parameters (cached); see the module docstring."""
    widths = validate_architecture(widths, activation, loss, kink, alpha)
    if activation != "leaky_relu":
        alpha = DEFAULT_ALPHA  # validate_architecture refused any other value
    return _derive(widths, activation, loss, kink, float(alpha))


@functools.lru_cache(maxsize=16)
def _derive(widths: tuple[int, ...], activation: str, loss: str, kink: str,
            alpha: float) -> Derivation:
    from symderiv.topics.backprop import report as report

    policy = kink_policy(kink)
    network = Network(widths, activation, loss, policy, ALPHA)
    one = sweep(network, batch=False)
    batch = sweep(network, batch=True)
    depth = network.depth

    results: dict[str, sp.Basic] = {}
    steps: list = [Section("The network and its loss"), *report.forward_steps(network, one)]

    # Step 1: the error at the output, from SymPy's derivative of the per-output loss.
    ell_prime = network.ell_prime()
    results["dl/du"] = ell_prime
    results[f"delta{depth}"] = one.definition("delta", depth)
    steps += [Section("Step 1: the error at the output"),
              *report.output_error_steps(network, one, ell_prime)]

    # Step 2 for the output layer; steps 3-5 for each hidden layer, from the top.
    steps += [Section("Step 2: the output layer's weights and bias"),
              *report.weight_steps(one, depth)]
    results[f"dL/dW{depth}"] = one.gradients[f"W{depth}"]
    results[f"dL/db{depth}"] = one.gradients[f"b{depth}"]
    for layer in range(depth - 1, 0, -1):
        upstream, through, weights = report.layer_titles(layer, depth)
        results[f"dL/da{layer}"] = one.input_gradients[layer]
        results[f"delta{layer}"] = one.definition("delta", layer)
        results[f"dL/dW{layer}"] = one.gradients[f"W{layer}"]
        results[f"dL/db{layer}"] = one.gradients[f"b{layer}"]
        steps += [Section(upstream), *report.upstream_steps(one, layer)]
        if through:
            steps.append(Section(through))
        steps += report.activation_steps(network, one, layer)
        if weights:
            steps.append(Section(weights))
        steps += report.weight_steps(one, layer)

    steps += [Section("Summary of the gradients"), report.summary_step(one)]
    steps += [Section("The same gradients for a batch"), *report.batch_steps(network, batch)]
    for name, formula in batch.gradients.items():
        results[f"batch dL/d{name}"] = bold_ones(formula)
    steps += [Section("Generated and hand-written code"),
              Step(report.generated_code_text(widths, activation, loss, kink, alpha)),
              Listing(report.LISTING_CAPTION, report.relu_mae_gradient)]

    return Derivation(
        name="backprop",
        title=report.title(network),
        statement=report.statement(network),
        assumptions=report.assumptions(network),
        steps=tuple(steps),
        results=results,
        checks=_checks(network, widths, activation, loss, kink, alpha),
        notes=report.notes(network),
        parameters={"widths": widths, "activation": activation, "loss": loss, "kink": kink,
                    **({"alpha": alpha} if activation == "leaky_relu" else {})},
    )


def _checks(network: Network, widths, activation, loss, kink, alpha) -> tuple[Check, ...]:
    from symderiv.topics.backprop import checks as checks

    setting = checks.Setting(widths, activation, loss, alpha, float(network.policy.step_at_zero),
                             kink)

    def generated():
        return gradient_function(widths, activation, loss, kink, alpha)

    listed = [
        _proof_check(network, setting, generated),
        Check(
            "Generated batch gradient vs finite differences",
            "central differences of the hand-written loss",
            lambda: checks.finite_difference_check(generated(), setting),
            FD_TOLERANCE,
            "Central differences with step $h = 10^{-6}$ in float64 err by about "
            "$\\epsilon|L|/h \\approx 10^{-10}$ (rounding) plus $O(h^2)$ (truncation) on "
            "these order-one losses; the tolerance $10^{-6}$ leaves a wide margin and still "
            "exposes any wrong term. They are valid only away from kinks, so a hidden bias or "
            "target that puts the seeded point within 100 steps of one is first moved off "
            "it by the least amount that clears every sample (the detail says by how much).",
        ),
        Check(
            "Generated batch gradient vs autograd",
            "reverse mode of the \\texttt{autograd} package on the hand-written loss",
            lambda: checks.autograd_check(generated(), setting),
            ROUNDOFF_TOLERANCE,
            "Both are float64 evaluations of the same derivative in a different order, "
            "so they agree to rounding error.",
        ),
        Check(
            "Generated batch gradient vs hand-written backpropagation",
            "NumPy backpropagation written by hand",
            lambda: checks.reference_check(generated(), setting),
            ROUNDOFF_TOLERANCE,
            "Same derivative, same precision, different code: rounding error only.",
        ),
    ]
    kink_why = (
        "One-sided differences, extrapolated to second order, err by about "
        "$\\epsilon|L|/h \\approx 10^{-10}$ (rounding) plus $O(h^2)$ on each smooth piece "
        "of the loss; the tolerance is the finite-difference one. The expected value at the "
        "kink comes from the one-sided quotients, not from the kink policy: their midpoint "
        "for $|u|$ and for the policy \\texttt{half}, the inactive (left) one for a (leaky) ReLU "
        "under \\texttt{zero} and \\texttt{set}."
    )
    kinks = (
        ("output", LOSSES[loss].kinked, f"Kink of $|u|$ at $z^{{({network.depth})}}_1 = y_1$"),
        ("hidden", ACTIVATIONS[activation].kinked, "Kink of the activation at $z^{(1)}_1 = 0$"),
    )
    for where, present, name in kinks:
        if present:
            listed.append(Check(
                name, "one-sided differences of the hand-written loss",
                lambda where=where: checks.kink_check(generated(), setting, where),
                FD_TOLERANCE, kink_why,
            ))
    return tuple(listed)


def _proof_check(network: Network, setting, generated) -> Check:
    from symderiv.topics.backprop import checks as checks

    if setting.parameter_count <= PROOF_PARAMETERS and len(network.widths) - 1 <= PROOF_LAYERS:
        def run():
            from symderiv.derivation import Measurement
            from symderiv.topics.backprop.elementwise import prove

            proof = prove(network)
            detail = (f"All {proof.entries} entries agree exactly." if not proof.mismatches
                      else f"{proof.mismatches} of {proof.entries} entries differ.")
            return Measurement(float(proof.mismatches), detail)

        return Check(
            "Matrix form equals the derivative of every scalar weight",
            "SymPy, differentiating the scalar loss symbol by symbol",
            run, 0.0,
            "A symbolic identity: the error is the number of entries whose difference "
            "does not simplify to exactly 0.",
        )
    return Check(
        "Matrix form equals the derivative of every scalar weight",
        "central differences on sampled entries (too large a network for the symbolic proof)",
        lambda: checks.finite_difference_check(generated(), setting, seed=6),
        FD_TOLERANCE,
        f"With more than {PROOF_PARAMETERS} weights or more than {PROOF_LAYERS} weight layers "
        "the entries are compared numerically, with the finite-difference tolerance.",
    )


# Re-exported so that ``backprop.U`` and ``backprop.Y`` name the loss variables in tests.
LOSS_VARIABLES = (U, Y)

r"""Batch, layer, instance and group normalization from one specification.

The derivation states normalization once, over an index set
:math:`\mathcal{S}`, and obtains the four methods by changing only the axes
that :math:`\mathcal{S}` reduces over (:mod:`.spec`). It proves
GN(G=1) = LN and GN(G=C) = IN, shows where BN differs, works the source's
example in exact arithmetic (:mod:`.example`), derives the
group-norm backward pass, and checks the source's memory claim. The report's
prose and displays live in :mod:`.report`, the checks in
:mod:`.checks`.

Public functions (generated from the derived formulas, see
:mod:`symderiv.topics.normalization.kernels`)::

    >>> from symderiv.topics import normalization
    >>> y = normalization.group_norm(x, groups=2)                      # x (N, C, *spatial)
    >>> dx, dgamma, dbeta = normalization.group_norm_backward(x, dy, groups=2)
"""

from __future__ import annotations

import math

import sympy as sp

from symderiv.derivation import Derivation
from symderiv.errors import InputError
from symderiv.topics import Parameter
from symderiv.topics.normalization.kernels import (
    batch_norm,
    group_norm,
    group_norm_backward,
    instance_norm,
    layer_norm,
)

__all__ = [
    "PARAMETERS", "SUMMARY", "batch_norm", "derive", "group_norm", "group_norm_backward",
    "instance_norm", "layer_norm",
]

SUMMARY = "Batch, layer, instance and group normalization from one spec; GN example and backward"

MAX_CHANNELS, MAX_SIDE = 16, 4

PARAMETERS = (
    Parameter("groups", "int", 2, "number of groups G of the worked example; must divide channels"),
    Parameter("channels", "int", 8, f"channels C of the worked example (1 to {MAX_CHANNELS})"),
    Parameter("height", "int", 2, f"height H of the worked example (1 to {MAX_SIDE})"),
    Parameter("width", "int", 2, f"width W of the worked example (1 to {MAX_SIDE})"),
    Parameter("seed", "int", 0, "seed of the example tensor (integers 0 to 9) and of the checks"),
    Parameter("eps", "float", 1e-5, "epsilon added to the variance inside the square root (> 0)"),
)


def _validate(groups: int, channels: int, height: int, width: int, seed: int, eps: float) -> None:
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputError(
            f"channels={channels} is not allowed; the worked example is printed in full, "
            f"so choose 1 to {MAX_CHANNELS}"
        )
    for name, value in (("height", height), ("width", width)):
        if not 1 <= value <= MAX_SIDE:
            raise InputError(
                f"{name}={value} is not allowed; the worked example is printed in full, "
                f"so choose 1 to {MAX_SIDE}"
            )
    divisors = ", ".join(str(d) for d in range(1, channels + 1) if channels % d == 0)
    if groups < 1:
        raise InputError(f"groups={groups} is not allowed; choose a divisor of {channels}: {divisors}")
    if channels % groups:
        raise InputError(
            f"groups={groups} does not divide channels={channels}; "
            f"choose a divisor of {channels}: {divisors}"
        )
    if seed < 0:
        raise InputError(f"seed={seed} is not allowed; choose an integer >= 0")
    if not 0 < eps < math.inf:
        raise InputError(f"eps={eps} is not allowed; choose a positive finite number such as 1e-5")


def derive(groups: int, channels: int, height: int, width: int, seed: int, eps: float) -> Derivation:
    """The normalization derivation for the worked example with these parameters."""
    _validate(groups, channels, height, width, seed, eps)
    from symderiv.topics.normalization import checks as checks
    from symderiv.topics.normalization import example as example
    from symderiv.topics.normalization import report as report
    from symderiv.topics.normalization import spec as spec

    tensor = example.example_tensor(channels, height, width, seed)
    reductions = spec.reductions()
    special_cases = spec.special_cases()
    affine = spec.affine_parameter_gradients()
    results = {}
    for key, reduction in reductions.items():
        results[f"mean {key}"] = reduction.mean
        results[f"variance {key}"] = reduction.variance
    results["output"] = reductions["GN"].output()
    for case, other in (("G=1", "LN"), ("G=C", "IN")):
        results[f"GN({case}) - {other}"] = sp.Add(
            *[a - b for name, (a, b) in special_cases.items() if case in name])
    results["BN output, N=H=W=1"] = spec.batch_norm_degenerate()["output"]
    results["E[biased variance]"] = spec.biased_variance_expectation(height * width)
    results["dL/dx"] = spec.group_backward()["closed"]
    results["dL/dgamma"] = affine["dgamma"]
    results["dL/dbeta"] = affine["dbeta"]
    for key in ("GN", "LN"):
        results[f"statistics {key}"] = 2 * reductions[key].sets
    return Derivation(
        name="normalization",
        title="Batch, layer, instance and group normalization",
        statement=report.STATEMENT,
        assumptions=report.ASSUMPTIONS,
        steps=tuple(report.report_steps(tensor, groups, eps)),
        results=results,
        checks=checks.build_checks(tensor, groups, eps, seed),
        notes=report.NOTES,
        parameters={"groups": groups, "channels": channels, "height": height,
                    "width": width, "seed": seed, "eps": eps},
    )

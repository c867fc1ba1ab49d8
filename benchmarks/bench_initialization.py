"""Benchmark of the initialization topic, printed side by side.

Run: ``python benchmarks/bench_initialization.py`` (add ``--quick`` for fewer repeats).

1. The report's deep-network simulations (ReLU scales at constant width, and the
   alternating-width comparison with a backward pass) against one matrix
   product of the same size, ``(batch, width) @ (width, width)``, in the same run.
   Target: the report's simulation under 5 s; expected cost about one matmul
   per layer and scheme and pass, plus drawing the weights.
2. The same rows in a subprocess with ``OPENBLAS_NUM_THREADS=1``: on a busy
   2-core machine a second BLAS thread often waits for a core, which makes every
   product several times slower.
3. ``derive()`` (first call, symbolic work included) and ``verify()``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from timing import interleaved

from symderiv.topics import initialization
from symderiv.topics.initialization.simulation import (
    DTYPE,
    Scheme,
    simulate,
    widths_alternating,
)


def simulation_timings(repeats: int, width=256, batch=256, depth=50, n_in=256, n_out=128):
    generator = np.random.default_rng(0)
    a = generator.standard_normal((batch, width), dtype=DTYPE)
    w = generator.standard_normal((width, width), dtype=DTYPE)
    relu = tuple(
        Scheme(str(k), "relu", (k / width,) * depth) for k in (2.0, 1.0, 4.0, 2.93)
    ) + (Scheme("leaky", "leaky_relu", (2 / 1.04 / width,) * depth, alpha=0.2),)
    widths = widths_alternating(n_in, n_out, depth)
    xavier = tuple(2 / (widths[l] + widths[l + 1]) for l in range(depth))
    he = tuple(2 / widths[l] for l in range(depth))
    fans = (
        Scheme("x", "tanh", xavier), Scheme("xl", "tanh", xavier, input_scale=1e-3),
        Scheme("h", "relu", he), Scheme("ht", "tanh", he),
    )
    return interleaved({
        f"one matmul ({batch}x{width}) @ ({width}x{width}), float32": lambda: a @ w.T,
        f"draw one {width}x{width} standard normal matrix": lambda: generator.standard_normal(
            (width, width), dtype=DTYPE),
        f"constant width: 5 schemes x {depth} layers, forward": lambda: simulate(
            (width,) * (depth + 1), relu, batch, 0, backward=False),
        f"widths {n_in}/{n_out}: 4 schemes x {depth} layers, fwd + bwd": lambda: simulate(
            widths, fans, batch, 1),
    }, repeats)


def print_table(rows: dict[str, tuple[float, float]], title: str) -> None:
    matmul = next(iter(rows.values()))[0]
    print(f"\n{title}")
    print(f"{'what':58s} {'min [ms]':>10s} {'median [ms]':>12s} {'in matmuls':>11s}")
    for name, (best, median) in rows.items():
        print(f"{name:58s} {best * 1e3:10.2f} {median * 1e3:12.2f} {best / matmul:11.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    rows = simulation_timings(repeats)
    if args.json:  # the single-thread child run
        print(json.dumps(rows))
        return
    print_table(rows, "Simulation, default BLAS threads (same run)")
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, __file__, "--json", *(["--quick"] if args.quick else [])],
        capture_output=True, text=True, env=environment, check=True,
    )
    print_table({k: tuple(v) for k, v in json.loads(child.stdout).items()},
                "Simulation, OPENBLAS_NUM_THREADS=1 (separate process)")

    start = time.perf_counter()
    derivation = initialization.derive()
    derived = time.perf_counter() - start
    start = time.perf_counter()
    results = derivation.verify()
    verified = time.perf_counter() - start
    print("\nTopic with default parameters (first call in this process)")
    print(f"{'derive()':58s} {derived * 1e3:10.0f} ms")
    print(f"{'verify() (' + str(len(results)) + ' checks)':58s} {verified * 1e3:10.0f} ms")
    print(f"{'all checks passed':58s} {all(r.passed for r in results)!s:>10s}")


if __name__ == "__main__":
    main()

"""Benchmark of the backprop topic, printed side by side.

Run: ``python benchmarks/bench_backprop.py`` (add ``--quick`` for fewer repeats).

1. ``gradient_function`` for N=4096, d=784, h=256, float64, ReLU/MAE against the
   hand-written vectorised NumPy gradient and against the two-matmul lower
   bound ``X @ W1.T`` plus ``Delta1.T @ X`` (targets: ratio <= 1.05 and <= 1.25).
2. ``python -m symderiv report backprop --no-pdf`` in a cold subprocess against a
   bare ``python -c "import sympy"`` (target < 4x).
3. The symbolic elementwise-equals-matrix proof for d = h = 2 ... 8.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from timing import interleaved

from symderiv.kinks import kink_policy
from symderiv.topics.backprop import gradient_function
from symderiv.topics.backprop.elementwise import prove
from symderiv.topics.backprop.network import Network
from symderiv.topics.backprop.reference import relu_mae_gradient


def gradient_speed(repeats: int) -> None:
    generator = np.random.default_rng(0)
    n, d, h = 4096, 784, 256
    X = generator.normal(size=(n, d))
    y = generator.normal(size=n)
    params = {"W1": generator.normal(0, (2 / d) ** 0.5, (h, d)), "b1": generator.normal(size=h),
              "W2": generator.normal(0, (2 / h) ** 0.5, (1, h)), "b2": generator.normal(size=1)}
    g = gradient_function((d, h, 1), activation="relu", loss="mae")
    Y = y.reshape(n, 1)
    generated = g(params, X, y)
    written = relu_mae_gradient(X, Y, params["W1"], params["b1"], params["W2"], params["b2"])
    agree = max(float(np.max(np.abs(a - b))) for a, b in zip(generated.values(), written, strict=True))
    delta1 = generator.normal(size=(n, h))
    W1 = params["W1"]

    def lower_bound():
        X @ W1.T
        delta1.T @ X

    rows = list(interleaved({
        "two matmuls (lower bound)": lower_bound,
        "hand-written NumPy": lambda: relu_mae_gradient(
            X, Y, params["W1"], params["b1"], params["W2"], params["b2"]),
        "gradient_function (generated)": lambda: g(params, X, y),
    }, repeats).items())
    bound, written_time, generated_time = (r[1][0] for r in rows)
    print(f"gradient for N={n}, d={d}, h={h}, float64, ReLU/MAE "
          f"({repeats} runs, max |generated - hand-written| = {agree:.1e})")
    print(f"  {'':32} {'min ms':>8} {'median ms':>10}")
    for name, (best, median) in rows:
        print(f"  {name:32} {best * 1e3:8.2f} {median * 1e3:10.2f}")
    print(f"  generated / hand-written = {generated_time / written_time:.3f} (target <= 1.05)")
    print(f"  generated / lower bound  = {generated_time / bound:.3f} (target <= 1.25)")
    print()


def cold_report(repeats: int) -> None:
    def run(argv):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        return elapsed, done

    with tempfile.TemporaryDirectory() as out:
        report = [sys.executable, "-m", "symderiv", "report", "backprop", "--no-pdf", "--out", out]
        probe = run(report)[1]
        if probe.returncode != 0:
            print("report command not available yet:", (probe.stderr or probe.stdout).strip()[-200:])
            print()
            return
        sympy_times = [run([sys.executable, "-c", "import sympy"])[0] for _ in range(repeats)]
        report_times = [run(report)[0] for _ in range(repeats)]
    bare, full = min(sympy_times), min(report_times)
    print(f"cold processes (min of {repeats})")
    print(f"  python -c 'import sympy'                   {bare:6.2f} s")
    print(f"  python -m symderiv report backprop --no-pdf {full:6.2f} s")
    print(f"  ratio = {full / bare:.2f} (target < 4)")
    print()


def proof_growth() -> None:
    print("elementwise == matrix form, symbolic proof (ReLU/MAE, widths (n, n, 1))")
    print(f"  {'n':>3} {'entries':>8} {'seconds':>8}")
    for n in range(2, 9):
        network = Network((n, n, 1), "relu", "mae", kink_policy("zero"))
        start = time.perf_counter()
        proof = prove(network)
        elapsed = time.perf_counter() - start
        assert proof.mismatches == 0, proof.first_mismatch
        print(f"  {n:3d} {proof.entries:8d} {elapsed:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs")
    print()
    gradient_speed(repeats)
    cold_report(3 if args.quick else 5)
    proof_growth()


if __name__ == "__main__":
    main()

"""Time group_norm and its backward next to one full reduction over the same array.

Run as ``python benchmarks/bench_normalization.py``. The reference pass is
``x.sum()``, one single-threaded read of the whole float32 tensor; the targets
are at most 6x that pass for the forward and 10x for the backward. group_norm
splits a large tensor into one run of blocks per core, so the table also shows
it held to one thread, for a like-for-like reading.
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import interleaved

from symderiv.topics.normalization import group_norm, group_norm_backward
from symderiv.topics.normalization import kernels as normalization_numpy

SHAPE = (32, 256, 56, 56)
GROUPS = 32
TARGETS = {"group_norm": 6.0, "group_norm_backward": 10.0}


def single_threaded(function):
    def run():
        workers = normalization_numpy._WORKERS
        normalization_numpy._WORKERS = 1
        try:
            return function()
        finally:
            normalization_numpy._WORKERS = workers

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds of timing (default 15)")
    repeats = parser.parse_args().repeats
    generator = np.random.default_rng(0)
    x = generator.standard_normal(SHAPE, dtype=np.float32)
    grad_out = generator.standard_normal(SHAPE, dtype=np.float32)
    gamma = generator.standard_normal(SHAPE[1], dtype=np.float32)
    beta = generator.standard_normal(SHAPE[1], dtype=np.float32)
    forward = lambda: group_norm(x, GROUPS, gamma, beta)  # noqa: E731
    backward = lambda: group_norm_backward(x, grad_out, GROUPS, gamma)  # noqa: E731
    timings = interleaved({
        "x.sum()": lambda: x.sum(),
        "np.empty_like(x) + copy": lambda: np.copyto(np.empty_like(x), x),
        "group_norm": forward,
        "group_norm_backward": backward,
        "group_norm, 1 thread": single_threaded(forward),
        "group_norm_backward, 1 thread": single_threaded(backward),
    }, repeats)
    reference = timings["x.sum()"][0]
    print(f"shape {SHAPE}, float32, groups={GROUPS}, {normalization_numpy._WORKERS} threads, "
          f"min of {repeats}")
    print(f"{'operation':<31}{'min ms':>8}{'median ms':>11}{'/ x.sum()':>11}{'target':>8}")
    for name, (best, median) in timings.items():
        target = f"{TARGETS[name]:.0f}x" if name in TARGETS else ""
        print(f"{name:<31}{best * 1e3:>8.1f}{median * 1e3:>11.1f}{best / reference:>10.1f}x{target:>8}")


if __name__ == "__main__":
    main()

"""Time group_norm and its backward next to one full reduction over the same array.

Run as ``python benchmarks/bench_normalization.py``. The reference pass is
``x.sum()``, one read of the whole float32 tensor; the targets are at most 6x
that pass for the forward and 10x for the backward. Each time is the best of
several repeats, so that other work on the machine disturbs it least.
"""

from __future__ import annotations

import time

import numpy as np

from symderiv.topics.normalization import group_norm, group_norm_backward

SHAPE = (32, 256, 56, 56)
GROUPS = 32
REPEATS = 15
TARGETS = {"group_norm": 6.0, "group_norm_backward": 10.0}


def best_times(functions: dict, repeats: int = REPEATS) -> dict[str, float]:
    """Best time of each function; the functions take turns, so that a burst of
    other work on the machine slows all of them rather than one."""
    best = {name: float("inf") for name in functions}
    for function in functions.values():
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    generator = np.random.default_rng(0)
    x = generator.standard_normal(SHAPE, dtype=np.float32)
    grad_out = generator.standard_normal(SHAPE, dtype=np.float32)
    gamma = generator.standard_normal(SHAPE[1], dtype=np.float32)
    beta = generator.standard_normal(SHAPE[1], dtype=np.float32)
    group_norm(x[:1], GROUPS, gamma, beta)  # lambdify the kernels outside the timing
    timings = best_times({
        "x.sum()": lambda: x.sum(),
        "np.empty_like(x) + copy": lambda: np.copyto(np.empty_like(x), x),
        "group_norm": lambda: group_norm(x, GROUPS, gamma, beta),
        "group_norm_backward": lambda: group_norm_backward(x, grad_out, GROUPS, gamma),
    })
    reference = timings["x.sum()"]
    print(f"shape {SHAPE}, float32, groups={GROUPS}, best of {REPEATS}")
    print(f"{'operation':<26}{'time (ms)':>10}{'/ x.sum()':>10}{'target':>8}")
    for name, seconds in timings.items():
        target = f"{TARGETS[name]:.0f}x" if name in TARGETS else ""
        ratio = seconds / reference
        print(f"{name:<26}{seconds * 1e3:>10.1f}{ratio:>9.1f}x{target:>8}")


if __name__ == "__main__":
    main()

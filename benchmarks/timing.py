"""Wall-clock timing shared by the benchmarks.

Candidates are timed in turn, round after round, so that a burst of load on
a shared machine hits all of them alike; the minimum is the best estimate of
the cost, the median shows the spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """(minimum, median) wall time in seconds of each function, after one warm-up call each."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}

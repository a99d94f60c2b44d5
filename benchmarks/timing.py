"""Interleaved wall-clock timing shared by the benchmark scripts (imported as ``from timing import interleaved``).

Each repeat runs every function once, in turn, so that a change in the load of a shared machine affects all of them
alike; one warm-up call each comes first (tracing, allocation, planning).
"""
import statistics
import time


def interleaved(fns, repeats):
    """``{name: (min, median)}`` wall seconds of each no-argument ``fns[name]()`` over ``repeats`` interleaved runs."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (min(values), statistics.median(values)) for name, values in times.items()}

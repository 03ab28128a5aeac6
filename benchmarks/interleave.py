"""The timing loop the step benchmarks share: variants interleaved, blocks of calls.

Machines here are shared and noisy, so no variant is timed in one long stretch: every
repeat runs each variant in turn as a block, whose first call is untimed (it absorbs the
previous variant's still-spinning BLAS threads and its cold caches), then ``steps``
timed calls. A variant's time is the median over the repeats (benchmarks/README.md).
"""
import time


def interleaved(variants, repeats, steps):
    """``{name: [seconds per call in each block]}`` for the callables ``variants``
    (``{name: call}``), run in turn ``repeats`` times, ``steps`` timed calls a block."""
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, call in variants.items():
            call()                                  # untimed
            start = time.perf_counter()
            for _ in range(steps):
                call()
            times[name].append((time.perf_counter() - start) / steps)
    return times

"""Random numbers that do not depend on partitioning, row order or retries.

Every draw is a pure function of ``(seed, stream, class, counter)``: a counter-based
generator. On the Spark side the hash is Spark's own ``xxhash64`` (same result on every
executor, in classic and Connect sessions), turned into a double in [0, 1) with the top
53 bits. On the numpy side (inside UDFs and on the driver for small parameter draws) the
mixer is splitmix64 over uint64 arrays. Neither uses ``F.rand``, partition ids or
Python's salted built-in hashing.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import Column
from pyspark.sql import functions as F

__all__ = [
    "STREAM_BASE",
    "STREAM_LAMBDA",
    "STREAM_NEIGHBOR",
    "numpy_generator",
    "splitmix64",
    "uniform_column",
    "uniform_numpy",
]

# Independent streams: one per kind of draw.
STREAM_BASE = 1
STREAM_NEIGHBOR = 2
STREAM_LAMBDA = 3
STREAM_LSH = 4
STREAM_SAMPLE = 5

_TWO_POW_MINUS_53 = 2.0**-53


def uniform_column(seed: int, stream: int, *counters: Column) -> Column:
    """Return a Column of doubles uniform in [0, 1) keyed by seed, stream and counters.

    Parameters
    ----------
    seed : int
        The run's seed.
    stream : int
        Which kind of draw (``STREAM_*``), so draws of different kinds are independent.
    *counters : Column
        Integer columns identifying the draw, e.g. class ordinal and draw index.

    """
    hashed = F.xxhash64(F.lit(seed).cast("long"), F.lit(stream).cast("int"), *counters)
    return F.shiftrightunsigned(hashed, 11).cast("double") * F.lit(_TWO_POW_MINUS_53)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """Apply the splitmix64 finaliser to a uint64 array (wrapping arithmetic)."""
    z = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z ^= z >> np.uint64(31)
    return z


def uniform_numpy(seed: int, stream: int, counters: np.ndarray) -> np.ndarray:
    """Uniform doubles in [0, 1), one per counter, keyed by seed and stream."""
    key = splitmix64(np.array([seed ^ (stream << 56)], dtype=np.uint64))[0]
    with np.errstate(over="ignore"):
        mixed = splitmix64(np.asarray(counters, dtype=np.uint64) ^ key)
    return (mixed >> np.uint64(11)).astype(np.float64) * _TWO_POW_MINUS_53


def numpy_generator(seed: int, stream: int, *keys: int) -> np.random.Generator:
    """A numpy Generator whose state is a pure function of seed, stream and keys."""
    return np.random.Generator(
        np.random.Philox(key=[seed & (2**64 - 1), (stream << 32) ^ hash_ints(keys)])
    )


def hash_ints(keys: tuple[int, ...]) -> int:
    """Combine small non-negative ints into one 64-bit value, deterministically."""
    acc = np.uint64(0)
    for key in keys:
        acc = splitmix64(np.array([int(acc) ^ (key & (2**64 - 1))], dtype=np.uint64))[0]
    return int(acc)

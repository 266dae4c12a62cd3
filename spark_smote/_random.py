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
    "STREAM_BORDERLINE_STEP",
    "STREAM_LAMBDA",
    "STREAM_NEIGHBOR",
    "STREAM_VARIANT_BASE",
    "STREAM_VARIANT_LAMBDA",
    "STREAM_VARIANT_NEIGHBOR",
    "numpy_generator",
    "splitmix64",
    "uniform_column",
    "uniform_column_numpy",
    "uniform_numpy",
]

# Independent streams: one per kind of draw.
STREAM_BASE = 1
STREAM_NEIGHBOR = 2
STREAM_LAMBDA = 3
STREAM_LSH = 4
STREAM_SAMPLE = 5
# The SMOTE variants' draws (Borderline-SMOTE, ADASYN): their own streams, so their
# draws never repeat SMOTE's for the same seed and class.
STREAM_VARIANT_BASE = 6
STREAM_VARIANT_NEIGHBOR = 7
STREAM_VARIANT_LAMBDA = 8
STREAM_BORDERLINE_STEP = 9

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


# Spark's XXH64 (org.apache.spark.sql.catalyst.expressions.XXH64), for the numpy twin of
# uniform_column: its primes and the default seed of the xxhash64 expression.
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_XXHASH64_SEED = 42


def _rotl(value: np.ndarray, bits: int) -> np.ndarray:
    return (value << np.uint64(bits)) | (value >> np.uint64(64 - bits))


def _fmix(value: np.ndarray) -> np.ndarray:
    value = value ^ (value >> np.uint64(33))
    value = value * _P2
    value = value ^ (value >> np.uint64(29))
    value = value * _P3
    return value ^ (value >> np.uint64(32))


def _hash_int(value: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Spark's ``XXH64.hashInt``: a 32-bit value (its low 32 bits) hashed onto ``seed``."""
    acc = seed + _P5 + np.uint64(4)
    acc = acc ^ ((value & np.uint64(0xFFFFFFFF)) * _P1)
    return _fmix(_rotl(acc, 23) * _P2 + _P3)


def _hash_long(value: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Spark's ``XXH64.hashLong``: a 64-bit value hashed onto ``seed``."""
    acc = seed + _P5 + np.uint64(8)
    acc = acc ^ (_rotl(value * _P2, 31) * _P1)
    return _fmix(_rotl(acc, 27) * _P1 + _P4)


def uniform_column_numpy(seed: int, stream: int, ordinal: int, counters: np.ndarray) -> np.ndarray:
    """The values of ``uniform_column(seed, stream, class, counter)``, computed in numpy.

    ``class`` an int column equal to ``ordinal`` and ``counter`` a long column: the same
    xxhash64 chain as Spark's (long seed, int stream, int class, long counter, from
    Spark's default hash seed 42), so a UDF draws bit for bit what the Spark plan draws.

    Parameters
    ----------
    seed, stream, ordinal : int
        The run's seed, the ``STREAM_*`` of the draw and the class ordinal.
    counters : ndarray of int64
        Draw indices.

    Returns
    -------
    ndarray of float64
        Uniform doubles in [0, 1), one per counter.

    """
    with np.errstate(over="ignore"):
        acc = _hash_long(
            np.array([seed & (2**64 - 1)], np.uint64), np.array([_XXHASH64_SEED], np.uint64)
        )
        acc = _hash_int(np.array([stream & 0xFFFFFFFF], np.uint64), acc)
        acc = _hash_int(np.array([ordinal & 0xFFFFFFFF], np.uint64), acc)
        hashed = _hash_long(np.asarray(counters, np.int64).view(np.uint64), acc)
    return (hashed >> np.uint64(11)).astype(np.float64) * _TWO_POW_MINUS_53


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

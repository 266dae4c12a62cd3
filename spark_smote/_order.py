"""Total orders of float rows in numpy, shared by the keys phase and the neighbour search.

The keys phase (:mod:`spark_smote._keys`) numbers a class's rows by (hash, key) and the
LSH search orders rows by (bucket codes, split value, index); both need floats compared
by their bits (``-0.0`` before ``0.0``) and ties of a leading key broken by further
keys. No Spark here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["order_ties", "ordered_bits"]


def order_ties(
    key: np.ndarray, order: np.ndarray, minor: Callable[[np.ndarray], list[np.ndarray]]
) -> np.ndarray:
    """Order, in place, the rows of ``order`` whose leading ``key`` ties by further keys.

    Parameters
    ----------
    key : ndarray
        A leading sort key per row; ``order`` sorts it.
    order : ndarray of int64
        Row positions in ``key`` order; the runs of equal key are reordered in place.
    minor : callable
        Given the positions of the tied rows, their further sort keys, least
        significant first (as :func:`np.lexsort` takes them).

    Returns
    -------
    ndarray of int64
        ``order``, sorted by (key, further keys).

    """
    sorted_key = key[order]
    tied = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if tied.size:
        at = np.union1d(tied, tied + 1)
        rows = order[at]
        order[at] = rows[np.lexsort([*minor(rows), sorted_key[at]])]
    return order


def ordered_bits(values: np.ndarray) -> np.ndarray:
    """float64 values as uint64 whose unsigned order is the values' order (-0.0 < 0.0)."""
    sign = np.uint64(1 << 63)
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where((bits & sign) != 0, ~bits, bits | sign)

"""Numpy kernels of the neighbour search: k nearest rows of a block or chunk, merging.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`). The Spark modules
of the package hand these functions numpy arrays and Arrow columns; nothing here
imports Spark, so they are tested without a JVM (``tests/unit``).

- :func:`block_top_k`: exact k nearest references of each query (the exact search's
  block pairs), float64 throughout.
- :func:`chunk_top_k`: k nearest rows of an LSH chunk, ranked in float32 on packed
  integers, re-ranked exactly in float64.
- :func:`sample_block_neighbors`: the tuning sample against one block of its class.
- :func:`nearest_distinct` / :func:`merge_tables`: several candidate lists merged into
  the k nearest distinct rows.
- :func:`candidate_blobs`: a row's candidate list as one binary value, for shuffles.

Every result is a function of the rows alone (ties go to the smaller index), never
of the order or batches they arrive in.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa

from spark_smote._arrow import binary_rows, matrix_from_binary_column

__all__ = [
    "QUERY_GROUPS",
    "RERANK_MARGIN",
    "blobs_to_candidates",
    "block_top_k",
    "candidate_blobs",
    "candidate_distances",
    "chunk_ranges",
    "chunk_top_k",
    "float32_at_least",
    "merge_tables",
    "nearest_distinct",
    "sample_block_neighbors",
]

# Candidates kept from a fast ranking (float32, or float64 by the expanded product)
# for the exact float64 re-ranking. A 2048-row chunk leaves 12 fraction bits to the
# packed float32 distance, so its order is right to 2.4e-4 of the distance: a true
# neighbour is lost only if more than 8 rows tie with it that closely, which identical
# rows do (any of them serves); 16 gave the same neighbours on every data set measured.
RERANK_MARGIN = 8
# Queries ranked together against a chunk: a 64 x cap block stays in cache.
_QUERY_SLICE = 64
# A chunk's queries are ranked in this many fixed groups (by row index modulo it), each
# in its own slices, so a row's float32 ranking never depends on which other queries a
# task holds: the whole-class search gives each task whole groups and finds bit for bit
# what the per-table search finds.
QUERY_GROUPS = 8
# Largest chunk ranked on packed (distance, column) integers: the column takes the low
# bits of the float32 distance, and 2**14 rows leave 9 of its 23 fraction bits.
_MAX_PACKED_CHUNK = 1 << 14


def candidate_blobs(neighbors: np.ndarray, distances: np.ndarray) -> pa.Array:
    """Each row's k candidate indices then their k distances, as one binary value."""
    return binary_rows(np.hstack([neighbors.astype(np.int64), distances.view(np.int64)]))


def blobs_to_candidates(
    column: pa.Array | pa.ChunkedArray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`candidate_blobs`: (neighbors, distances), each (n, k)."""
    both = matrix_from_binary_column(column, 2 * k, np.int64)
    return both[:, :k], both[:, k:].view(np.float64)


def block_top_k(
    query_x: np.ndarray,
    query_idx: np.ndarray,
    ref_x: np.ndarray,
    ref_idx: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest references of each query, excluding the query itself.

    Parameters
    ----------
    query_x, ref_x : ndarray of shape (nq, d), (nr, d)
        Feature matrices.
    query_idx, ref_idx : ndarray of int64
        Row indices; a reference with the query's own index is never its neighbour.
    k : int
        Neighbours wanted.

    Returns
    -------
    (neighbors, distances) : ndarray of shape (nq, m), m = min(k, candidates)
        Reference indices, nearest first, ties broken by the smaller index; and their
        squared Euclidean distances. Queries that see their own index among the
        references get one candidate fewer; every row of a result has the same m
        because either all or none of the queries are among the references.

    Notes
    -----
    Distances are first ranked with the fast expansion |q|^2 + |r|^2 - 2 q.r, the best
    k + margin are then recomputed exactly as sum((q - r)^2) and re-ranked, so the
    result does not suffer from the expansion's cancellation on near-identical rows.
    Queries and references are put in index order first and ties in the fast ranking
    go to the smaller index, so the result does not depend on the order the rows
    arrive in (a shuffle delivers a group's rows in any order).

    """
    n_query, n_ref = len(query_x), len(ref_x)
    # Queries and references in index order: the fast ranking's ties then go to the
    # smaller index whatever order the rows arrived in.
    query_order = np.argsort(query_idx, kind="stable")
    ref_order = np.argsort(ref_idx, kind="stable")
    query_x, query_idx = query_x[query_order], query_idx[query_order]
    ref_x, ref_idx = ref_x[ref_order], ref_idx[ref_order]
    _, q_pos, r_pos = np.intersect1d(query_idx, ref_idx, assume_unique=True, return_indices=True)
    if len(q_pos) not in (0, n_query):
        raise ValueError("block_top_k: either all or no queries may be among the references")
    available = n_ref - (1 if len(q_pos) else 0)
    m = min(k, available)
    if n_query == 0 or m <= 0:
        return np.empty((n_query, 0), np.int64), np.empty((n_query, 0), np.float64)
    approx = (
        np.einsum("ij,ij->i", query_x, query_x)[:, None]
        + np.einsum("ij,ij->i", ref_x, ref_x)[None, :]
        - 2.0 * (query_x @ ref_x.T)
    )
    approx[q_pos, r_pos] = np.inf
    keep = min(n_ref, m + RERANK_MARGIN + (1 if len(q_pos) else 0))
    if keep < n_ref:
        candidates = _smallest_first_by_position(approx, keep)
    else:
        candidates = np.broadcast_to(np.arange(n_ref), (n_query, n_ref))
    exact = candidate_distances(query_x, ref_x, candidates)
    candidate_idx = ref_idx[candidates]
    exact[candidate_idx == query_idx[:, None]] = np.inf
    order = np.lexsort((candidate_idx, exact), axis=1)[:, :m]
    rows = np.arange(n_query)[:, None]
    restore = np.empty_like(query_order)
    restore[query_order] = np.arange(n_query)
    return candidate_idx[rows, order][restore], exact[rows, order][restore]


def _smallest_first_by_position(values: np.ndarray, keep: int) -> np.ndarray:
    """Column positions of the ``keep`` smallest values per row, ties to the leftmost."""
    kth = np.partition(values, keep - 1, axis=1)[:, keep - 1 : keep]
    below = values < kth
    ties = values == kth
    room = keep - below.sum(axis=1, keepdims=True)
    selected = below | (ties & (np.cumsum(ties, axis=1) <= room))
    return np.nonzero(selected)[1].reshape(len(values), keep)


def candidate_distances(
    query_x: np.ndarray, ref_x: np.ndarray, candidates: np.ndarray
) -> np.ndarray:
    """Exact squared distances from each query to its candidate references.

    Parameters
    ----------
    query_x : ndarray (q, d)
        The queries' features.
    ref_x : ndarray (r, d)
        The references' features.
    candidates : ndarray (q, c) of int
        Positions in ``ref_x`` of each query's candidates.

    Returns
    -------
    ndarray (q, c) of float64
        ``sum((ref - query) ** 2)`` over the features.

    Notes
    -----
    The gathered candidates are overwritten with their differences in place: about
    three times faster than a broadcast subtraction into a new array, same bits
    (``a - b`` is exactly ``-(b - a)``). ``np.take`` gathers them in half the time of
    fancy indexing.

    """
    diff = np.take(ref_x, candidates, axis=0)
    diff -= query_x[:, None, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def chunk_ranges(rank: np.ndarray, n: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The chunk ``[lo, hi)`` of sorted positions searched for rows at ``rank``.

    A (class, table) of ``n`` rows sorted by key is cut into chunks
    ``[j * step, j * step + 2 * step)`` (the last one running to ``n``); a row is the
    query of the chunk in which it lies in the central half (the first and last chunks
    also take the rows before and after). ``n <= 2 * step`` is a single chunk.
    """
    rank = np.asarray(rank, dtype=np.int64)
    if n <= 2 * step:
        return np.zeros_like(rank), np.full_like(rank, n)
    last = -(-n // step) - 2
    chunk = np.clip((2 * rank - step) // (2 * step), 0, last)
    lo = chunk * step
    return lo, np.where(chunk == last, n, lo + 2 * step)


def chunk_top_k(
    x: np.ndarray,
    idx: np.ndarray,
    queries: np.ndarray,
    k: int,
    limits: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows of the chunk for each query row, nearest first.

    Parameters
    ----------
    x : ndarray of shape (n, d)
        The chunk's features, in the chunk's (deterministic) order.
    idx : ndarray of int64
        The rows' indices; ties in distance go to the smaller index.
    queries : ndarray of int
        Positions (into ``x``) of the query rows.
    k : int
        Neighbours wanted; the chunk must hold more than k rows.
    limits : ndarray (len(queries),), optional
        Each query's largest squared distance still wanted (+inf: any), such as the
        k-th distance of the running list its result is merged into. Rows farther
        away may be left out, which changes nothing once merged (they rank after every
        entry of that list).

    Returns
    -------
    (neighbors, distances) : ndarray of shape (len(queries), k)
        Indices and exact squared Euclidean distances; slots left empty under a limit
        hold -1 and +inf.

    Notes
    -----
    Distances are ranked in float32 on features centred and scaled by the chunk, 64
    queries at a time so the block stays in cache; the queries are sliced per index
    group (``QUERY_GROUPS``), so a query's result is the same whether the call holds
    every query of the chunk or only those of its group. One product of augmented matrices
    gives ``|q|^2 - 2 q.r + |r|^2`` directly. The selection then runs on integers: a
    non-negative float32's bits order like its value, so the low bits of each distance
    are replaced by the candidate's column (ties go to the lower column) and
    ``np.partition``, much faster than ``argpartition`` on floats, picks the best
    ``k + RERANK_MARGIN`` keys (in place), from which the columns are read back. Those
    are recomputed exactly in float64 and re-ranked. A chunk whose values overflow float32, or of
    more than 2**14 rows (too few bits would be left), is searched in float64.

    Under a limit, a query's float32 distances are compared with the limit's bound
    (:func:`_screen_bounds`, which every row within the limit passes); when at most
    ``k + RERANK_MARGIN`` pass, they are the candidates and the packing and partition,
    which dominate the ranking, are skipped. Otherwise the query is ranked as without
    one.

    """
    n = len(x)
    keep = min(n - 1, k + RERANK_MARGIN)
    centred = x - x.mean(axis=0)
    scale = float(np.max(np.abs(centred))) if centred.size else 0.0
    groups = idx[queries] % QUERY_GROUPS
    by_group = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[by_group], np.arange(QUERY_GROUPS + 1))
    restore = np.empty_like(by_group)
    restore[by_group] = np.arange(len(by_group))
    queries = queries[by_group]
    if limits is not None:
        limits = np.asarray(limits, np.float64)[by_group]
    spans = [(lo, hi) for lo, hi in itertools.pairwise(bounds) if lo < hi]
    if not spans:
        return np.empty((0, k), np.int64), np.empty((0, k), np.float64)
    if not (math.isfinite(scale) and n > keep + 1 and n <= _MAX_PACKED_CHUNK):
        found = [block_top_k(x[queries[lo:hi]], idx[queries[lo:hi]], x, idx, k) for lo, hi in spans]
        neighbors = np.concatenate([f[0] for f in found])
        distances = np.concatenate([f[1] for f in found])
        return neighbors[restore], distances[restore]
    low = (centred / scale if scale > 0 else centred).astype(np.float32)
    d = x.shape[1]
    # rows r: (r, |r|^2, 1); queries q: (-2q, 1, |q|^2); their product is |q - r|^2.
    right = np.empty((d + 2, n), np.float32)
    right[:d] = low.T
    right[d] = np.einsum("ij,ij->i", low, low)
    right[d + 1] = 1.0
    # Only the queries' rows of the left factor are used: a task answering a share of
    # the chunk's queries (the whole-class search) builds only those.
    left = np.empty((len(queries), d + 2), np.float32)
    left[:, :d] = -2.0 * low[queries]
    left[:, d] = 1.0
    left[:, d + 1] = right[d][queries]
    bits = max(1, (n - 1).bit_length())
    clear = np.int32(-(1 << bits))
    columns = np.arange(n, dtype=np.int32)
    candidates = np.empty((len(queries), keep), np.int32)
    screen_limits = (
        None if limits is None else _screen_bounds(limits, scale if scale > 0 else 1.0, d)
    )
    slices = [
        (start, min(start + _QUERY_SLICE, hi))
        for lo, hi in spans
        for start in range(lo, hi, _QUERY_SLICE)
    ]
    # One block for every slice's distances: a fresh 512 KB array per slice may cost
    # page faults (the allocator returns freed memory to the system and takes it back).
    block = np.empty((_QUERY_SLICE, n), np.float32)
    for start, stop in slices:
        part = queries[start:stop]
        approx = np.matmul(left[start:stop], right, out=block[: len(part)])
        approx[np.arange(len(part)), part] = np.inf
        ranked = None  # every query of the slice
        if screen_limits is not None:
            # The flat positions, split into (row, column): far faster than a 2-D nonzero.
            hits = np.flatnonzero(approx <= screen_limits[start:stop, None])
            hit_rows = hits // n
            passed = np.bincount(hit_rows, minlength=len(part))
            few = passed <= keep
            if few.any():
                chosen = few[hit_rows]
                _take_under(
                    hit_rows[chosen],
                    hits[chosen] - hit_rows[chosen] * n,
                    few,
                    passed,
                    part,
                    candidates[start:stop],
                )
                ranked = np.flatnonzero(~few)
        if ranked is None:
            candidates[start:stop] = _packed_smallest(approx, keep, clear, columns)
        elif len(ranked):
            candidates[start + ranked] = _packed_smallest(approx[ranked], keep, clear, columns)
    candidates &= np.int32((1 << bits) - 1)
    exact = candidate_distances(x[queries], x, candidates)
    candidate_idx = idx[candidates]
    if limits is not None:
        # Slots a limit left empty hold the query's own column, which no ranking
        # picks (its distance is +inf and the chunk has more than keep other rows).
        empty = candidates == queries[:, None]
        exact[empty] = np.inf
        candidate_idx[empty] = -1
    order = np.lexsort((candidate_idx, exact), axis=1)[:, :k]
    return (
        np.take_along_axis(candidate_idx, order, axis=1)[restore],
        np.take_along_axis(exact, order, axis=1)[restore],
    )


def _packed_smallest(
    approx: np.ndarray, keep: int, clear: np.int32, columns: np.ndarray
) -> np.ndarray:
    """Each row's ``keep`` smallest values as packed keys (column in the low bits).

    ``approx`` (float32, rows of the chunk's columns) is overwritten: each value's low
    bits are cleared (``clear``) and replaced by its column, and the keys are
    partitioned in place. Rounding may leave a duplicate's distance slightly negative:
    its bits sort before every non-negative value, which is where it belongs.
    """
    packed = approx.view(np.int32)
    packed &= clear
    packed |= columns
    packed.partition(keep - 1, axis=1)
    return packed[:, :keep]


def _screen_bounds(limits: np.ndarray, scale: float, dimension: int) -> np.ndarray:
    """Per query, a float32 value no row within its squared-distance limit exceeds.

    :func:`chunk_top_k` ranks the rows centred, divided by ``scale`` (so every value
    is at most 1 in magnitude) and rounded to float32. A limit L on the exact float64
    distance is at most L (1 + 4 (d + 4) eps64) / scale**2 in those units, and the
    float32 value differs from that by less than the rounding of the rows (d eps32
    per feature, 9 d eps32 on the distance) and of the norms and the product (about
    2 d**2 + 4 d (d + 3) eps32 on values below 4 d): 8 d (d + 4) eps32 bounds both.
    The sum is rounded up to float32; a query without a limit gets +inf.
    """
    eps32 = float(np.finfo(np.float32).eps)
    eps64 = float(np.finfo(np.float64).eps)
    slack = 8 * dimension * (dimension + 4) * eps32
    with np.errstate(over="ignore"):  # a bound beyond float64 becomes +inf: no bound
        # Divided twice: scale**2 alone may overflow or underflow where the ratio does not.
        bound = limits / scale / scale * (1 + 4 * (dimension + 4) * eps64) + slack
    return float32_at_least(bound)


def float32_at_least(values: np.ndarray) -> np.ndarray:
    """The smallest float32 values not below ``values`` (float64): rounded up."""
    with np.errstate(over="ignore"):  # beyond float32: +inf, which bounds nothing
        low = values.astype(np.float32)
    return np.where(low < values, np.nextafter(low, np.float32(np.inf)), low)


def _take_under(
    hit_rows: np.ndarray,
    hit_columns: np.ndarray,
    few: np.ndarray,
    passed: np.ndarray,
    own: np.ndarray,
    candidates: np.ndarray,
) -> None:
    """Fill the candidate rows of the ``few`` queries with the columns they passed.

    ``hit_rows`` and ``hit_columns`` are those queries' passing (row, column) pairs in
    row-major order, ``passed`` counts each query's (at most the row width where
    ``few``). The slots left over hold the query's own column (``own``).
    """
    rows = np.flatnonzero(few)
    candidates[rows] = own[rows, None]
    counts = passed[rows]
    slot = np.arange(len(hit_rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    candidates[hit_rows, slot] = hit_columns


def nearest_distinct(
    neighbors: np.ndarray, distances: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`merge_tables` with the distances: ``(neighbors, distances)``, each (rows, k).

    A candidate has the same exact distance in every list (the same float64 sum), so
    merging lists one at a time into the running k nearest gives the same result as
    merging them all at once.
    """
    by_index = np.lexsort((distances, neighbors), axis=1)
    neighbors = np.take_along_axis(neighbors, by_index, axis=1)
    distances = np.take_along_axis(distances, by_index, axis=1)
    distances[:, 1:][neighbors[:, 1:] == neighbors[:, :-1]] = np.inf
    nearest = np.lexsort((neighbors, distances), axis=1)[:, :k]
    return (
        np.take_along_axis(neighbors, nearest, axis=1),
        np.take_along_axis(distances, nearest, axis=1),
    )


def merge_tables(neighbors: np.ndarray, distances: np.ndarray, k: int) -> np.ndarray:
    """The k nearest distinct neighbours of each row from its tables' lists.

    Parameters
    ----------
    neighbors, distances : ndarray (rows, tables * k)
        Every table's k candidates of each row, side by side.
    k : int
        Neighbours wanted.

    Returns
    -------
    ndarray (rows, k)
        Distinct indices, nearest first, ties by index; a candidate proposed by several
        tables counts once, at its smallest distance.

    """
    return nearest_distinct(neighbors, distances, k)[0]


def sample_block_neighbors(
    qx: np.ndarray, qi: np.ndarray, rx: np.ndarray, ri: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest rows of one reference block for each sampled query.

    Parameters
    ----------
    qx, qi : ndarray (q, d) and (q,)
        The queries' features and indices, in index order.
    rx, ri : ndarray (r, d) and (r,)
        The block's features and indices, in index order.
    k : int
        Neighbours wanted.

    Returns
    -------
    (distances, indices) : ndarray (q, m)
        Euclidean distances, ascending, ties by index; ``m <= k`` is the same for all
        queries (a query in its own block has one candidate fewer).

    """
    n_query, n_ref = len(qx), len(rx)
    keep = min(k + RERANK_MARGIN, n_ref)
    if not (n_query and n_ref):
        return np.zeros((n_query, 0)), np.zeros((n_query, 0), np.int64)
    approx = (
        np.einsum("ij,ij->i", qx, qx)[:, None]
        + np.einsum("ij,ij->i", rx, rx)[None, :]
        - 2.0 * (qx @ rx.T)
    )
    np.maximum(approx, 0.0, out=approx)
    approx[qi[:, None] == ri[None, :]] = np.inf
    candidates = np.argpartition(approx, keep - 1, axis=1)[:, :keep]
    exact = candidate_distances(qx, rx, candidates)
    candidate_idx = ri[candidates]
    exact[candidate_idx == qi[:, None]] = np.inf
    order = np.lexsort((candidate_idx, exact), axis=1)[:, : min(k, keep)]
    picked = np.arange(n_query)[:, None]
    best, best_idx = exact[picked, order], candidate_idx[picked, order]
    m = int(np.isfinite(best).sum(axis=1).min())
    return np.sqrt(best[:, :m]), best_idx[:, :m]

"""Numpy kernels of the cross-class neighbour search (no Spark in this module).

Phase 4 (neighbour engine), cross-class case: the k nearest rows of query rows among
all rows of all classes. The Spark plumbing (:mod:`spark_smote._search.cross_exact`,
:mod:`spark_smote._search.cross_lsh`) hands groups of rows to these functions:

- :func:`neighbor_distances` / :func:`block_top_k`: exact Euclidean distances of a
  block of queries against a block of references and each query's k best, the query
  itself left out;
- :func:`merge_candidates`: several candidate lists of one query merged into its k
  best distinct neighbours; :func:`merge_runs` the same for queries whose lists arrive
  as runs of consecutive rows;
- :func:`lsh_codes` / :func:`project`: p-stable hash codes of rows, computed so that a
  row's codes never depend on the batch it arrives in (their sort keys are
  :func:`spark_smote._search.hashing.sort_keys`, as the same-class search's);
- :class:`SortedRun`: one LSH table's rows in key order, cut into overlapping chunks of
  bounded size as they stream in;
- :func:`recall_at_k`: the share of true neighbours a search found;
- :func:`matrix_from_list_column` / :func:`list_column`: Arrow list columns to numpy
  matrices and back.

A neighbour is identified by (class ordinal, index in class). Every list is ordered by
(distance, class, index), so equal distances are broken by the neighbour's key and no
result depends on the order rows arrive in. Distances are ``sqrt`` of the sum of
squared differences accumulated feature by feature in float64: the same bits for the
same pair in every block, chunk and search method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from spark_smote._search.kernels import float32_at_least

__all__ = [
    "PAD",
    "Chunk",
    "SortedRun",
    "block_top_k",
    "list_column",
    "lsh_codes",
    "matrix_from_list_column",
    "merge_candidates",
    "merge_runs",
    "neighbor_distances",
    "project",
    "recall_at_k",
]

# Class and index of an empty slot in a candidate list (its distance is +inf).
PAD = -1
# Distances computed at once per block of queries: 4M float64 (32 MB) bounds a UDF's
# scratch memory whatever the block or chunk size.
_DISTANCE_BLOCK_VALUES = 1 << 22
# Screened columns sampled per neighbour wanted to bound a query's k-th distance: a
# sample of 32 k columns lets through about r / 32 candidates per query (of r
# references). Selecting in a larger sample costs more than it saves in exact checks;
# a smaller one lets through twice the candidates (block_top_k: 1.8 ms against 2.5 ms
# with 16 k, 2.1 ms with 64 k, for 128 queries x 2048 references x 18 features).
_SCREEN_SAMPLE_PER_NEIGHBOR = 32
# Fewer queries than this in a block are ranked without the screen: its set-up (the
# references centred, their norms, once per block) costs more than every distance
# (2048 x 18 references: 0.16 ms against 0.36 ms for one query, about even at four).
_SCREEN_MIN_QUERIES = 4


def neighbor_distances(query_x: np.ndarray, ref_x: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(q, r)`` between every query and every reference.

    Accumulated feature by feature (``sum_j (r_j - q_j)^2``, then ``sqrt``): each
    value is a function of its pair alone, so a pair gets the same bits whatever the
    other rows of the block.
    """
    squared = np.zeros((len(query_x), len(ref_x)), np.float64)
    term = np.empty_like(squared)
    for j in range(query_x.shape[1]):
        np.subtract(ref_x[None, :, j], query_x[:, j, None], out=term)
        term *= term
        squared += term
    return np.sqrt(squared, out=squared)


def _smallest(values: np.ndarray, keep: int) -> np.ndarray:
    """Column positions of each row's ``keep`` smallest values, ordered (value, position)."""
    n_rows, n_cols = values.shape
    if keep < n_cols:
        kth = np.partition(values, keep - 1, axis=1)[:, keep - 1 : keep]
        below = values < kth
        ties = values == kth
        room = keep - below.sum(axis=1, keepdims=True)
        chosen = below | (ties & (np.cumsum(ties, axis=1) <= room))
        positions = np.nonzero(chosen)[1].reshape(n_rows, keep)
    else:
        positions = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    picked = np.take_along_axis(values, positions, axis=1)
    order = np.lexsort((positions, picked), axis=1)
    return np.take_along_axis(positions, order, axis=1)


def _own_positions(
    query_class: np.ndarray, query_idx: np.ndarray, ref_class: np.ndarray, ref_idx: np.ndarray
) -> np.ndarray:
    """Each query's position among the (class, index)-sorted references, or -1.

    One ``searchsorted`` of the queries' indices within each query class's run of
    references (a block holds queries of few classes).
    """
    own = np.full(len(query_idx), -1, np.int64)
    for label in np.unique(query_class):
        of_class = np.flatnonzero(query_class == label)
        first = int(np.searchsorted(ref_class, label, "left"))
        run = ref_idx[first : int(np.searchsorted(ref_class, label, "right"))]
        at = np.searchsorted(run, query_idx[of_class])
        found = at < len(run)
        found[found] = run[at[found]] == query_idx[of_class[found]]
        own[of_class[found]] = first + at[found]
    return own


def _exclude_itself(values: np.ndarray, own: np.ndarray) -> None:
    """Set each query's value at its own position (``own``, -1: none) to +inf."""
    rows = np.flatnonzero(own >= 0)
    values[rows, own[rows]] = np.inf


@dataclass(frozen=True)
class _CentredReferences:
    """What the screen needs of a block of references, computed once per block.

    The references are centred on their mean (``centre``) and multiplied by ``scale``,
    the power of two that brings the largest centred magnitude into [0.5, 1), so
    float32 neither overflows nor loses small values to subnormals. ``factor`` is the
    (d + 1, r) float32 right factor of the screen: the columns ``-2 r`` (r so centred,
    scaled and rounded to float32) above the squared norms ``|r|^2`` (summed in float64
    from the float32 values), so one product with the queries' rows ``(q, 1)`` gives
    ``|r|^2 - 2 q.r``. ``norm_max`` is the largest squared norm. ``transposed`` is the
    features as they came, transposed (contiguous), for the exact distances.
    """

    centre: np.ndarray
    scale: float
    factor: np.ndarray
    norm_max: float
    transposed: np.ndarray

    @classmethod
    def of(cls, ref_x: np.ndarray) -> _CentredReferences:
        centre = ref_x.mean(axis=0)
        centred = ref_x - centre
        largest = float(np.abs(centred).max())
        # frexp: largest = m 2**e with m in [0.5, 1); 2**-e is exact.
        scale = math.ldexp(1.0, -math.frexp(largest)[1]) if largest > 0 else 1.0
        centred *= scale
        scaled = centred.astype(np.float32)
        wide = scaled.astype(np.float64)
        norm = np.einsum("ij,ij->i", wide, wide)
        factor = np.empty((ref_x.shape[1] + 1, len(ref_x)), np.float32)
        factor[:-1] = scaled.T
        factor[:-1] *= -2.0
        factor[-1] = norm
        return cls(centre, scale, factor, float(norm.max()), np.ascontiguousarray(ref_x.T))


def _screened_smallest(
    query_x: np.ndarray,
    refs: _CentredReferences,
    own: np.ndarray,
    keep: int,
    limits: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions and distances of each query's ``keep`` nearest references, screened.

    The same result as :func:`neighbor_distances` then :func:`_smallest` (distances
    bit for bit, ties by position), with a float32 matrix product doing the bulk. For
    rows centred on the references' mean (and scaled, :class:`_CentredReferences`),
    the screened value ``|r|^2 - 2 q.r`` is the squared distance less ``|q|^2``, a
    constant of the query's row, exact to within ``slack`` (a bound of the rounding
    to float32 of the rows, of the product and of the norms, several times over). So
    a reference whose screened value exceeds the query's ``keep``-th smallest
    screened value by more than twice the slack cannot be among the ``keep`` nearest
    by exact distance, nor tie with the last of them. Only the
    remaining candidates (a few more than ``keep`` per query) get exact distances,
    summed feature by feature as :func:`neighbor_distances` does. ``own`` is each
    query's own position among the references (-1: none); each query needs at least
    ``keep`` references other than itself. ``limits`` (each query's largest distance
    still wanted, +inf: any) bound the screen as the sample's ``keep``-th value does,
    the tighter of the two where both are known; references beyond a limit may be
    missing from the result (slots of +inf).
    """
    dimension = query_x.shape[1]
    q = query_x - refs.centre
    q *= refs.scale
    q_norm = np.einsum("ij,ij->i", q, q)
    left = np.empty((len(q), dimension + 1), np.float32)
    left[:, :-1] = q
    left[:, -1] = 1.0
    screened = left @ refs.factor
    _exclude_itself(screened, own)
    reach = np.sqrt(q_norm) + np.sqrt(refs.norm_max)
    slack = (8 * dimension + 32) * float(np.finfo(np.float32).eps) * reach * reach
    # A query's limit, as a screened value (scaled by a power of two: exact).
    bound = np.full(len(q), np.inf)
    if limits is not None:
        known = np.isfinite(limits)
        scaled_limits = limits[known] * refs.scale
        bound[known] = scaled_limits * scaled_limits - q_norm[known]
    # Any keep references bound the keep-th smallest value: those of a strided
    # sample of the columns (the sample's bound lets about r / sample_size times keep
    # candidates through, each cheap to check). A limit from the lists of earlier
    # tables is far tighter, so the sample is only drawn while some query has none.
    if not np.isfinite(bound).all():
        stride = max(1, screened.shape[1] // (_SCREEN_SAMPLE_PER_NEIGHBOR * keep))
        sample = screened[:, ::stride]
        np.minimum(bound, np.partition(sample, keep - 1, axis=1)[:, keep - 1], out=bound)
    # Relative margin, on the squared distance (bound + |q|^2): distinct squares may
    # round to the same distance after sqrt.
    bound = bound + 2 * slack + 4 * np.finfo(np.float64).eps * (np.abs(bound) + q_norm)
    # Compared in float32, each bound rounded up so no candidate it admits is lost.
    low = float32_at_least(bound)
    # The flat positions, split into (row, column): faster than a 2-D nonzero.
    n_refs = screened.shape[1]
    flat = np.flatnonzero(screened <= low[:, None])
    del screened
    rows = flat // n_refs
    cols = flat - rows * n_refs
    squared = np.zeros(len(rows), np.float64)
    term = np.empty_like(squared)
    # One feature at a time from contiguous rows (np.take: faster than fancy indexing).
    query_t = np.ascontiguousarray(query_x.T)
    for j in range(dimension):
        np.subtract(refs.transposed[j].take(cols), query_t[j].take(rows), out=term)
        term *= term
        squared += term
    # Each query's candidates in a row of their own, in reference order (nonzero's),
    # so the selection's ties by position are ties by reference position.
    counts = np.bincount(rows, minlength=len(query_x))
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    # At least keep slots: under a limit a query may have fewer candidates.
    exact = np.full((len(query_x), max(keep, int(counts.max()))), np.inf)
    exact[rows, slot] = np.sqrt(squared, out=squared)
    candidate = np.zeros(exact.shape, np.int64)
    candidate[rows, slot] = cols
    chosen = _smallest(exact, keep)
    return (
        np.take_along_axis(candidate, chosen, axis=1),
        np.take_along_axis(exact, chosen, axis=1),
    )


def block_top_k(
    query_class: np.ndarray,
    query_idx: np.ndarray,
    query_x: np.ndarray,
    ref_class: np.ndarray,
    ref_idx: np.ndarray,
    ref_x: np.ndarray,
    k: int,
    *,
    refs_sorted: bool = False,
    limits: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's k nearest references, itself excluded.

    Parameters
    ----------
    query_class, query_idx : ndarray (q,) of int
        The queries' keys.
    query_x : ndarray (q, d)
        Their features.
    ref_class, ref_idx : ndarray (r,) of int
        The references' keys, unique; a reference with the query's key is the query
        itself and never its neighbour (exact duplicates of it are).
    ref_x : ndarray (r, d)
        Their features.
    k : int
        Neighbours wanted.
    refs_sorted : bool
        The references already come in (class, index) order (they are not sorted).
    limits : ndarray (q,), optional
        Each query's largest distance still wanted (+inf: any), such as the k-th
        distance of the list its result will be merged with: farther references may
        be left out, which changes nothing once merged (they rank after every entry
        of that list) and spares their exact distances.

    Returns
    -------
    (classes, indices, distances) : ndarray (q, k)
        Nearest first, ties by (class, index); slots beyond the available references
        (or a query's limit) hold ``PAD`` and ``inf``.

    """
    n_query = len(query_x)
    classes = np.full((n_query, k), PAD, np.int32)
    indices = np.full((n_query, k), PAD, np.int64)
    distances = np.full((n_query, k), np.inf, np.float64)
    if n_query == 0 or len(ref_x) == 0:
        return classes, indices, distances
    if not refs_sorted:
        by_key = np.lexsort((ref_idx, ref_class))
        ref_class, ref_idx, ref_x = ref_class[by_key], ref_idx[by_key], ref_x[by_key]
    keep = min(k, len(ref_x))
    screened = len(ref_x) > keep + 1 and query_x.shape[1] > 1 and n_query >= _SCREEN_MIN_QUERIES
    per_query = len(ref_x) * (2 if screened else 1)
    rows_per_block = max(1, _DISTANCE_BLOCK_VALUES // per_query)
    refs = _CentredReferences.of(ref_x) if screened else None
    own = _own_positions(query_class, query_idx, ref_class, ref_idx)
    for start in range(0, n_query, rows_per_block):
        stop = min(n_query, start + rows_per_block)
        limit = None if limits is None else limits[start:stop]
        if refs is not None:
            positions, best = _screened_smallest(
                query_x[start:stop], refs, own[start:stop], keep, limit
            )
        else:
            dist = neighbor_distances(query_x[start:stop], ref_x)
            _exclude_itself(dist, own[start:stop])
            if limit is not None:
                dist[dist > limit[:, None]] = np.inf
            positions = _smallest(dist, keep)
            best = np.take_along_axis(dist, positions, axis=1)
        found = np.isfinite(best)
        distances[start:stop, :keep] = best
        classes[start:stop, :keep] = np.where(found, ref_class[positions], PAD)
        indices[start:stop, :keep] = np.where(found, ref_idx[positions], PAD)
    return classes, indices, distances


def merge_candidates(
    classes: np.ndarray, indices: np.ndarray, distances: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The k best distinct candidates of each row from several lists side by side.

    Parameters
    ----------
    classes, indices, distances : ndarray (rows, m)
        Candidate lists (e.g. one per LSH table, concatenated), with ``PAD`` slots.
    k : int
        Neighbours wanted.

    Returns
    -------
    (classes, indices, distances) : ndarray (rows, k)
        Ordered by (distance, class, index); a candidate found several times counts
        once (it has the same distance in every list); ``PAD`` where too few.

    """
    order = np.lexsort((indices, classes, distances), axis=1)
    classes = np.take_along_axis(classes, order, axis=1)
    indices = np.take_along_axis(indices, order, axis=1)
    distances = np.take_along_axis(distances, order, axis=1).copy()
    repeat = (classes[:, 1:] == classes[:, :-1]) & (indices[:, 1:] == indices[:, :-1])
    distances[:, 1:][repeat] = np.inf
    empty = ~np.isfinite(distances)
    classes = np.where(empty, PAD, classes)
    indices = np.where(empty, PAD, indices)
    order = np.lexsort((indices, classes, distances), axis=1)[:, :k]
    out = [np.take_along_axis(a, order, axis=1) for a in (classes, indices, distances)]
    width = out[0].shape[1]
    if width < k:
        pads = (PAD, PAD, np.inf)
        out = [
            np.pad(a, ((0, 0), (0, k - width)), constant_values=pad)
            for a, pad in zip(out, pads, strict=True)
        ]
    return out[0].astype(np.int32), out[1].astype(np.int64), out[2]


def merge_runs(
    starts: np.ndarray,
    classes: np.ndarray,
    indices: np.ndarray,
    distances: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the candidate lists of queries whose lists are runs of consecutive rows.

    Parameters
    ----------
    starts : ndarray (q,)
        First row of each query's run, ascending; a run ends where the next begins.
    classes, indices, distances : ndarray (n, m)
        One candidate list per row, ``PAD`` / ``inf`` in empty slots.
    k : int
        Neighbours wanted.

    Returns
    -------
    (classes, indices, distances) : ndarray (q, k)
        Each query's k best distinct candidates, as :func:`merge_candidates` gives them.
        Runs of the same length are merged together, in one vectorised call.

    """
    n, m = classes.shape
    queries = len(starts)
    lengths = np.diff(np.append(starts, n))
    merged_classes = np.full((queries, k), PAD, np.int32)
    merged_indices = np.full((queries, k), PAD, np.int64)
    merged_distances = np.full((queries, k), np.inf)
    for length in np.unique(lengths):
        which = np.flatnonzero(lengths == length)
        rows = starts[which, None] + np.arange(length)
        flat = (len(which), int(length) * m)
        found = merge_candidates(
            classes[rows].reshape(flat),
            indices[rows].reshape(flat),
            distances[rows].reshape(flat),
            k,
        )
        merged_classes[which], merged_indices[which], merged_distances[which] = found
    return merged_classes, merged_indices, merged_distances


def project(x: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """``x @ directions`` summed feature by feature, the same bits for a row in any batch."""
    out = np.zeros((len(x), directions.shape[1]), np.float64)
    for j in range(x.shape[1]):
        out += x[:, j, None] * directions[None, j, :]
    return out


def lsh_codes(
    x: np.ndarray, directions: np.ndarray, shifts: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket codes and split values of rows in every table.

    Parameters
    ----------
    x : ndarray (n, d)
        The rows' features.
    directions : ndarray (d, tables * (m + 1))
        Gaussian directions; table t uses columns ``t (m + 1) ... t (m + 1) + m - 1``
        as its m hashes and the next column as its split direction.
    shifts : ndarray (tables, m)
        Offsets ``b / w``, uniform in [0, 1).
    width : float
        Bucket width ``w``.

    Returns
    -------
    codes : ndarray (n, tables, m) of int64
        ``floor(a.x / w + b / w)``, clipped far outside any real range.
    splits : ndarray (n, tables) of float64
        The split projection, which orders rows inside a bucket.

    """
    tables, m = shifts.shape
    projected = project(x, directions).reshape(len(x), tables, m + 1)
    codes = projected[:, :, :m] / width + shifts[None, :, :]
    np.floor(codes, out=codes)
    np.clip(codes, -(2.0**62), 2.0**62, out=codes)
    return codes.astype(np.int64), np.ascontiguousarray(projected[:, :, m])


@dataclass(frozen=True)
class Chunk:
    """A stretch of one table's sorted rows and the queries it answers.

    ``queries`` are positions (into the chunk's arrays) of the query rows the chunk
    owns; every row of the chunk is a reference.
    """

    classes: np.ndarray
    idx: np.ndarray
    x: np.ndarray
    queries: np.ndarray


@dataclass
class SortedRun:
    """One LSH table's rows in key order, cut into overlapping chunks as they stream in.

    The n rows are cut into chunks ``[j s, j s + 2 s)`` (the last one runs to n),
    ``s = step``; a row at rank r is a query of the one chunk in which it lies in the
    central half, ``clip((2 r - s) // (2 s), 0, last)``, so it sees at least ``s / 2``
    rows on each side (or the run's end). Every chunk holds more than ``s`` rows (or
    the whole run), and at most ``2 s``: a bucket larger than that is split along the
    split direction whatever its duplicates, and a small bucket is searched with its
    neighbours in key order. At most one chunk and one batch are held at a time.

    Chunks without a query row are skipped: they need no distance.
    """

    step: int
    dimension: int
    seen: int = 0
    first: int = 0
    next_chunk: int = 0
    _classes: np.ndarray = field(default_factory=lambda: np.empty(0, np.int32))
    _idx: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    _x: np.ndarray | None = None
    _query: np.ndarray = field(default_factory=lambda: np.empty(0, bool))

    def add(
        self, classes: np.ndarray, idx: np.ndarray, x: np.ndarray, query: np.ndarray
    ) -> list[Chunk]:
        """Take the next rows in key order; return the chunks now complete."""
        self._classes = np.concatenate([self._classes, classes.astype(np.int32)])
        self._idx = np.concatenate([self._idx, idx.astype(np.int64)])
        held = np.empty((0, self.dimension)) if self._x is None else self._x
        self._x = np.concatenate([held, x])
        self._query = np.concatenate([self._query, query.astype(bool)])
        self.seen += len(idx)
        done = []
        # Chunk j is not the run's last once more than (j + 2) * step rows have come.
        while self.seen > (self.next_chunk + 2) * self.step:
            done.append(self._cut(self.next_chunk, last=False))
            self.next_chunk += 1
            self._drop_before(self.next_chunk * self.step)
        return [chunk for chunk in done if len(chunk.queries)]

    def finish(self) -> list[Chunk]:
        """The run has ended: return its remaining chunks."""
        if self.seen == 0:
            return []
        if self.seen <= 2 * self.step:
            chunks = [self._cut(0, last=True)]
        else:
            last = -(-self.seen // self.step) - 2
            chunks = [self._cut(j, last=j == last) for j in range(self.next_chunk, last + 1)]
        return [chunk for chunk in chunks if len(chunk.queries)]

    def _drop_before(self, rank: int) -> None:
        cut = rank - self.first
        self._classes, self._idx = self._classes[cut:], self._idx[cut:]
        self._query = self._query[cut:]
        assert self._x is not None
        self._x = self._x[cut:]
        self.first = rank

    def _cut(self, j: int, *, last: bool) -> Chunk:
        step = self.step
        lo = j * step
        hi = self.seen if last else lo + 2 * step
        ranks = np.arange(lo, hi)
        if self.seen <= 2 * step:
            owner = np.zeros(len(ranks), np.int64)
        else:
            final = -(-self.seen // step) - 2
            owner = np.clip((2 * ranks - step) // (2 * step), 0, final)
        start, stop = lo - self.first, hi - self.first
        query = self._query[start:stop] & (owner == j)
        assert self._x is not None
        return Chunk(
            self._classes[start:stop],
            self._idx[start:stop],
            self._x[start:stop],
            np.flatnonzero(query),
        )


def recall_at_k(found_distances: np.ndarray, true_distances: np.ndarray) -> float:
    """Recall@k of a search: the share of the true k nearest it found.

    A found neighbour counts when its distance is at most the query's true k-th
    distance (distances are exact in both searches, so ties at the k-th distance are
    interchangeable); each query contributes at most k.

    Parameters
    ----------
    found_distances, true_distances : ndarray (q, k)
        Distances of the found and of the true neighbours, nearest first.

    """
    if found_distances.size == 0:
        return 1.0
    kth = true_distances[:, -1:]
    return float((found_distances <= kth).sum(axis=1).mean() / true_distances.shape[1])


def matrix_from_list_column(column: pa.Array | pa.ChunkedArray, width: int) -> np.ndarray:
    """An Arrow ``list`` column of rows of ``width`` values as an (n, width) matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(array), width)


def list_column(matrix: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """An (n, m) matrix as an Arrow ``list`` column of n rows of m values."""
    n, m = matrix.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(m))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=value_type))

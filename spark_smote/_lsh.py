"""Phase 4 at scale: k nearest neighbours by LSH ordering with exact refinement.

Same input (the points table of :mod:`spark_smote._keys`) and same output (the
neighbours table of :mod:`spark_smote._neighbors`) as the exact search. Per class:

1. **hash functions**: ``L`` tables, each of ``m`` p-stable hashes
   ``h(x) = floor((a.x + b) / w)`` with Gaussian ``a`` and ``b ~ U[0, w)`` (Datar et
   al. 2004), ANDed into the table's bucket ``(h_1, ..., h_m)``, plus one further
   Gaussian direction ``s`` per table that orders rows inside a bucket;
2. **ordering** (one shuffle): every row is copied once per table
   (``mapInArrow``, numpy) and each (class, table) is sorted by
   ``(h_1, ..., h_m, s.x, index)``: bucket after bucket in lexicographic order of their
   codes, so adjacent buckets are neighbouring cells of the grid;
3. **bounded chunks**: the sorted rows of a (class, table) are cut into overlapping
   chunks of ``bucket_cap`` consecutive rows, stride ``bucket_cap / 2``; every row is the
   query of the one chunk in which it lies in the central half. A bucket larger than
   the cap is thereby split along ``s`` (point 2 of the design: no group grows with
   skew, a million identical rows included), and a bucket smaller than the cap is
   searched together with the adjacent buckets of its table (a multi-probe of the
   neighbouring cells). Every chunk holds at least ``min(n, bucket_cap / 2 + 1)`` rows,
   so every row gets k candidates from every table;
4. **refinement**: per chunk, distances ranked in float32 on centred, scaled features,
   the best ``k + 8`` re-ranked exactly in float64, ties by index;
5. **merge**: the candidates of all tables are merged per row, duplicates removed,
   nearest first, ties by index.

**Whole classes.** A class whose features take at most ``_WHOLE_CLASS_BYTES`` (256 MB)
skips steps 2 and 5 in Spark: a few tasks (at most ``MAX_TASKS_PER_CLASS``) each
receive the whole class, order it in every table with numpy (the same order), cut the
same chunks and rank, with the same function, the queries of their own index groups
(``_QUERY_GROUPS``), then merge each row's lists in place. The neighbours are the
per-table search's, bit for bit, without the L copies, their shuffle and sort, and the
merge shuffle. A class of at most ``_ONE_TASK_TUNING_BYTES`` (64 MB) is tuned by one
job with the class in one task, computing the same statistics with the same
functions; or by no job of its own (:func:`numbered_and_tuned`), when the task that
numbers the class (in place of the keys phase's window) computes them too. A larger
one is tuned like a per-table class.

**Tuning** (two small Spark jobs per call, statistics only reach the driver): a seeded
sample of rows gets its exact k nearest neighbours (each sampled row against its whole
class, in blocks). The median k-th neighbour distance sets two candidate bucket
widths; for each, the rank of every sampled row and of its true neighbours in every
table's order is counted in Spark. Since a row's chunk is a function of its rank and
of the chunk size, the driver then knows exactly which true neighbours the search would
find for the sampled rows with every width, chunk size (``_CAP_CHOICES``) and 1, 2, ...
tables, and picks the cheapest combination that reaches the target recall. The
reported ``estimated_recall`` is that measured sample recall.

All random parameters come from ``numpy_generator(seed, STREAM_LSH, class)``; the
projections are accumulated feature by feature so a row's keys do not depend on the
batch it arrives in, and a chunk's rows are fixed by the sort order. The output is
therefore the same, bit for bit, for any partitioning, row order or shuffle setting.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._errors import InvalidParameterError
from spark_smote._keys import (
    CLASS,
    HASH,
    ID,
    IDX,
    SIZE,
    X,
    class_order,
    deal,
    lookup_side,
    order_ties,
    ordered_bits,
    task_count,
)
from spark_smote._neighbors import (
    NBR,
    NeighborReport,
    block_top_k,
    candidate_distances,
    exact_neighbors,
    list_column,
    matrix_from_list_column,
)
from spark_smote._random import STREAM_LSH, STREAM_SAMPLE, numpy_generator

__all__ = [
    "AUTO_EXACT_MAX_ROWS",
    "MAX_TASKS_PER_CLASS",
    "LSHParams",
    "chunk_top_k",
    "find_neighbors",
    "lsh_neighbors",
    "numbered_and_tuned",
    "sample_exact_neighbors",
    "sample_indices",
    "whole_class_search",
]

logger = logging.getLogger("spark_smote")

# Classes up to this many rows use the exact search under neighbor_search="auto".
AUTO_EXACT_MAX_ROWS = 10_000

_TABLE = "_smote_table"
_KEYS = "_smote_keys"
_XBYTES = "_smote_xbytes"
_KEY = "_smote_key"
_COARSE = "_smote_coarse"
_COARSES = "_smote_coarses"
_CANDIDATES = "_smote_candidates"
_BLOCK = "_smote_sblock"
_ROLE = "_smote_srole"
_KNN = "_smote_knn_dist"
_KNN_IDX = "_smote_knn_idx"
_RANKS = "_smote_ranks"

# Rows per reference block of the sample search and of the rank count (the rank count
# copies its probes to every block, so its blocks are larger).
_SAMPLE_BLOCK_ROWS = 4096
_RANK_BLOCK_ROWS = 16384
# Candidate bucket widths, as multiples of the sample's median k-th neighbour distance;
# the one that reaches the target with the fewest tables wins, the first on a tie (4
# was best or level on every data set measured; 2 never was, see the README).
_WIDTH_FACTORS = (4.0, 8.0)
# Queries ranked together against a chunk: a 64 x cap block stays in cache.
_QUERY_SLICE = 64
# A chunk's queries are ranked in this many fixed groups (by row index modulo it), each
# in its own slices, so a row's float32 ranking never depends on which other queries a
# task holds: the whole-class search (:func:`_class_search_udf`) gives each task whole
# groups and finds bit for bit what the per-table search finds.
_QUERY_GROUPS = 8
# The most tasks a whole-class search gives one class (each answers whole index
# groups). Every task orders the whole class in every table and prepares every chunk,
# about 0.3 us per row and table, against about 5.8 us of ranking per row and table
# shared among the tasks (measured at 1.77M rows, chunks of 4096): with 4 tasks the
# repeated work is a fifth of the ranking; with 8 it was two fifths.
MAX_TASKS_PER_CLASS = 4
# The feature-by-feature projection runs over this many directions at a time, in
# blocks of this many values (directions x rows): 4096 rows of 8 directions.
_PROJECT_DIRECTIONS = 8
_PROJECT_BLOCK_VALUES = 8 * 4096
# Largest chunk ranked on packed (distance, column) integers: the column takes the low
# bits of the float32 distance, and 2**14 rows leave 9 of its 23 fraction bits.
_MAX_PACKED_CHUNK = 1 << 14
# Candidates kept from the float32 ranking for the exact float64 re-ranking. A 2048-row
# chunk leaves 12 fraction bits to the packed distance, so the float32 order is right to
# 2.4e-4 of the distance: a true neighbour is lost only if more than 8 rows tie with it
# that closely, which identical rows do (any of them serves). 8 and 16 gave the same
# 2.88M output and the same recall on every set of jobs/recall_benchmark.py; 8 saves
# 7 % of the search.
_RERANK_MARGIN = 8
# Candidate chunk sizes the tuner chooses from (``bucket_cap``), and the cost of one
# row's copy in one table (hashing, shuffle, sort, merge) in units of candidates ranked
# (about 2.2 ns each): the tuner picks the (width, cap, tables) reaching the target at
# the least ``tables * (cap + this)``. Timing 9 x 2048, 7 x 4096 and 18 x 1024 at 2.88M
# rows (local[2]) gave about 3600; 3000 makes the same choices on every set measured.
_CAP_CHOICES = (1024, 2048, 4096)
_TABLE_ROW_COST = 3000
# The cap when width and tables are both fixed (nothing is sampled to choose one).
_DEFAULT_CAP = 2048
# Bits per bucket code in the coarse sort key (:func:`coarse_keys`).
_COARSE_CODE_BITS = 10
# Rows per task of the merge of the tables' lists.
_MERGE_ROWS_PER_TASK = 20_000
# Classes whose features take up to this many bytes are searched whole
# (:func:`_whole_class_search`): every search task holds the class and answers a share
# of its rows in every table, so no row is copied per table, shuffled, sorted or merged.
# Such a task holds the features once plus one table's keys: about 3x the features
# (measured: 745 MB for the 255 MB class of the 30M benchmark, 444-457 MB for 144 MB
# classes however skewed), under the ~1 GB that Databricks serverless gives a UDF
# process.
_WHOLE_CLASS_BYTES = 256 << 20
# Classes whose features take up to this many bytes (and are searched whole) are also
# tuned, and numbered, in one task (:func:`_whole_tuning_udf`,
# :func:`numbered_and_tuned`), which holds the class in Arrow and numpy at once; larger
# ones are tuned by two jobs over blocks of the class (the same statistics).
_ONE_TASK_TUNING_BYTES = 64 << 20
# Ranking work per task of the whole-class search, in candidate-feature products
# (rows x tables x chunk x (features + 2)): each task also orders the whole class once
# per table, so a task gets at least this much ranking to do. 2 tasks for the 170k x 18
# class (9 tables of 2048), 2-3 for 50k-100k rows of 32-128 features, 1 below 4e10.
_CLASS_SEARCH_WORK_PER_TASK = 40_000_000_000
_PART = "_smote_part"

# What a whole-class search task may hand its result to instead of returning neighbour
# rows: ``emit(class ordinal, features, ids, neighbours)`` with the class's features
# (n, d) and ids (the ``id_col`` values, or None) in index order, and per index the k
# neighbours' indices, nearest first, or -1 for the rows another task answers. It
# returns the task's output batches.
Emit = Callable[[int, np.ndarray, pa.Array | None, np.ndarray], Iterator[pa.RecordBatch]]

# The tuning statistics per sampled row or probe: its exact neighbours' distances and
# indices, and its ranks. Each tuning job returns the fields it computes.
_STAT_FIELDS = {
    CLASS: T.StructField(CLASS, T.IntegerType()),
    IDX: T.StructField(IDX, T.LongType()),
    _KNN: T.StructField(_KNN, T.ArrayType(T.DoubleType())),
    _KNN_IDX: T.StructField(_KNN_IDX, T.ArrayType(T.LongType())),
    _RANKS: T.StructField(_RANKS, T.ArrayType(T.LongType())),
}


def _stat_schema(*names: str) -> T.StructType:
    """The schema of a tuning job's output: class, index and the named statistics."""
    return T.StructType([_STAT_FIELDS[name] for name in (CLASS, IDX, *names)])


def _carried(points: DataFrame) -> list[str]:
    """The points' columns a neighbours table carries: features, and the id if any."""
    return [X, *([ID] if ID in points.schema.names else [])]


@dataclass(frozen=True)
class LSHParams:
    """Parameters of the LSH neighbour search; ``None`` fields are tuned per class.

    Attributes
    ----------
    bucket_width : float, optional
        Width ``w`` of each hash function's buckets, in feature units. Tuned: the better
        of 4 and 8 times the sample's median k-th neighbour distance.
    hashes_per_table : int, default 4
        Hash functions ANDed into one bucket key (``m``).
    tables : int, optional
        Hash tables ORed (``L``). Tuned: the fewest that reach ``target_recall`` on the
        sample (at most ``max_tables``).
    bucket_cap : int, optional
        Rows of one chunk, the most handed to one distance computation; larger
        buckets are split into overlapping chunks. Must be at least ``4 * (k + 1)``
        (odd values are rounded up). Tuned: 1024, 2048 or 4096, whichever reaches the
        target at the least estimated cost (``tables * (bucket_cap + 3000)``).
    target_recall : float, default 0.97
        Recall@k the tuner requires on its sample.
    sample_size : int, default 256
        Query rows per class used for tuning.
    max_tables : int, default 16
        Upper bound on the tuned ``tables``.

    """

    bucket_width: float | None = None
    hashes_per_table: int = 4
    tables: int | None = None
    bucket_cap: int | None = None
    target_recall: float = 0.97
    sample_size: int = 256
    max_tables: int = 16

    @property
    def untuned(self) -> bool:
        """Whether width and tables are both given: nothing is left to tune."""
        return self.bucket_width is not None and self.tables is not None

    @property
    def drawn_tables(self) -> int:
        """The tables whose hash functions are drawn: the given ones, or the most tuned."""
        return self.tables if self.tables is not None else self.max_tables

    def checked(self, k: int) -> LSHParams:
        """Return the parameters after validation against ``k`` (odd caps made even).

        Raises
        ------
        InvalidParameterError
            A value outside its range, naming the field, the value and the fix.

        """
        if self.bucket_width is not None and not (
            math.isfinite(self.bucket_width) and self.bucket_width > 0
        ):
            raise InvalidParameterError(
                f"LSHParams.bucket_width={self.bucket_width!r}: must be a positive finite "
                "number (feature units), or None to tune it from a sample."
            )
        for name in ("hashes_per_table", "tables"):
            value = getattr(self, name)
            if value is None and name == "tables":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidParameterError(
                    f"LSHParams.{name}={value!r}: must be an integer >= 1"
                    + (", or None to tune it." if name == "tables" else "; the default is 4.")
                )
        cap = self.bucket_cap
        if cap is not None and (
            not isinstance(cap, int) or isinstance(cap, bool) or cap < 4 * (k + 1)
        ):
            raise InvalidParameterError(
                f"LSHParams.bucket_cap={cap!r}: must be an integer >= 4 * "
                f"(k_neighbors + 1) = {4 * (k + 1)}, or None to tune it."
            )
        if not 0.0 < self.target_recall < 1.0:
            raise InvalidParameterError(
                f"LSHParams.target_recall={self.target_recall!r}: must lie in (0, 1), e.g. 0.97."
            )
        for name in ("sample_size", "max_tables"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"LSHParams.{name}={value!r}: must be a positive integer."
                )
        return replace(self, bucket_cap=None if cap is None else cap + cap % 2)


@dataclass(frozen=True)
class _ClassHash:
    """The drawn hash functions of one class (immutable numpy arrays).

    ``directions`` has ``max_tables * (m + 1)`` columns: table t uses columns
    ``t * (m + 1) .. t * (m + 1) + m - 1`` as hashes and the next one as its split
    direction. ``shifts`` are the offsets ``b / w``, uniform in [0, 1), so one draw
    serves every candidate width and the first L tables of a draw are a search with L.
    """

    hashes: int
    directions: np.ndarray
    shifts: np.ndarray  # (max_tables, m)

    @property
    def max_tables(self) -> int:
        return int(self.shifts.shape[0])


def _draw_hash(seed: int, ordinal: int, dimension: int, hashes: int, tables: int) -> _ClassHash:
    """Draw the hash functions of one class from its own counter-based stream."""
    generator = numpy_generator(seed, STREAM_LSH, ordinal)
    directions = np.ascontiguousarray(
        generator.standard_normal((tables * (hashes + 1), dimension)).T
    )
    shifts = generator.uniform(0.0, 1.0, (tables, hashes))
    directions.setflags(write=False)
    shifts.setflags(write=False)
    return _ClassHash(hashes, directions, shifts)


def project(x: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """``x @ projections`` accumulated feature by feature (row-wise reproducible).

    A BLAS product may round a row differently depending on the other rows of the
    batch; this sum has the same order for every row, so a row's projection does not
    depend on how the rows were batched.
    """
    n, dimension = x.shape
    width = projections.shape[1]
    # Computed transposed, a few directions at a time over blocks of rows: every
    # operation then runs along a contiguous row of values (2.5x faster than the
    # row-major sum for one table's 5 directions), and only one block of the features
    # is transposed at a time. The sums are the same, in the same order, from 0.
    out = np.zeros((width, n), dtype=np.float64)
    group = min(width, _PROJECT_DIRECTIONS)
    block_rows = max(1, _PROJECT_BLOCK_VALUES // max(group, 1))
    term = np.empty((group, min(n, block_rows)), dtype=np.float64)
    for start in range(0, n, block_rows):
        features = np.ascontiguousarray(x[start : start + block_rows].T)
        for first in range(0, width, _PROJECT_DIRECTIONS):
            directions = projections[:, first : first + _PROJECT_DIRECTIONS]
            block = out[first : first + _PROJECT_DIRECTIONS, start : start + block_rows]
            part = term[: directions.shape[1], : block.shape[1]]
            for j in range(dimension):
                np.multiply(directions[j][:, None], features[j], out=part)
                block += part
    return out.T


def table_projections(x: np.ndarray, spec: _ClassHash, tables: int, first: int = 0) -> np.ndarray:
    """Projections ``(n, tables, m + 1)`` of rows on tables ``first ... first + tables - 1``.

    Each column is summed alone, so its bits do not depend on which tables are
    projected together.
    """
    m = spec.hashes
    projected = project(x, spec.directions[:, first * (m + 1) : (first + tables) * (m + 1)])
    return projected.reshape(len(x), tables, m + 1)


def table_keys(
    projected: np.ndarray, spec: _ClassHash, width: float, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket codes ``(n, tables, m)`` (int64) and split values ``(n, tables)``.

    ``projected`` comes from :func:`table_projections` (with the same ``first``); the
    codes are ``floor(a.x / w + b / w)``, clipped far outside any real range so they
    fit int64.
    """
    m, tables = spec.hashes, projected.shape[1]
    # In place: the same operations as floor(p / w + b), in the same order, without a
    # temporary array per step.
    codes = projected[:, :, :m] / width
    codes += spec.shifts[first : first + tables]
    np.floor(codes, out=codes)
    np.clip(codes, -(2.0**62), 2.0**62, out=codes)
    return codes.astype(np.int64), np.ascontiguousarray(projected[:, :, m])


def table_order(
    x: np.ndarray, idx: np.ndarray, spec: _ClassHash, width: float, table: int
) -> np.ndarray:
    """Positions of a class's rows in one table's search order.

    The order is (codes, split, index), the one Spark's sort gives the per-table
    search (:func:`sort_keys`): codes as signed integers, the split by its
    order-preserving bits (-0.0 before 0.0), the index last.
    """
    codes, splits = table_keys(table_projections(x, spec, 1, table), spec, width, table)
    return key_order(codes[:, 0, :], ordered_bits(splits[:, 0]), idx)


def key_order(codes: np.ndarray, split_bits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The order of rows by (codes, split bits, index): ``np.lexsort``'s, faster.

    The codes, each shifted to start at 0 and given just the bits its range needs,
    and the split's leading bits are packed into one uint64 per row, sorted once;
    only rows whose packed keys tie (equal codes, splits equal in their leading bits)
    are then ordered by their full split and index. When the codes' ranges need more
    than 64 bits the full keys are sorted instead.

    Parameters
    ----------
    codes : ndarray (n, m) of int64
        Bucket codes, most significant first.
    split_bits : ndarray (n,) of uint64
        The split values' order-preserving bits (:func:`ordered_bits`).
    idx : ndarray (n,) of int64
        Row indices, the last key.

    Returns
    -------
    ndarray (n,) of int64
        Positions in key order.

    """
    n, m = codes.shape
    if n == 0:
        return np.empty(0, np.int64)
    key, used = np.zeros(n, np.uint64), 0
    for j in range(m):
        low = int(codes[:, j].min())
        bits = (int(codes[:, j].max()) - low).bit_length()
        if used + bits > 64:
            return np.lexsort([idx, split_bits, *[codes[:, j] for j in reversed(range(m))]])
        if bits:
            # Wrapping int64 subtraction, read as uint64, is the exact offset (< 2**64).
            offset = (codes[:, j] - np.int64(low)).view(np.uint64)
            key = (key << np.uint64(bits)) | offset if used else offset
            used += bits
    rest = 64 - used
    if rest:
        top = split_bits >> np.uint64(64 - rest)
        key = (key << np.uint64(rest)) | top if used else top
    order = np.argsort(key).astype(np.int64, copy=False)
    return order_ties(key, order, lambda rows: [idx[rows], split_bits[rows]])


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
    x: np.ndarray, idx: np.ndarray, queries: np.ndarray, k: int
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

    Returns
    -------
    (neighbors, distances) : ndarray of shape (len(queries), k)
        Indices and exact squared Euclidean distances.

    Notes
    -----
    Distances are ranked in float32 on features centred and scaled by the chunk, 64
    queries at a time so the block stays in cache; the queries are sliced per index
    group (``_QUERY_GROUPS``), so a query's result is the same whether the call holds
    every query of the chunk or only those of its group. One product of augmented matrices
    gives ``|q|^2 - 2 q.r + |r|^2`` directly. The selection then runs on integers: a
    non-negative float32's bits order like its value, so the low bits of each distance
    are replaced by the candidate's column (ties go to the lower column) and
    ``np.partition``, much faster than ``argpartition`` on floats, picks the best
    ``k + 8`` keys (in place), from which the columns are read back. Those are recomputed
    exactly in float64 and re-ranked. A chunk whose values overflow float32, or of
    more than 2**14 rows (too few bits would be left), is searched in float64.

    """
    n = len(x)
    keep = min(n - 1, k + _RERANK_MARGIN)
    centred = x - x.mean(axis=0)
    scale = float(np.max(np.abs(centred))) if centred.size else 0.0
    groups = idx[queries] % _QUERY_GROUPS
    by_group = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[by_group], np.arange(_QUERY_GROUPS + 1))
    restore = np.empty_like(by_group)
    restore[by_group] = np.arange(len(by_group))
    queries = queries[by_group]
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
        # Rounding may leave a duplicate's distance slightly negative: its bits sort
        # before every non-negative value, which is where it belongs.
        packed = approx.view(np.int32)
        packed &= clear
        packed |= columns
        packed.partition(keep - 1, axis=1)
        candidates[start:stop] = packed[:, :keep]
    candidates &= np.int32((1 << bits) - 1)
    exact = candidate_distances(x[queries], x, candidates)
    candidate_idx = idx[candidates]
    order = np.lexsort((candidate_idx, exact), axis=1)[:, :k]
    return (
        np.take_along_axis(candidate_idx, order, axis=1)[restore],
        np.take_along_axis(exact, order, axis=1)[restore],
    )


def binary_rows(x: np.ndarray) -> pa.Array:
    """An (n, w) matrix of 8-byte values as n binary values of 8 w bytes (native order).

    The features (float64) and the candidate lists (indices and distances) cross the
    shuffles this way: a binary value is copied as one block, where an ``array<double>``
    is converted element by element.
    """
    if x.dtype.itemsize != 8:
        raise TypeError(f"binary_rows needs 8-byte values, got {x.dtype}")
    n = len(x)
    width = 8 * x.shape[1]
    data = pa.py_buffer(np.ascontiguousarray(x).tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, data])


def matrix_from_binary_column(
    column: pa.Array | pa.ChunkedArray, dimension: int, dtype: type = np.float64
) -> np.ndarray:
    """Inverse of :func:`binary_rows`: the (n, d) matrix of a binary column."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    if n == 0:
        return np.empty((0, dimension), dtype)
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.view(dtype).reshape(n, dimension)


def candidate_blobs(neighbors: np.ndarray, distances: np.ndarray) -> pa.Array:
    """Each row's k candidate indices then their k distances, as one binary value."""
    return binary_rows(np.hstack([neighbors.astype(np.int64), distances.view(np.int64)]))


def blobs_to_candidates(
    column: pa.Array | pa.ChunkedArray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`candidate_blobs`: (neighbors, distances), each (n, k)."""
    both = matrix_from_binary_column(column, 2 * k, np.int64)
    return both[:, :k], both[:, k:].view(np.float64)


def sort_keys(codes: np.ndarray, splits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Byte strings whose unsigned byte order is the order ``(codes..., split, index)``.

    Parameters
    ----------
    codes : ndarray (n, tables, m) of int64
        Bucket codes of each row in each table.
    splits : ndarray (n, tables) of float64
        Split values (the order inside a bucket).
    idx : ndarray (n,) of int64
        Row indices (the final tie-break).

    Returns
    -------
    ndarray (n, tables, 8 * (m + 2)) of uint8
        Big-endian, sign-flipped integers and order-preserving float bits, so Spark
        sorts the keys as binary (``memcmp``) in the order :func:`np.lexsort` gives.

    """
    n, tables, m = codes.shape
    sign = np.uint64(1 << 63)
    words = np.empty((n, tables, m + 2), np.uint64)
    words[:, :, :m] = codes.view(np.uint64) ^ sign
    words[:, :, m] = ordered_bits(splits)
    words[:, :, m + 1] = (idx.astype(np.int64).view(np.uint64) ^ sign)[:, None]
    return words.astype(">u8").view(np.uint8).reshape(n, tables, 8 * (m + 2))


def coarse_keys(
    codes: np.ndarray, splits: np.ndarray, runs: np.ndarray, run_bits: int
) -> np.ndarray:
    """One int64 per row and table that orders like ``(run, sort key)`` wherever it differs.

    Spark sorts on a leading ``long`` by its value alone (the binary sort key needs a
    byte-wise comparison of every pair), so the search sorts by (coarse key, sort
    key): the coarse key decides almost every comparison and the sort key breaks its
    ties, which keeps the order exactly that of :func:`sort_keys` within a run.

    Parameters
    ----------
    codes : ndarray (n, tables, m) of int64
        Bucket codes.
    splits : ndarray (n, tables) of float64
        Split values.
    runs : ndarray (tables,) of int64
        The run number (class and table) of each table, below ``2**run_bits``.
    run_bits : int
        Bits taken by the run number, at the top.

    Returns
    -------
    ndarray (n, tables) of int64
        Non-negative: the run, then each code in ``_COARSE_CODE_BITS`` bits, then the
        top bits of the split's order-preserving bits. Codes are offset to the middle
        of their field; one outside it takes the field's lowest or highest value and
        zeroes every field after it, so the key never contradicts the full order.

    """
    n, tables, m = codes.shape
    bits = _COARSE_CODE_BITS
    shift = 63 - run_bits
    packed = min(m, shift // bits)
    out = np.broadcast_to(runs.astype(np.int64) << shift, (n, tables)).copy()
    cut = np.zeros((n, tables), dtype=bool)
    top = (1 << bits) - 1
    for j in range(packed):
        shift -= bits
        field = codes[:, :, j] + (1 << (bits - 1))
        low, high = field < 1, field > top - 1
        field = np.where(low, 0, np.where(high, top, field))
        out |= np.where(cut, 0, field) << shift
        cut |= low | high
    if packed == m and shift > 0:
        top_bits = (ordered_bits(splits) >> np.uint64(64 - shift)).astype(np.int64)
        out |= np.where(cut, 0, top_bits)
    return out


def _hash_udf(
    hashes: Mapping[int, _ClassHash],
    widths: Mapping[int, float],
    tables: Mapping[int, int],
    dimension: int,
    output_schema: pa.Schema,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function adding each point's sort keys in every table.

    One output row per point (its L sort keys in one ``array<binary>`` and its L
    coarse keys in one ``array<long>``), so only the points cross from Python to the
    JVM; Spark's ``posexplode`` then makes the L copies. Run numbers follow the class
    ordinals in order, ``max(tables)`` apart.
    """
    stride = max(tables.values(), default=1)
    first_run = {o: rank * stride for rank, o in enumerate(sorted(tables))}
    run_bits = max(1, (len(tables) * stride - 1).bit_length())

    def hash_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            classes = table.column(CLASS).to_numpy()
            for ordinal in np.unique(classes):
                spec, n_tables = hashes[int(ordinal)], tables[int(ordinal)]
                rows = table.filter(pa.array(classes == ordinal))
                n = rows.num_rows
                x = matrix_from_list_column(rows.column(X), dimension)
                projected = table_projections(x, spec, n_tables)
                codes, splits = table_keys(projected, spec, widths[int(ordinal)])
                keys = sort_keys(codes, splits, rows.column(IDX).to_numpy())
                runs = first_run[int(ordinal)] + np.arange(n_tables, dtype=np.int64)
                coarse = coarse_keys(codes, splits, runs, run_bits)
                width = keys.shape[2]
                binary = pa.Array.from_buffers(
                    pa.binary(width), n * n_tables, [None, pa.py_buffer(keys.tobytes())]
                )
                offsets = pa.array(np.arange(n + 1, dtype=np.int32) * n_tables)
                columns = {
                    CLASS: rows.column(CLASS),
                    IDX: rows.column(IDX),
                    _XBYTES: binary_rows(x),
                    _KEYS: pa.ListArray.from_arrays(offsets, binary),
                    _COARSES: pa.ListArray.from_arrays(offsets, pa.array(coarse.ravel())),
                }
                out = pa.table({name: columns[name] for name in output_schema.names})
                yield from out.cast(output_schema).to_batches()

    return hash_rows


def _search_udf(
    k: int,
    dimension: int,
    caps: Mapping[int, int],
    sizes: Mapping[int, int],
    output_schema: pa.Schema,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function that searches the chunks of sorted partitions.

    Its input partitions are sorted by (coarse key, sort key), which is the order
    (class, table, codes, split, index) (see :func:`coarse_keys`), so a (class,
    table) arrives as one run in key order. The function keeps at most one
    chunk plus one batch of the run in memory and solves a chunk as soon as the rows
    after it prove it is not the run's last one (whose end moves with the run length).
    """

    class Run:
        def __init__(self, ordinal: int) -> None:
            self.ordinal = ordinal
            self.n = sizes[ordinal]
            self.step = caps[ordinal] // 2
            self.seen = 0  # rows of the run received so far
            self.first = 0  # rank of the first buffered row
            self.chunk = 0  # next chunk to solve
            self.idx = np.empty(0, np.int64)
            self.x = np.empty((0, dimension), np.float64)

        def add(self, idx: np.ndarray, x: np.ndarray) -> list[pa.RecordBatch]:
            self.idx = np.concatenate([self.idx, idx])
            self.x = np.concatenate([self.x, x])
            self.seen += len(idx)
            solved = []
            # Chunk j is not the last one once the run is longer than (j + 2) * step.
            while self.n > 2 * self.step and self.seen > (self.chunk + 2) * self.step:
                solved.append(self.solve(self.chunk, -(-self.n // self.step) - 2))
                self.chunk += 1
                self.drop_before(self.chunk * self.step)
            return solved

        def finish(self) -> list[pa.RecordBatch]:
            if self.seen != self.n:
                raise RuntimeError(
                    f"spark_smote LSH: class ordinal {self.ordinal} sent {self.seen} rows to "
                    f"one table instead of {self.n}; this is a bug, please report it."
                )
            if self.n <= 2 * self.step:
                return [self.solve(0, 0)]
            last = -(-self.n // self.step) - 2
            return [self.solve(j, last) for j in range(self.chunk, last + 1)]

        def drop_before(self, rank: int) -> None:
            cut = rank - self.first
            self.idx, self.x = self.idx[cut:], self.x[cut:]
            self.first = rank

        def solve(self, j: int, last: int) -> pa.RecordBatch:
            """Search chunk j (of a run whose last chunk is ``last``) for its queries."""
            step = self.step
            lo = j * step - self.first
            hi = self.n - self.first if j == last else lo + 2 * step
            ranks = np.arange(lo, hi) + self.first
            lows, _ = chunk_ranges(ranks, self.n, step)
            queries = np.flatnonzero(lows == j * step) if self.n > 2 * step else np.arange(hi - lo)
            idx, x = self.idx[lo:hi], self.x[lo:hi]
            neighbors, distances = chunk_top_k(x, idx, queries, k)
            columns = {
                CLASS: pa.array(np.full(len(queries), self.ordinal, np.int32)),
                IDX: pa.array(idx[queries]),
                _CANDIDATES: candidate_blobs(neighbors, distances),
            }
            table = pa.table({name: columns[name] for name in output_schema.names})
            return table.cast(output_schema).combine_chunks().to_batches()[0]

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        run: Run | None = None
        key: tuple[int, int] | None = None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            classes = batch.column(CLASS).to_numpy()
            tables = batch.column(_TABLE).to_numpy()
            change = np.flatnonzero((classes[1:] != classes[:-1]) | (tables[1:] != tables[:-1]))
            starts = np.concatenate([[0], change + 1])
            ends = np.append(starts[1:], batch.num_rows)
            idx = batch.column(IDX).to_numpy()
            x = matrix_from_binary_column(batch.column(_XBYTES), dimension)
            for lo, hi in zip(starts, ends, strict=True):
                segment = (int(classes[lo]), int(tables[lo]))
                if segment != key:
                    if run is not None:
                        yield from run.finish()
                    run, key = Run(segment[0]), segment
                assert run is not None
                yield from run.add(idx[lo:hi], x[lo:hi])
        if run is not None:
            yield from run.finish()

    return search


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


def _merge_udf(
    k: int, tables: Mapping[int, int], output_schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function merging the tables' lists of each row.

    Its input partitions are sorted by (index, class), so the L lists of a row are
    consecutive (the index leads: Spark then compares a long, not the pair); a row
    cut by a batch boundary is completed from the next batch.
    """

    def merge_rows(table: pa.Table) -> pa.Table:
        classes = table.column(CLASS).to_numpy()
        ordinals = np.unique(classes)
        parts = []
        for ordinal in ordinals:
            rows = table.filter(pa.array(classes == ordinal)) if len(ordinals) > 1 else table
            n_tables = tables[int(ordinal)]
            if rows.num_rows % n_tables:
                raise RuntimeError(
                    f"spark_smote LSH: class ordinal {int(ordinal)} has a row without one "
                    f"candidate list per table ({n_tables}); this is a bug, please report it."
                )
            n = rows.num_rows // n_tables
            nbr, dist = blobs_to_candidates(rows.column(_CANDIDATES), k)
            nbr, dist = nbr.reshape(n, n_tables * k), dist.reshape(n, n_tables * k)
            first = rows.take(pa.array(np.arange(n) * n_tables))
            parts.append(
                pa.table(
                    {
                        CLASS: first.column(CLASS),
                        IDX: first.column(IDX),
                        NBR: list_column(merge_tables(nbr, dist, k), pa.int64()),
                    }
                ).cast(output_schema)
            )
        return pa.concat_tables(parts)

    def merge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending: pa.Table | None = None
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if pending is not None:
                table = pa.concat_tables([pending, table])
            if table.num_rows == 0:
                continue
            classes = table.column(CLASS).to_numpy()
            idx = table.column(IDX).to_numpy()
            same = (classes == classes[-1]) & (idx == idx[-1])
            last = int(np.argmax(same))
            pending = table.slice(last)
            if last:
                yield from merge_rows(table.slice(0, last)).to_batches()
        if pending is not None and pending.num_rows:
            yield from merge_rows(pending).to_batches()

    return merge


class _HeldClass:
    """One whole class as a search task receives it: features placed by index.

    Each Arrow batch's features are copied to their rows (the index is dense, 0 ...
    n - 1) and the batch is let go, so a task holds the class's features once, in
    index order, and not the batches they came in.
    """

    def __init__(self, n: int, dimension: int) -> None:
        self.x = np.empty((n, dimension), np.float64)
        self.seen = np.zeros(n, bool)
        self.ids: list[tuple[np.ndarray, pa.Array]] = []

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        idx = batch.column(IDX).to_numpy()
        features, dimension = batch.column(X), self.x.shape[1]
        if pa.types.is_binary(features.type):  # from numbered_and_tuned
            self.x[idx] = matrix_from_binary_column(features, dimension)
        else:
            self.x[idx] = matrix_from_list_column(features, dimension)
        self.seen[idx] = True
        if ID in batch.schema.names:
            column = batch.column(ID)
            self.ids.append(
                (idx, column if isinstance(column, pa.Array) else column.combine_chunks())
            )

    def ids_by_index(self) -> pa.Array | None:
        """The rows' ids in index order, or None without an id column."""
        if not self.ids:
            return None
        idx = np.concatenate([i for i, _ in self.ids])
        ids = pa.concat_arrays([a for _, a in self.ids])
        return ids.take(pa.array(np.argsort(idx)))


def _class_search_udf(
    k: int,
    dimension: int,
    hashes: Mapping[int, _ClassHash],
    tunings: Mapping[int, _Tuning],
    sizes: Mapping[int, int],
    parts: int,
    output_schema: pa.Schema,
    emit: Emit | None = None,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function searching whole classes, one share per task.

    Each task receives every row of a class (its partition holds one (class, part)
    group) and answers the queries of the index groups ``g`` with
    ``g % parts == part``: in each table it orders the class, cuts the same chunks
    as the per-table search and ranks its queries there with :func:`chunk_top_k`,
    merging each table's lists into the running k nearest (:func:`nearest_distinct`).
    A query's result is therefore the per-table search's, bit for bit, whatever
    ``parts``. The task holds the class's features once (:class:`_HeldClass`), one
    table's keys at a time and two k-wide lists per answered row. It returns the
    answered rows of the neighbours table, or, with ``emit``, whatever ``emit`` makes
    of the class and the answered rows' neighbours (see :data:`Emit`).
    """
    x_type = output_schema.field(X).type if X in output_schema.names else None

    def search_group(ordinal: int, part: int, held: _HeldClass) -> Iterator[pa.RecordBatch]:
        spec, tuning = hashes[ordinal], tunings[ordinal]
        x = held.x
        n = len(x)
        if not held.seen.all():
            raise RuntimeError(
                f"spark_smote LSH: a search task got {int(held.seen.sum())} of the {n} rows "
                f"of class ordinal {ordinal}; this is a bug, please report it."
            )
        idx = np.arange(n, dtype=np.int64)
        mine = np.flatnonzero(idx % _QUERY_GROUPS % parts == part)
        slot = np.full(n, -1, np.int64)
        slot[mine] = np.arange(len(mine))
        # Each table's lists go into the running k nearest (2k columns at most).
        neighbors = np.empty((len(mine), 2 * k), np.int64)
        distances = np.empty((len(mine), 2 * k), np.float64)
        lows, highs = chunk_ranges(idx, n, tuning.cap // 2)
        starts = np.flatnonzero(np.concatenate([[True], lows[1:] != lows[:-1]]))
        ends = np.append(starts[1:], n)
        for table in range(tuning.tables):
            order = table_order(x, idx, spec, tuning.width, table)
            is_mine = slot[order] >= 0
            columns = slice(k, 2 * k) if table else slice(0, k)
            for start, end in zip(starts, ends, strict=True):
                lo, hi = int(lows[start]), int(highs[start])
                queries = np.flatnonzero(is_mine[start:end]) + (start - lo)
                if queries.size:
                    rows = order[lo:hi]
                    found, dist = chunk_top_k(x[rows], rows, queries, k)
                    at = slot[rows[queries]]
                    neighbors[at, columns], distances[at, columns] = found, dist
            if table:
                neighbors[:, :k], distances[:, :k] = nearest_distinct(neighbors, distances, k)
        del slot, distances
        ids = held.ids_by_index()
        if emit is not None:
            answered_lists = np.full((n, k), -1, np.int64)
            answered_lists[mine] = neighbors[:, :k]
            del neighbors
            yield from emit(ordinal, x, ids, answered_lists)
            return
        if x_type is not None and pa.types.is_binary(x_type):
            features = binary_rows(x[mine])
        else:
            features = list_column(x[mine], pa.float64())
        columns_out = {
            CLASS: pa.array(np.full(len(mine), ordinal, np.int32)),
            IDX: pa.array(mine),
            X: features,
            ID: ids.take(pa.array(mine)) if ids is not None else None,
            NBR: list_column(neighbors[:, :k], pa.int64()),
        }
        table_out = pa.table({name: columns_out[name] for name in output_schema.names})
        yield from table_out.cast(output_schema).to_batches()

    def search(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        held: dict[int, _HeldClass] = {}
        for batch in batches:
            if not batch.num_rows:
                continue
            keys = (
                batch.column(CLASS).to_numpy().astype(np.int64) * parts
                + batch.column(_PART).to_numpy()
            )
            distinct = np.unique(keys)
            for key in distinct.tolist():
                if key not in held:
                    held[key] = _HeldClass(sizes[key // parts], dimension)
                rows = batch if len(distinct) == 1 else batch.filter(pa.array(keys == key))
                held[key].add(rows)
        for key in sorted(held):
            yield from search_group(key // parts, key % parts, held.pop(key))

    return search


def sample_indices(
    sizes: Mapping[int, int], sample_size: int, seed: int, purpose: int
) -> dict[int, list[int]]:
    """Seeded sample of row indices per class (indices only; no data rows)."""
    chosen: dict[int, list[int]] = {}
    for ordinal, size in sorted(sizes.items()):
        generator = numpy_generator(seed, STREAM_SAMPLE, ordinal, purpose)
        count = min(sample_size, size)
        chosen[ordinal] = sorted(int(i) for i in generator.choice(size, count, replace=False))
    return chosen


def _sample_condition(indices: Mapping[int, list[int]]) -> Any:
    """``class = o AND idx IN (...)`` for every class, as one SQL expression.

    One parsed expression instead of a literal Column per index (a py4j round trip
    each in a classic session: half a second for 1,500 indices).
    """
    terms = [
        f"({CLASS} = {int(ordinal)} AND {IDX} IN ({', '.join(str(int(i)) for i in rows)}))"
        for ordinal, rows in indices.items()
        if rows
    ]
    return F.expr(" OR ".join(terms)) if terms else F.lit(False)


def _blocks_with_sample(
    points: DataFrame, indices: Mapping[int, list[int]], block_rows: int
) -> DataFrame:
    """The rows in blocks of ``block_rows`` indices, with the sample copied to each block.

    Every row appears once with role 1 in its block; each sampled row appears again with
    role 0 in every block of its class, so a (class, block) group holds one block and
    the sample, whatever the class size or skew.
    """
    references = points.select(
        CLASS,
        IDX,
        X,
        F.floor(F.col(IDX) / F.lit(block_rows)).cast("long").alias(_BLOCK),
        F.lit(1).alias(_ROLE),
    )
    n_blocks = F.ceil(F.col(SIZE) / F.lit(block_rows)).cast("long")
    sampled = points.filter(_sample_condition(indices)).select(
        CLASS,
        IDX,
        X,
        F.explode(F.sequence(F.lit(0).cast("long"), n_blocks - F.lit(1))).alias(_BLOCK),
        F.lit(0).alias(_ROLE),
    )
    return sampled.unionByName(references)


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
    keep = min(k + 8, n_ref)
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


def _sample_udf(k: int, dimension: int, output_schema: pa.Schema) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF comparing the sample queries with one reference block."""

    def compare_block(group: pa.Table) -> pa.Table:
        group = group.take(
            pa.compute.sort_indices(group, [(_ROLE, "ascending"), (IDX, "ascending")])
        )
        roles = group.column(_ROLE).to_numpy()
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension)
        is_query = roles == 0
        best, best_idx = sample_block_neighbors(
            x[is_query], idx[is_query], x[~is_query], idx[~is_query], k
        )
        queries = group.filter(pa.array(is_query))
        return pa.table(
            {
                CLASS: queries.column(CLASS),
                IDX: queries.column(IDX),
                _KNN: list_column(best, pa.float64()),
                _KNN_IDX: list_column(best_idx, pa.int64()),
            }
        ).cast(output_schema)

    return compare_block


def sample_exact_neighbors(
    points: DataFrame, indices: Mapping[int, list[int]], k: int, dimension: int
) -> DataFrame:
    """Exact k nearest distances and indices of sampled rows against their class.

    Parameters
    ----------
    points : DataFrame
        The points table.
    indices : mapping
        Sampled row indices per class ordinal (from :func:`sample_indices`).
    k : int
        Neighbours per query.
    dimension : int
        Features per row.

    Returns
    -------
    DataFrame
        One row per sampled query: class, index, ``_smote_knn_dist`` (k nearest
        Euclidean distances, ascending) and ``_smote_knn_idx`` (their indices,
        ties by index). Lazy; small enough to collect.

    Notes
    -----
    Each sampled query is copied to every reference block of its class; a group holds
    one block (4096 rows) and the sample, whatever the class size or skew.

    """
    schema = _stat_schema(_KNN, _KNN_IDX)
    udf = _sample_udf(k, dimension, to_arrow_schema(schema))
    blocks = _blocks_with_sample(points, indices, _SAMPLE_BLOCK_ROWS)
    partial = blocks.groupBy(_BLOCK, CLASS).applyInArrow(udf, schema)
    pairs = F.flatten(
        F.collect_list(F.arrays_zip(F.col(_KNN).alias("d"), F.col(_KNN_IDX).alias("n")))
    )
    best = F.slice(F.array_sort(pairs), 1, k)
    return partial.groupBy(CLASS, IDX).agg(
        F.transform(best, lambda s: s["d"]).alias(_KNN),
        F.transform(best, lambda s: s["n"]).alias(_KNN_IDX),
    )


def refs_before(
    coarse: np.ndarray,
    codes: np.ndarray,
    splits: np.ndarray,
    idx: np.ndarray,
    is_ref: np.ndarray,
    n_probe: int,
) -> np.ndarray:
    """For each probe row, the reference rows before it in one table's order.

    Parameters
    ----------
    coarse : ndarray (n,) of int64
        The rows' coarse keys (:func:`coarse_keys`) in this table.
    codes, splits : ndarray (n, m) and (n,)
        Their bucket codes and split values: the full order is (codes, split, index).
    idx : ndarray (n,) of int64
        Row indices.
    is_ref : ndarray (n,) of bool
        Reference rows; the first ``n_probe`` rows are the probes (none of them a
        reference). A probe's own reference copy, with the same key, is not before it.
    n_probe : int
        Number of probes.

    Returns
    -------
    ndarray (n_probe,) of int64

    Notes
    -----
    The references' coarse keys are sorted once and each probe is placed by binary
    search; only the probes that share a coarse key with some reference (their own
    copy, or a rare tie) are placed among those references by the full order.

    """
    ref_rows = np.flatnonzero(is_ref)
    by_key = np.argsort(coarse[ref_rows])
    refs = coarse[ref_rows[by_key]]
    probes = coarse[:n_probe]
    before = np.searchsorted(refs, probes, side="left")
    after = np.searchsorted(refs, probes, side="right")
    tied = np.flatnonzero(after > before)
    if not tied.size:
        return before
    # The references sharing a tied probe's key: each key's run of sorted references once.
    starts, first = np.unique(before[tied], return_index=True)
    lengths = after[tied][first] - starts
    runs = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
    rows = np.concatenate([tied, ref_rows[by_key[runs]]])
    full = [idx[rows], splits[rows], *[codes[rows, j] for j in reversed(range(codes.shape[1]))]]
    ordered = rows[np.lexsort([*full, coarse[rows]])]  # stable: a probe before its copy
    ref_flags = is_ref[ordered].astype(np.int64)
    refs_so_far = np.cumsum(ref_flags) - ref_flags
    values = coarse[ordered]
    new_group = np.concatenate([[True], values[1:] != values[:-1]])
    in_group = refs_so_far - refs_so_far[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    is_probe = ~is_ref[ordered]
    before[ordered[is_probe]] += in_group[is_probe]
    return before


def probe_ranks(
    x: np.ndarray,
    idx: np.ndarray,
    is_ref: np.ndarray,
    spec: _ClassHash,
    widths: list[float],
    tables: Sequence[int] | None = None,
) -> np.ndarray:
    """Reference rows before each probe row in every (width, table) order.

    Parameters
    ----------
    x, idx : ndarray (n, d) and (n,)
        Probe rows first, then reference rows (a probe may also be a reference).
    is_ref : ndarray (n,) of bool
        False for the probes, True for the references.
    spec : _ClassHash
        The class's hash functions.
    widths : list of float
        Candidate bucket widths.
    tables : sequence of int, optional
        The tables counted (default: all of ``spec``'s).

    Returns
    -------
    ndarray (probes, len(widths) * len(tables)) of int64
        Column ``c * len(tables) + i`` counts, for width c and the i-th table.

    """
    n_probe = int((~is_ref).sum())
    counted = list(range(spec.max_tables)) if tables is None else list(tables)
    counts = np.zeros((n_probe, len(widths) * len(counted)), np.int64)
    for i, table in enumerate(counted):
        projected = table_projections(x, spec, 1, table)
        for c, width in enumerate(widths):
            codes, splits = table_keys(projected, spec, width, table)
            coarse = coarse_keys(codes, splits, np.zeros(1, np.int64), 1)
            counts[:, c * len(counted) + i] = refs_before(
                coarse[:, 0], codes[:, 0], splits[:, 0], idx, is_ref, n_probe
            )
    return counts


def _rank_udf(
    hashes: Mapping[int, _ClassHash],
    widths: Mapping[int, list[float]],
    dimension: int,
    output_schema: pa.Schema,
) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF counting, per probe row, the block's rows before it in each order."""

    def count_block(group: pa.Table) -> pa.Table:
        roles = group.column(_ROLE).to_numpy()
        ordinal = int(group.column(CLASS)[0].as_py())
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension)
        # Probes first: a probe's own reference copy (same key) then sorts after it.
        order_in = np.argsort(roles, kind="stable")
        is_ref = roles[order_in] == 1
        counts = probe_ranks(x[order_in], idx[order_in], is_ref, hashes[ordinal], widths[ordinal])
        probes = group.take(pa.array(order_in[: len(counts)]))
        return pa.table(
            {
                CLASS: probes.column(CLASS),
                IDX: probes.column(IDX),
                _RANKS: list_column(counts, pa.int64()),
            }
        ).cast(output_schema)

    return count_block


def _sample_ranks(
    points: DataFrame,
    hashes: Mapping[int, _ClassHash],
    widths: Mapping[int, list[float]],
    truth: Mapping[int, dict[int, list[int]]],
    dimension: int,
) -> dict[int, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Ranks of the sampled rows and of their true neighbours in every candidate order.

    Returns, per class and sampled row, (its ranks, ranks of its true neighbours), one
    column per (candidate width, table). Only ranks (counts) reach the driver: one row
    per sampled row or true neighbour, at most ``(k + 1) * sample_size`` per class.
    """
    probe_indices = {
        o: sorted(set(rows) | {v for nbrs in rows.values() for v in nbrs})
        for o, rows in truth.items()
    }
    schema = _stat_schema(_RANKS)
    udf = _rank_udf(hashes, widths, dimension, to_arrow_schema(schema))
    blocks = _blocks_with_sample(points, probe_indices, _RANK_BLOCK_ROWS)
    partial = blocks.groupBy(_BLOCK, CLASS).applyInArrow(udf, schema)
    columns = len(next(iter(widths.values()))) * next(iter(hashes.values())).max_tables
    zero = F.array_repeat(F.lit(0).cast("long"), columns)
    summed = partial.groupBy(CLASS, IDX).agg(
        F.aggregate(
            F.collect_list(_RANKS), zero, lambda acc, r: F.zip_with(acc, r, lambda a, b: a + b)
        ).alias(_RANKS)
    )
    return _ranks_by_query(summed.collect(), truth)


def _ranks_by_query(
    rows: list[Any], truth: Mapping[int, dict[int, list[int]]]
) -> dict[int, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Per class and sampled row: (its ranks, its true neighbours' ranks), from probe rows."""
    ranks = {(int(r[CLASS]), int(r[IDX])): r[_RANKS] for r in rows}
    out: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {o: {} for o in truth}
    for ordinal, sampled in truth.items():
        for query, nbrs in sampled.items():
            found = np.array([ranks[ordinal, v] for v in [query, *nbrs]], dtype=np.int64)
            out[ordinal][query] = (found[0], found[1:])
    return out


def _class_statistics(
    x: np.ndarray,
    sample: np.ndarray,
    k: int,
    spec: _ClassHash,
    bucket_width: float | None,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Both tuning statistics of one whole class, its rows ``x`` in index order.

    The same numbers as the two tuning jobs (:func:`sample_exact_neighbors`, then
    :func:`_sample_ranks`), from the same functions: the sample against the class in
    blocks of ``_SAMPLE_BLOCK_ROWS`` rows merged by (distance, index), the widths
    from the sample's k-th distances, then every probe's rank counted against the
    whole class.

    Returns
    -------
    (probes, columns)
        The probes' indices (sampled rows and their true neighbours), and per probe,
        as the Arrow columns ``_KNN``, ``_KNN_IDX`` and ``_RANKS``: its exact
        neighbours' distances and indices (empty unless sampled) and its ranks.

    """
    n = len(x)
    idx = np.arange(n, dtype=np.int64)  # the index is dense: 0 ... n - 1
    blocks = [
        sample_block_neighbors(x[sample], sample, x[lo:hi], idx[lo:hi], k)
        for lo in range(0, n, _SAMPLE_BLOCK_ROWS)
        for hi in [lo + _SAMPLE_BLOCK_ROWS]
    ]
    dist = np.concatenate([b[0] for b in blocks], axis=1)
    nbrs = np.concatenate([b[1] for b in blocks], axis=1)
    nearest = np.lexsort((nbrs, dist), axis=1)[:, :k]
    dist = np.take_along_axis(dist, nearest, axis=1)
    nbrs = np.take_along_axis(nbrs, nearest, axis=1)
    if dist.shape[1] < k:  # no truth (a class of at most k rows): no ranks needed
        dist, nbrs = np.zeros((len(sample), 0)), np.zeros((len(sample), 0), np.int64)
    if bucket_width is not None:
        widths = [bucket_width]
    else:
        widths = [_base_width(dist.reshape(-1, k)) * f for f in _WIDTH_FACTORS]
    probes = np.union1d(sample, nbrs.ravel())
    counts = probe_ranks(
        np.concatenate([x[probes], x]),
        np.concatenate([probes, idx]),
        np.arange(len(probes) + n) >= len(probes),
        spec,
        widths,
    )
    row = {int(q): r for r, q in enumerate(sample)}
    knn = [dist[row[q]] if q in row else np.zeros(0) for q in probes.tolist()]
    knn_idx = [nbrs[row[q]] if q in row else np.zeros(0, np.int64) for q in probes.tolist()]
    return probes, {
        _KNN: pa.array(knn, pa.list_(pa.float64())),
        _KNN_IDX: pa.array(knn_idx, pa.list_(pa.int64())),
        _RANKS: list_column(counts, pa.int64()),
    }


def _whole_tuning_udf(
    k: int,
    dimension: int,
    hashes: Mapping[int, _ClassHash],
    indices: Mapping[int, list[int]],
    bucket_width: float | None,
    output_schema: pa.Schema,
) -> Callable[[pa.Table], pa.Table]:
    """Build the UDF computing both tuning statistics of one whole class in one task.

    One row per probe (sampled row or true neighbour of one): its exact neighbours
    (empty unless sampled) and its ranks (:func:`_class_statistics`).
    """

    def tune_class(group: pa.Table) -> pa.Table:
        ordinal = int(group.column(CLASS)[0].as_py())
        order = np.argsort(group.column(IDX).to_numpy(), kind="stable")
        x = matrix_from_list_column(group.column(X), dimension)[order]
        sample = np.asarray(indices[ordinal], np.int64)
        probes, stats = _class_statistics(x, sample, k, hashes[ordinal], bucket_width)
        return pa.table(
            {
                CLASS: pa.array(np.full(len(probes), ordinal, np.int32)),
                IDX: pa.array(probes),
                **stats,
            }
        ).cast(output_schema)

    return tune_class


# Groups of the rows with no class (rows of other classes kept for the value check
# only, see spark_smote._keys.keyed_rows): spread by hash so none grows with the data.
_UNCLASSED_GROUPS = 256


def numbered_and_tuned(
    rows: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    *,
    flagged: str | None = None,
    params: LSHParams | None = None,
) -> DataFrame:
    """The points table of whole classes, numbered and tuned in one task per class.

    For classes tuned in one task (:func:`tuned_in_one_task`): one ``applyInArrow`` task
    holds a class, numbers its rows as :func:`spark_smote._keys.build_points` would
    (:func:`spark_smote._keys.class_order`) and computes the tuning statistics of
    :func:`_whole_tuning_udf` in the same task, so neither the numbering's window nor
    the tuning's own job and shuffle are needed. Materialise the result and pass it to
    :func:`whole_class_search` with ``tuned=True``: the statistics ride on the probe
    rows (columns ``_KNN``, ``_KNN_IDX``, ``_RANKS``, null on other rows).

    Parameters
    ----------
    rows : DataFrame
        :func:`spark_smote._keys.keyed_rows` of the classes in ``sizes`` (and, with
        ``flagged``, rows of no class, passed through unnumbered).
    sizes, k, dimension, seed, params
        As for :func:`lsh_neighbors`.
    flagged : str, optional
        A boolean column of ``rows`` marking rows with bad values: a class holding
        one gets no statistics (the run is about to fail on the value check).

    Returns
    -------
    DataFrame
        ``rows`` without the hash, with ``IDX`` before ``X`` and ``X`` as binary
        (:func:`binary_rows`; null for rows of no class or of a class with a bad
        value), plus the statistics.

    """
    params = (params or LSHParams()).checked(k)
    hashes = _hashes(sizes, dimension, seed, params)
    indices = sample_indices(sizes, params.sample_size, seed, purpose=0)
    # The features leave as binary (binary_rows): the checkpoint, the search's copies
    # and its tasks then move one block per row, not 18 values one by one.
    given = rows.schema
    fields = [
        T.StructField(X, T.BinaryType()) if f.name == X else f
        for f in given.fields
        if f.name != HASH
    ]
    fields.insert([f.name for f in fields].index(X), T.StructField(IDX, T.LongType()))
    schema = T.StructType([*fields, *_stat_schema(_KNN, _KNN_IDX, _RANKS).fields[2:]])
    arrow_schema = to_arrow_schema(schema)
    key = ID if ID in given.names else X

    def table_of(columns: Mapping[str, pa.Array]) -> pa.Table:
        return pa.table(dict(columns)).select(arrow_schema.names).cast(arrow_schema)

    def number_and_tune(group: pa.Table) -> pa.Table:
        ordinal = group.column(CLASS)[0].as_py()
        n = group.num_rows
        columns = {name: group.column(name) for name in group.schema.names if name != HASH}
        stats: dict[str, pa.Array] = {
            name: pa.nulls(n, arrow_schema.field(name).type) for name in (_KNN, _KNN_IDX, _RANKS)
        }
        if ordinal is None:  # rows kept for the value check only
            columns[IDX] = pa.nulls(n, pa.int64())
            columns[X] = pa.nulls(n, pa.binary())
            return table_of({**columns, **stats})
        order = class_order(group.column(HASH).to_numpy(), group.column(key).combine_chunks())
        features = columns.pop(X)
        columns = {name: column.take(pa.array(order)) for name, column in columns.items()}
        columns[IDX] = pa.array(np.arange(n, dtype=np.int64))
        if flagged is not None and bool(pc.any(columns[flagged]).as_py()):
            # The value check is about to fail the run: no features, no statistics.
            return table_of({**columns, X: pa.nulls(n, pa.binary()), **stats})
        x = matrix_from_list_column(features, dimension)[order]
        columns[X] = binary_rows(x)
        if not params.untuned:
            sample = np.asarray(indices[int(ordinal)], np.int64)
            probes, by_probe = _class_statistics(
                x, sample, k, hashes[int(ordinal)], params.bucket_width
            )
            at = np.full(n, -1, np.int64)
            at[probes] = np.arange(len(probes))
            slot = pa.array(at, mask=at < 0)
            stats = {name: column.take(slot) for name, column in by_probe.items()}
        return table_of({**columns, **stats})

    spread = F.when(F.col(CLASS).isNull(), F.pmod(F.col(HASH), F.lit(_UNCLASSED_GROUPS)))
    return rows.groupBy(CLASS, spread.otherwise(F.lit(0))).applyInArrow(number_and_tune, schema)


def recall_by_tables(
    query_ranks: np.ndarray, neighbor_ranks: np.ndarray, found: np.ndarray, n: int, step: int
) -> np.ndarray:
    """Sample recall of the search with 1, 2, ... tables, from ranks.

    Parameters
    ----------
    query_ranks : ndarray (queries, tables)
        Rank of each sampled row in each table's order.
    neighbor_ranks : ndarray (queries, k, tables)
        Ranks of its true k nearest neighbours.
    found : ndarray of bool (queries, k)
        Neighbours found whatever the tables (duplicates of the query: they sort next
        to it in every table, so its chunk always holds them).
    n, step : int
        Rows of the class; half the bucket cap.

    Returns
    -------
    ndarray (tables,)
        Fraction of the true neighbours in the chunks of the first 1, 2, ... tables.

    """
    lo, hi = chunk_ranges(query_ranks, n, step)
    inside = (neighbor_ranks >= lo[:, None, :]) & (neighbor_ranks < hi[:, None, :])
    hits = np.logical_or.accumulate(inside, axis=2) | found[:, :, None]
    return hits.mean(axis=(0, 1)) if hits.size else np.ones(query_ranks.shape[1])


@dataclass(frozen=True)
class _Tuning:
    width: float
    cap: int
    tables: int
    sample_recall: float
    kth_distance_median: float
    recall_by_tables: tuple[float, ...] = ()


def _base_width(knn: np.ndarray) -> float:
    """Median k-th neighbour distance of the sample (of its nonzero ones if needed)."""
    kth = knn[:, -1] if knn.size else np.zeros(0)
    for values in (kth, kth[kth > 0], knn[knn > 0]):
        if values.size and float(np.median(values)) > 0:
            return float(np.median(values))
    return 1.0


def _choose(
    curves: Mapping[tuple[float, int], np.ndarray], params: LSHParams
) -> tuple[float, int, int]:
    """(width, cap, tables): the cheapest reaching the target, else the best recall.

    ``curves`` maps each candidate (width, cap) to its sample recall with 1, 2, ...
    tables; the cost of L tables with chunks of C rows is ``L * (C + _TABLE_ROW_COST)``.
    Ties go to the smaller cap, then to the earlier width.
    """
    order = {key: i for i, key in enumerate(curves)}

    def cost(key: tuple[float, int], tables: int) -> tuple[int, int, int]:
        return tables * (key[1] + _TABLE_ROW_COST), key[1], order[key]

    if params.tables is not None:
        fixed = params.tables
        width, cap = max(
            curves, key=lambda key: (curves[key][fixed - 1], [-v for v in cost(key, fixed)])
        )
        return width, cap, fixed
    reached = [
        (key, int(np.argmax(curve >= params.target_recall)) + 1)
        for key, curve in curves.items()
        if (curve >= params.target_recall).any()
    ]
    if reached:
        (width, cap), tables = min(reached, key=lambda pair: cost(*pair))
        return width, cap, tables
    width, cap = max(
        curves, key=lambda key: (curves[key][-1], [-v for v in cost(key, len(curves[key]))])
    )
    return width, cap, len(curves[width, cap])


def _hashes(
    sizes: Mapping[int, int], dimension: int, seed: int, params: LSHParams
) -> dict[int, _ClassHash]:
    """The hash functions of every class: as many tables as the tuning may choose."""
    tables = params.drawn_tables
    return {o: _draw_hash(seed, o, dimension, params.hashes_per_table, tables) for o in sizes}


def _tune_classes(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    params: LSHParams,
    *,
    tuned: bool = False,
) -> tuple[dict[int, _Tuning], dict[int, _ClassHash]]:
    """Run the tuning job(s) and choose width and tables per class.

    Classes tuned in one task (:func:`tuned_in_one_task`) take one job holding each
    class in one task (:func:`_whole_tuning_udf`); the others two jobs over blocks of
    the class. Both give the same statistics. ``tuned``: the statistics are already
    on the points' probe rows (:func:`numbered_and_tuned`); one small job collects them.
    """
    max_tables = params.drawn_tables
    hashes = _hashes(sizes, dimension, seed, params)
    caps = _CAP_CHOICES if params.bucket_cap is None else (params.bucket_cap,)
    if params.bucket_width is not None and params.tables is not None:  # params.untuned
        cap = params.bucket_cap if params.bucket_cap is not None else _DEFAULT_CAP
        fixed = _Tuning(params.bucket_width, cap, params.tables, -1.0, -1.0)
        return dict.fromkeys(sizes, fixed), hashes
    indices = sample_indices(sizes, params.sample_size, seed, purpose=0)
    in_one_task = set(sizes) if tuned else set(_one_task(sizes, dimension))
    in_blocks = [o for o in sizes if o not in in_one_task]
    rows: list[Any] = []
    if tuned:
        probes = points.where(F.col(_RANKS).isNotNull())
        rows += probes.select(CLASS, IDX, _KNN, _KNN_IDX, _RANKS).collect()
    elif in_one_task:
        schema = _stat_schema(_KNN, _KNN_IDX, _RANKS)
        tune = _whole_tuning_udf(
            k, dimension, hashes, indices, params.bucket_width, to_arrow_schema(schema)
        )
        rows += (
            _of_classes(points, in_one_task, sizes)
            .select(CLASS, IDX, X)
            .groupBy(CLASS)
            .applyInArrow(tune, schema)
            .collect()
        )
    blocked = _of_classes(points, in_blocks, sizes) if in_blocks else points
    if in_blocks:
        rows += (
            sample_exact_neighbors(blocked, {o: indices[o] for o in in_blocks}, k, dimension)
            .select(CLASS, IDX, _KNN, _KNN_IDX)
            .collect()
        )
    truth: dict[int, dict[int, list[int]]] = {o: {} for o in sizes}
    distances: dict[int, dict[int, list[float]]] = {o: {} for o in sizes}
    for row in rows:
        if len(row[_KNN_IDX]) >= k:
            truth[int(row[CLASS])][int(row[IDX])] = [int(v) for v in row[_KNN_IDX][:k]]
            distances[int(row[CLASS])][int(row[IDX])] = [float(v) for v in row[_KNN][:k]]
    bases = {
        o: _base_width(np.array(list(distances[o].values()), np.float64).reshape(-1, k))
        for o in sizes
    }
    widths = {
        o: [params.bucket_width]
        if params.bucket_width is not None
        else [bases[o] * f for f in _WIDTH_FACTORS]
        for o in sizes
    }
    ranks = _ranks_by_query(
        [r for r in rows if int(r[CLASS]) in in_one_task], {o: truth[o] for o in in_one_task}
    )
    if in_blocks:
        blocked_truth = {o: truth[o] for o in in_blocks}
        ranks.update(_sample_ranks(blocked, hashes, widths, blocked_truth, dimension))
    tunings: dict[int, _Tuning] = {}
    for ordinal, n in sizes.items():
        queries = sorted(ranks[ordinal])
        n_widths = len(widths[ordinal])
        shape = (len(queries), n_widths, max_tables)
        query_ranks = np.array([ranks[ordinal][q][0] for q in queries], np.int64).reshape(shape)
        neighbor_ranks = np.array([ranks[ordinal][q][1] for q in queries], np.int64).reshape(
            len(queries), k, n_widths, max_tables
        )
        found = np.array([distances[ordinal][q] for q in queries], np.float64).reshape(-1, k) == 0
        curves = {
            (width, cap): recall_by_tables(
                query_ranks[:, c], neighbor_ranks[:, :, c], found, n, cap // 2
            )
            for c, width in enumerate(widths[ordinal])
            for cap in caps
        }
        width, cap, tables = _choose(curves, params)
        tunings[ordinal] = _Tuning(
            width,
            cap,
            tables,
            float(curves[width, cap][tables - 1]),
            bases[ordinal],
            tuple(round(float(v), 4) for v in curves[width, cap]),
        )
    return tunings, hashes


def _run_order(tables: Mapping[int, int], sizes: Mapping[int, int], within: str = _TABLE) -> Column:
    """A row's place in the order its (class, ``within``) groups are dealt to the tasks.

    Each class has ``tables[class]`` groups, numbered by the column ``within`` (the
    table of a per-table copy, the share of a whole-class copy). Groups are dealt
    largest class first, so every task gets one group before any gets two and the tasks
    with two start first (see :func:`spark_smote._keys.deal`).
    """
    order = sorted(tables, key=lambda o: (-sizes[o], o))
    first, cases = 0, []
    for ordinal in order:
        cases.append(f"WHEN {int(ordinal)} THEN {first}")
        first += tables[ordinal]
    return F.expr(f"CASE {CLASS} {' '.join(cases)} END + {within}")


def _per_table_search(
    points: DataFrame,
    sizes: Mapping[int, int],
    tunings: Mapping[int, _Tuning],
    hashes: Mapping[int, _ClassHash],
    k: int,
    dimension: int,
) -> DataFrame:
    """The per-table search: L copies of each row, one shuffle and sort, one merge.

    Returns the neighbours table (class, index, features, id if any, neighbours).
    """
    tables = {o: tunings[o].tables for o in sizes}
    carried = _carried(points)
    hashed_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(_XBYTES, T.BinaryType()),
            T.StructField(_KEYS, T.ArrayType(T.BinaryType())),
            T.StructField(_COARSES, T.ArrayType(T.LongType())),
        ]
    )
    hash_rows = _hash_udf(
        hashes,
        {o: t.width for o, t in tunings.items()},
        tables,
        dimension,
        to_arrow_schema(hashed_schema),
    )
    candidate_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(_CANDIDATES, T.BinaryType()),
        ]
    )
    search = _search_udf(
        k,
        dimension,
        {o: t.cap for o, t in tunings.items()},
        dict(sizes),
        to_arrow_schema(candidate_schema),
    )
    copies = (
        points.select(CLASS, IDX, X)
        .mapInArrow(hash_rows, hashed_schema)
        .select(CLASS, IDX, _XBYTES, _COARSES, F.posexplode(_KEYS).alias(_TABLE, _KEY))
        .select(CLASS, IDX, _XBYTES, _TABLE, _KEY, F.col(_COARSES)[F.col(_TABLE)].alias(_COARSE))
    )
    partitions = task_count(points, sum(tables.values()), 1)
    candidates = (
        deal(copies, partitions, _run_order(tables, sizes))
        .sortWithinPartitions(_COARSE, _KEY)
        .select(CLASS, _TABLE, IDX, _XBYTES)
        .mapInArrow(search, candidate_schema)
    )
    merged_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(NBR, T.ArrayType(T.LongType())),
        ]
    )
    merge = _merge_udf(k, tables, to_arrow_schema(merged_schema))
    merged = (
        candidates.repartition(
            task_count(points, sum(sizes.values()), _MERGE_ROWS_PER_TASK), CLASS, IDX
        )
        .sortWithinPartitions(IDX, CLASS)
        .mapInArrow(merge, merged_schema)
    )
    rows = lookup_side(
        points.select(CLASS, IDX, *carried), sum(sizes.values()) * (dimension + 4) * 8
    )
    return merged.join(rows, on=[CLASS, IDX]).select(CLASS, IDX, *carried, NBR)


def _whole_class_search(
    points: DataFrame,
    sizes: Mapping[int, int],
    tunings: Mapping[int, _Tuning],
    hashes: Mapping[int, _ClassHash],
    k: int,
    dimension: int,
    *,
    emit: Emit | None = None,
    emit_schema: T.StructType | None = None,
    min_parts: int = 1,
) -> DataFrame:
    """The whole-class search (:func:`_class_search_udf`): the neighbours table.

    Each class is sent whole to ``parts`` tasks, ``parts`` growing with the class's
    ranking work (``_CLASS_SEARCH_WORK_PER_TASK``), at least ``min_parts`` and at most
    ``MAX_TASKS_PER_CLASS``. With ``emit`` the tasks return ``emit``'s rows, of
    ``emit_schema``, instead.
    """
    work = sum(
        n * tunings[o].tables * min(n, tunings[o].cap) * (dimension + 2) for o, n in sizes.items()
    )
    searched = task_count(points, work, _CLASS_SEARCH_WORK_PER_TASK)
    parts = min(MAX_TASKS_PER_CLASS, max(min_parts, searched))
    carried = _carried(points)
    fields = {field.name: field for field in points.schema.fields}
    schema = emit_schema or T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            *[fields[name] for name in carried],
            T.StructField(NBR, T.ArrayType(T.LongType())),
        ]
    )
    search = _class_search_udf(
        k, dimension, hashes, tunings, sizes, parts, to_arrow_schema(schema), emit=emit
    )
    # One copy of each row per share, made in place (a cross join with a table of the
    # shares would cost a broadcast job of its own).
    share = F.explode(F.sequence(F.lit(0), F.lit(parts - 1))).alias(_PART)
    copies = points.select(CLASS, IDX, *carried, share)
    position = _run_order(dict.fromkeys(sizes, parts), sizes, _PART)
    return deal(copies, len(sizes) * parts, position).mapInArrow(search, schema)


def whole_class_search(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    emit: Emit,
    emit_schema: T.StructType,
    *,
    min_parts: int = 1,
    params: LSHParams | None = None,
    tuned: bool = False,
) -> tuple[DataFrame, NeighborReport]:
    """The LSH search of whole classes, each task handing its result to ``emit``.

    Tunes like :func:`lsh_neighbors` (the same report) and searches every class whole,
    as :func:`lsh_neighbors` does for classes of at most ``_WHOLE_CLASS_BYTES`` of
    features; a task then passes the class and the neighbours of the rows it answered
    to ``emit`` (see :data:`Emit`), so a later phase can use them in the same task,
    without writing the neighbours table out. Every class must be searched whole
    (:func:`searched_whole`).

    Parameters
    ----------
    points, sizes, k, dimension, seed, params
        As for :func:`lsh_neighbors`.
    emit : Emit
        Called once per (class, task).
    emit_schema : StructType
        The schema of ``emit``'s batches.
    min_parts : int, default 1
        Tasks per class at least (at most ``MAX_TASKS_PER_CLASS``), e.g. for ``emit``'s
        work.
    tuned : bool, default False
        ``points`` comes from :func:`numbered_and_tuned` (materialised), with the same
        ``seed`` and ``params``: its tuning statistics are collected, not computed.

    Returns
    -------
    (DataFrame, NeighborReport)
        ``emit``'s rows and, per class, what the search did.

    """
    params = (params or LSHParams()).checked(k)
    if len(_whole(sizes, dimension)) != len(sizes):
        raise ValueError("whole_class_search: a class exceeds _WHOLE_CLASS_BYTES of features")
    if tuned and not tuned_in_one_task(sizes, dimension):
        raise ValueError("whole_class_search: tuned=True for a class tuned over blocks")
    tunings, hashes = _tune_classes(points, sizes, k, dimension, seed, params, tuned=tuned)
    if tuned:
        points = points.drop(_KNN, _KNN_IDX, _RANKS)
    found = _whole_class_search(
        points,
        sizes,
        tunings,
        hashes,
        k,
        dimension,
        emit=emit,
        emit_schema=emit_schema,
        min_parts=min_parts,
    )
    return found, _report(tunings, sizes, k, params)


def _report(
    tunings: Mapping[int, _Tuning], sizes: Mapping[int, int], k: int, params: LSHParams
) -> NeighborReport:
    """The search's report per class; a warning for each class below the target."""
    report = NeighborReport()
    for ordinal, tuning in tunings.items():
        if 0 <= tuning.sample_recall < params.target_recall:
            logger.warning(
                "spark_smote: LSH on class ordinal %d reaches recall@%d %.3f on its tuning "
                "sample, below target_recall=%.3f even with %d tables. Raise "
                "LSHParams(max_tables=..., bucket_cap=...) or use neighbor_search='exact'.",
                ordinal,
                k,
                tuning.sample_recall,
                params.target_recall,
                tuning.tables,
            )
        report.method[ordinal] = "lsh"
        report.parameters[ordinal] = {
            "bucket_width": tuning.width,
            "hashes_per_table": params.hashes_per_table,
            "tables": tuning.tables,
            "bucket_cap": tuning.cap,
            "estimated_recall": round(tuning.sample_recall, 4),
            "recall_by_tables": list(tuning.recall_by_tables),
            "kth_distance_median": tuning.kth_distance_median,
            "sample_size": min(params.sample_size, sizes[ordinal]),
        }
    return report


def lsh_neighbors(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    *,
    params: LSHParams | None = None,
) -> tuple[DataFrame, NeighborReport]:
    """Approximate k nearest neighbours within each class by LSH + exact refinement.

    Parameters
    ----------
    points : DataFrame
        The points table (see :mod:`spark_smote._keys`); read several times, so pass a
        materialised one.
    sizes : mapping
        Rows per class ordinal; every class must have more than k rows.
    k : int
        Neighbours per row.
    dimension : int
        Features per row.
    seed : int
        The run's seed; hash functions and the tuning sample derive from it.
    params : LSHParams, optional
        Overrides; unset fields are tuned per class.

    Returns
    -------
    (DataFrame, NeighborReport)
        The neighbours table, same schema as :func:`~spark_smote._neighbors.exact_neighbors`,
        and per class the method ('lsh') and parameters: ``bucket_width``,
        ``hashes_per_table``, ``tables``, ``bucket_cap``, ``estimated_recall`` (measured
        on the tuning sample, -1 when not tuned), ``recall_by_tables`` (the same for
        1, 2, ... tables), ``kth_distance_median`` and ``sample_size``.

    Raises
    ------
    InvalidParameterError
        Invalid ``params``.

    Notes
    -----
    Runs small Spark jobs at call time to tune: for classes of at most
    ``_ONE_TASK_TUNING_BYTES`` of features, one job holding each class in one task; for
    larger ones, two jobs (the tuning sample against its class in blocks, then the
    ranks of the sample in every candidate order). Only indices, k distances and ranks
    per sampled row reach the driver. The returned DataFrame is lazy. A class of at
    most ``_WHOLE_CLASS_BYTES`` then costs one shuffle sending it whole to up to
    ``MAX_TASKS_PER_CLASS`` tasks, each holding the class and answering its share of
    the rows (:func:`_class_search_udf`). A larger class of n rows with L tables costs a
    ``mapInArrow`` emitting ``L n`` rows, one shuffle and sort of them by (class,
    table) and key, a streaming ``mapInArrow`` over the sorted runs (at most one chunk
    of ``bucket_cap`` rows plus one Arrow batch in memory), and one shuffle merging L
    candidate lists per row, with one task per (class, table). Both give the same
    neighbours.

    """
    params = (params or LSHParams()).checked(k)
    whole = _whole(sizes, dimension)
    split = {o: n for o, n in sizes.items() if o not in whole}
    found, tunings, hashes = [], {}, {}
    for subset, search in ((whole, _whole_class_search), (split, _per_table_search)):
        if subset:
            rows = _of_classes(points, subset, sizes)
            tuned, drawn = _tune_classes(rows, subset, k, dimension, seed, params)
            tunings.update(tuned)
            hashes.update(drawn)
            found.append(search(rows, subset, tuned, drawn, k, dimension))
    complete = F.when(
        F.size(NBR) < F.lit(k),
        F.raise_error(
            F.concat(
                F.lit("spark_smote LSH: a row of class ordinal "),
                F.col(CLASS).cast("string"),
                F.lit(
                    f" got fewer than k_neighbors={k} neighbours; this is a bug, please report it."
                ),
            )
        ),
    ).otherwise(F.col(NBR))
    carried = _carried(points)
    neighbors = found[0] if len(found) == 1 else found[0].unionByName(found[1])
    neighbors = neighbors.select(
        CLASS, IDX, *carried, complete.cast(T.ArrayType(T.LongType())).alias(NBR)
    )
    return neighbors, _report(tunings, sizes, k, params)


def searched_whole(sizes: Mapping[int, int], dimension: int, method: str) -> bool:
    """Whether ``method`` searches every class whole (:func:`_whole_class_search`).

    Those searches, their tuning and the synthesis's broadcast lookups all read a class
    through a shuffle or a collect, so its points need not be spread over tasks first
    (:func:`spark_smote._keys.spread_points`): one fewer shuffle of the minority rows.
    """
    return bool(sizes) and len(_whole(_lsh_classes(sizes, method), dimension)) == len(sizes)


def _lsh_classes(sizes: Mapping[int, int], method: str) -> dict[int, int]:
    """The classes ``method`` searches with LSH ('auto': those above the threshold)."""
    if method == "exact":
        return {}
    return {o: n for o, n in sizes.items() if method == "lsh" or n > AUTO_EXACT_MAX_ROWS}


def _whole(sizes: Mapping[int, int], dimension: int) -> dict[int, int]:
    """The classes of at most ``_WHOLE_CLASS_BYTES`` of features: searched whole."""
    return {o: n for o, n in sizes.items() if n * dimension * 8 <= _WHOLE_CLASS_BYTES}


def _one_task(sizes: Mapping[int, int], dimension: int) -> dict[int, int]:
    """The classes searched whole whose features take at most ``_ONE_TASK_TUNING_BYTES``."""
    whole = _whole(sizes, dimension)
    return {o: n for o, n in whole.items() if n * dimension * 8 <= _ONE_TASK_TUNING_BYTES}


def tuned_in_one_task(sizes: Mapping[int, int], dimension: int) -> bool:
    """Whether every class is small enough to be numbered and tuned in one task each.

    Then :func:`numbered_and_tuned` may number and tune them; otherwise the points
    are numbered by :func:`spark_smote._keys.build_points` and the larger classes
    tuned over blocks.
    """
    return len(_one_task(sizes, dimension)) == len(sizes)


def _of_classes(points: DataFrame, classes: Collection[int], sizes: Mapping[int, int]) -> DataFrame:
    """The points of ``classes`` (all of ``points`` when they are all of ``sizes``)."""
    if len(classes) == len(sizes):
        return points
    return points.filter(F.col(CLASS).isin(sorted(classes)))


def find_neighbors(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    method: str,
    *,
    lsh_params: LSHParams | None = None,
) -> tuple[DataFrame, NeighborReport]:
    """Dispatch the neighbour search: 'exact', 'lsh', or 'auto' per class.

    Parameters
    ----------
    points, sizes, k, dimension, seed
        As for :func:`lsh_neighbors`.
    method : {'auto', 'exact', 'lsh'}
        'auto' searches classes of up to ``AUTO_EXACT_MAX_ROWS`` (10,000) rows exactly
        and larger ones with LSH.
    lsh_params : LSHParams, optional
        Overrides for the LSH search.

    Returns
    -------
    (DataFrame, NeighborReport)
        The neighbours table of all classes and what was done per class.

    Notes
    -----
    The 10,000-row threshold is measured (``python jobs/recall_benchmark.py
    threshold``, one class of 18 features, local[2], noop sink): exact 2.4 s and LSH
    2.0 s at 10,000 rows; exact 6.5 s and LSH 2.3 s at 20,000; exact 22.4 s and LSH
    2.8 s at 40,000. Exact search costs O(n^2 d) and gives exact neighbours, so it is
    kept while it costs at most a fraction of a second more than LSH. Since the
    whole-class LSH search: exact 2.9 s and LSH 0.8 s at 10,000 rows, 7.2 s and 1.3 s
    at 20,000; the threshold stays (README, "Auto threshold").

    """
    if method == "exact":
        return exact_neighbors(points, sizes, k, dimension)
    if method == "lsh":
        return lsh_neighbors(points, sizes, k, dimension, seed, params=lsh_params)
    large = _lsh_classes(sizes, method)
    small = {o: n for o, n in sizes.items() if o not in large}
    if not large:
        return exact_neighbors(points, small, k, dimension)
    if not small:
        return lsh_neighbors(points, large, k, dimension, seed, params=lsh_params)
    exact_part, exact_report = exact_neighbors(
        points.filter(F.col(CLASS).isin(list(small))), small, k, dimension
    )
    lsh_part, lsh_report = lsh_neighbors(
        points.filter(F.col(CLASS).isin(list(large))), large, k, dimension, seed, params=lsh_params
    )
    report = NeighborReport(
        method={**exact_report.method, **lsh_report.method},
        parameters={**exact_report.parameters, **lsh_report.parameters},
    )
    return exact_part.unionByName(lsh_part), report

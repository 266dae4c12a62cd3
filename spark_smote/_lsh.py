"""Phase 4 at scale: k nearest neighbours by LSH bucketing with exact refinement.

Same input (the points table of :mod:`spark_smote._keys`) and same output (the
neighbours table of :mod:`spark_smote._neighbors`) as the exact search. Per class:

1. **tuning** (one small Spark job): a seeded sample of query rows is compared exactly
   with every row of the class inside Arrow UDFs; only their k nearest distances and a
   histogram of all their distances reach the driver, which picks the bucket width
   ``w``, the hash functions per table ``m`` and the table count ``L`` that reach the
   target recall at the least estimated cost;
2. **hashing** (``mapInArrow``, numpy): ``h(x) = floor((a.x + b) / w)`` with Gaussian
   ``a`` and ``b ~ U[0, w)`` (p-stable LSH, Datar et al. 2004); ``m`` functions ANDed
   into one bucket key per table, ``L`` tables, plus one *fallback table* whose single
   bucket holds the whole class;
3. **bounded buckets**: rows of a bucket are ranked along a further random projection
   (ties by index); a bucket above ``bucket_cap`` rows is cut into overlapping chunks of
   ``bucket_cap`` consecutive ranks, each row a query in the one chunk where it is
   central, so no UDF group ever exceeds ``bucket_cap`` rows, whatever the skew;
4. **refinement**: per chunk, exact distances and top-k in numpy
   (:func:`spark_smote._neighbors.block_top_k`);
5. **merge**: the candidates of all tables are merged per row, duplicates removed,
   nearest first, ties by index. The fallback table's chunks hold at least
   ``fallback_chunk_rows / 2`` rows around every row, so every row gets exactly k
   neighbours (a row with fewer fails the job loudly instead).

All random parameters come from ``numpy_generator(seed, STREAM_LSH, class)``; the
projections are accumulated feature by feature so a row's hash does not depend on the
batch it arrives in. The output is therefore the same, bit for bit, for any
partitioning, row order or shuffle setting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from spark_smote._errors import InvalidParameterError
from spark_smote._keys import CLASS, ID, IDX, SIZE, X
from spark_smote._neighbors import (
    DIST,
    NBR,
    NeighborReport,
    block_top_k,
    exact_neighbors,
    list_column,
    matrix_from_list_column,
    merge_candidates,
)
from spark_smote._random import STREAM_LSH, STREAM_SAMPLE, numpy_generator

__all__ = [
    "AUTO_EXACT_MAX_ROWS",
    "LSHParams",
    "find_neighbors",
    "lsh_neighbors",
    "sample_exact_neighbors",
    "sample_indices",
]

# Classes up to this many rows use the exact search under neighbor_search="auto".
AUTO_EXACT_MAX_ROWS = 25_000

_TABLE = "_smote_table"
_BUCKET = "_smote_bucket"
_SPLIT = "_smote_split"
_RANK = "_smote_rank"
_BUCKET_ROWS = "_smote_bucket_rows"
_CHUNK = "_smote_chunk"
_QUERY_CHUNK = "_smote_query_chunk"
_IS_QUERY = "_smote_is_query"
_BLOCK = "_smote_sblock"
_ROLE = "_smote_srole"
_KNN = "_smote_knn_dist"
_KNN_IDX = "_smote_knn_idx"
_HIST = "_smote_hist"

FALLBACK_TABLE = -1

# Distance histogram of the tuning sample: bins of 1/4 in log2 of the squared distance,
# from 2**-64 to 2**64.
_HIST_BINS = 512
_HIST_PER_OCTAVE = 4
_HIST_LOW = -64.0
# Rows per reference block of the sample searches.
_SAMPLE_BLOCK_ROWS = 4096
# Estimated cost of one row copy (shuffle, sort, Arrow) in units of one pair distance;
# weighs more tables against larger buckets when tuning.
_ROW_COST_IN_PAIRS = 1000.0
_MAX_HASHES = 16
# Groups up to this size are solved together, padded to a power of two; larger ones
# one by one. The budget bounds the padded difference tensor (elements).
_SMALL_GROUP_ROWS = 128
_SMALL_GROUP_BUDGET = 4_000_000


@dataclass(frozen=True)
class LSHParams:
    """Parameters of the LSH neighbour search; ``None`` fields are tuned per class.

    Attributes
    ----------
    bucket_width : float, optional
        Width ``w`` of each hash function's buckets, in feature units.
    hashes_per_table : int, optional
        Hash functions ANDed into one bucket key (``m``).
    tables : int, optional
        Hash tables ORed (``L``), not counting the fallback table.
    bucket_cap : int, default 2048
        Most rows handed to one UDF group; larger buckets are split into overlapping
        chunks. Must be even and at least ``4 * (k + 1)``.
    fallback_chunk_rows : int, default 64
        Chunk size of the fallback table (whole class ranked along one projection);
        guarantees k candidates per row. Raised to ``4 * (k + 1)`` when smaller.
    target_recall : float, default 0.965
        Recall@k the tuner aims at on its sample (estimated, before the bucket split).
    sample_size : int, default 256
        Query rows per class used for tuning.
    max_tables : int, default 32
        Upper bound on the tuned ``tables``.

    """

    bucket_width: float | None = None
    hashes_per_table: int | None = None
    tables: int | None = None
    bucket_cap: int = 2048
    fallback_chunk_rows: int = 64
    target_recall: float = 0.965
    sample_size: int = 256
    max_tables: int = 32

    def checked(self, k: int) -> LSHParams:
        """Return the parameters after validation against ``k`` (fallback chunk raised).

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
        for name, low in (("hashes_per_table", 1), ("tables", 1)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < low):
                raise InvalidParameterError(
                    f"LSHParams.{name}={value!r}: must be an integer >= {low}, or None to tune it."
                )
        if not isinstance(self.bucket_cap, int) or self.bucket_cap < 4 * (k + 1):
            raise InvalidParameterError(
                f"LSHParams.bucket_cap={self.bucket_cap!r}: must be an integer >= 4 * "
                f"(k_neighbors + 1) = {4 * (k + 1)}; the default is 2048."
            )
        if not 0.0 < self.target_recall < 1.0:
            raise InvalidParameterError(
                f"LSHParams.target_recall={self.target_recall!r}: must lie in (0, 1), e.g. 0.97."
            )
        for name in ("sample_size", "max_tables", "fallback_chunk_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"LSHParams.{name}={value!r}: must be a positive integer."
                )
        cap = self.bucket_cap + (self.bucket_cap % 2)
        fallback = max(self.fallback_chunk_rows, 4 * (k + 1))
        return replace(self, bucket_cap=cap, fallback_chunk_rows=fallback + fallback % 2)


@dataclass(frozen=True)
class _ClassHash:
    """The drawn hash functions of one class (immutable numpy arrays)."""

    width: float
    hashes: int
    tables: int
    projections: np.ndarray  # (d, tables * hashes + tables + 1): hash then split directions
    offsets: np.ndarray  # (tables * hashes,), uniform in [0, width)


def _collision_probability(distance: np.ndarray, width: float) -> np.ndarray:
    """P[h(x) = h(y)] of one p-stable hash for points ``distance`` apart (Datar 2004)."""
    from math import erf

    c = np.asarray(distance, dtype=np.float64)
    out = np.ones_like(c)
    positive = c > 0
    u = width / c[positive]
    normal_cdf = 0.5 * (1.0 + np.vectorize(erf, otypes=[np.float64])(-u / math.sqrt(2.0)))
    out[positive] = (
        1.0 - 2.0 * normal_cdf - (2.0 / (math.sqrt(2.0 * math.pi) * u)) * (1.0 - np.exp(-u * u / 2))
    )
    return np.clip(out, 0.0, 1.0)


def _bin_distances() -> np.ndarray:
    """Representative distance (not squared) of each histogram bin."""
    log2_squared = _HIST_LOW + (np.arange(_HIST_BINS) + 0.5) / _HIST_PER_OCTAVE
    centers = np.sqrt(np.exp2(log2_squared))
    centers[0] = 0.0
    return centers


def _histogram_bins(squared: np.ndarray) -> np.ndarray:
    """Histogram bin of each squared distance (bin 0 holds zero and tiny distances)."""
    with np.errstate(divide="ignore"):
        position = np.floor((np.log2(squared) - _HIST_LOW) * _HIST_PER_OCTAVE)
    position = np.nan_to_num(position, nan=0.0, neginf=0.0, posinf=_HIST_BINS - 1)
    return np.clip(position, 0, _HIST_BINS - 1).astype(np.int64)


@dataclass(frozen=True)
class _Tuning:
    width: float
    hashes: int
    tables: int
    estimated_recall: float
    expected_bucket_rows: float
    kth_distance_median: float


def _tune(
    knn: np.ndarray,
    histogram: np.ndarray,
    n_queries: int,
    params: LSHParams,
) -> _Tuning:
    """Choose (w, m, L) from the sample's k nearest distances and distance histogram.

    For every candidate (w, m) the expected recall with L tables is the mean over the
    sample's (query, true neighbour) pairs of ``1 - (1 - p(c / w)^m)^L`` and the
    expected bucket size is ``sum_bins count * p(c / w)^m`` per query. The cheapest
    (cost ``L * (row cost + min(bucket, cap))``) setting that reaches the target
    recall with buckets below half the cap wins.
    """
    kth = knn[:, -1] if knn.size else np.zeros(1)
    kth_median = float(np.median(kth))
    centers = _bin_distances()
    per_query = histogram.astype(np.float64) / max(1, n_queries)
    if kth_median > 0:
        base = kth_median
    else:
        nonzero = per_query[1:] > 0
        base = float(centers[1:][nonzero][0]) if nonzero.any() else 1.0
    widths = (
        [params.bucket_width]
        if params.bucket_width is not None
        else [base * 2.0 ** (i / 4) for i in range(-4, 33)]
    )
    hash_counts = (
        [params.hashes_per_table]
        if params.hashes_per_table is not None
        else list(range(1, _MAX_HASHES + 1))
    )
    max_tables = params.tables if params.tables is not None else params.max_tables
    table_range = np.arange(1, max_tables + 1)
    pair_distances = knn.reshape(-1)
    best: tuple[tuple[float, float], _Tuning] | None = None
    for width in widths:
        pair_p = _collision_probability(pair_distances, width)
        bin_p = _collision_probability(centers, width)
        for hashes in hash_counts:
            p_table = pair_p**hashes
            expected = 1.0 + float(per_query @ (bin_p**hashes))
            if params.tables is not None:
                tables = params.tables
                recall = float(np.mean(1.0 - (1.0 - p_table) ** tables)) if p_table.size else 1.0
            else:
                recalls = (
                    np.mean(1.0 - (1.0 - p_table[None, :]) ** table_range[:, None], axis=1)
                    if p_table.size
                    else np.ones(len(table_range))
                )
                reached = np.nonzero(recalls >= params.target_recall)[0]
                index = int(reached[0]) if len(reached) else len(table_range) - 1
                tables, recall = int(table_range[index]), float(recalls[index])
            cost = tables * (_ROW_COST_IN_PAIRS + min(expected, params.bucket_cap))
            tuning = _Tuning(width, hashes, tables, recall, expected, kth_median)
            bounded = expected <= params.bucket_cap / 2
            if bounded and recall >= params.target_recall:
                key = (0.0, cost)
            elif bounded:
                key = (1.0 - recall + 1.0, cost)  # the target is out of reach: best recall
            else:
                key = (3.0, expected)  # no bounded setting: the smallest buckets
            if best is None or key < best[0]:
                best = (key, tuning)
    assert best is not None
    return best[1]


def _draw_hash(seed: int, ordinal: int, dimension: int, tuning: _Tuning) -> _ClassHash:
    """Draw the hash functions of one class from its own counter-based stream."""
    generator = numpy_generator(seed, STREAM_LSH, ordinal)
    n_hash = tuning.tables * tuning.hashes
    directions = generator.standard_normal((n_hash + tuning.tables + 1, dimension))
    offsets = generator.uniform(0.0, tuning.width, n_hash)
    projections = np.ascontiguousarray(directions.T)
    projections.setflags(write=False)
    offsets.setflags(write=False)
    return _ClassHash(tuning.width, tuning.hashes, tuning.tables, projections, offsets)


def project(x: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """``x @ projections`` accumulated feature by feature (row-wise reproducible).

    A BLAS product may round a row differently depending on the other rows of the
    batch; this sum has the same order for every row, so a row's projection does not
    depend on how the rows were batched.
    """
    out = np.zeros((x.shape[0], projections.shape[1]), dtype=np.float64)
    for j in range(x.shape[1]):
        out += x[:, j : j + 1] * projections[j]
    return out


def _mix(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    from spark_smote._random import splitmix64

    return splitmix64(keys ^ values.astype(np.int64).view(np.uint64))


def _hash_udf(
    hashes: Mapping[int, _ClassHash], dimension: int, output_schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function that emits one row per (point, table)."""
    carried = [name for name in (X, ID) if name in output_schema.names]

    def hash_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            table = pa.Table.from_batches([batch])
            classes = table.column(CLASS).to_numpy()
            for ordinal in np.unique(classes):
                spec = hashes[int(ordinal)]
                rows = table.filter(pa.array(classes == ordinal))
                n = rows.num_rows
                x = matrix_from_list_column(rows.column(X), dimension)
                projected = project(x, spec.projections)
                n_hash = spec.tables * spec.hashes
                codes = np.floor((projected[:, :n_hash] + spec.offsets) / spec.width)
                codes = codes.reshape(n, spec.tables, spec.hashes)
                keys = np.zeros((n, spec.tables), dtype=np.uint64)
                for j in range(spec.hashes):
                    keys = _mix(keys, codes[:, :, j])
                buckets = np.concatenate([keys.view(np.int64), np.zeros((n, 1), np.int64)], 1)
                splits = projected[:, n_hash:]
                n_tables = spec.tables + 1
                table_ids = np.append(np.arange(spec.tables), FALLBACK_TABLE).astype(np.int32)
                repeated = rows.take(pa.array(np.tile(np.arange(n), n_tables)))
                columns = {
                    CLASS: repeated.column(CLASS),
                    IDX: repeated.column(IDX),
                    _TABLE: pa.array(np.repeat(table_ids, n)),
                    _BUCKET: pa.array(buckets.T.reshape(-1)),
                    _SPLIT: pa.array(splits.T.reshape(-1)),
                }
                for name in carried:
                    columns[name] = repeated.column(name)
                out = pa.table({name: columns[name] for name in output_schema.names})
                yield from out.cast(output_schema).to_batches()

    return hash_rows


def _chunk_udf(k: int, dimension: int, output_schema: pa.Schema) -> Callable[[pa.Table], pa.Table]:
    """Build the Arrow UDF of one (class, table, bucket, chunk) group."""
    carried = [name for name in (X, ID) if name in output_schema.names]

    def top_k_of_chunk(group: pa.Table) -> pa.Table:
        # Canonical order: the result must not depend on how the shuffle ordered rows.
        group = group.take(pa.compute.sort_indices(group, [(IDX, "ascending")]))
        idx = group.column(IDX).to_numpy()
        x = matrix_from_list_column(group.column(X), dimension)
        is_query = group.column(_IS_QUERY).to_numpy(zero_copy_only=False)
        neighbors, distances = block_top_k(x[is_query], idx[is_query], x, idx, k)
        queries = group.filter(pa.array(is_query))
        columns: dict[str, Any] = {
            CLASS: queries.column(CLASS),
            IDX: queries.column(IDX),
            NBR: list_column(neighbors, pa.int64()),
            DIST: list_column(distances, pa.float64()),
        }
        # Features and id travel with the fallback table only, where every row is a
        # query exactly once.
        is_fallback = group.num_rows > 0 and group.column(_TABLE)[0].as_py() == FALLBACK_TABLE
        for name in carried:
            values = queries.column(name)
            columns[name] = values if is_fallback else pa.nulls(len(values), values.type)
        return pa.table({name: columns[name] for name in output_schema.names}).cast(output_schema)

    return top_k_of_chunk


def _chunk_stream_udf(
    k: int, dimension: int, output_schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Build the mapInArrow function running :func:`_chunk_udf` on every group.

    Its input partitions are sorted by the group key, so a group's rows are
    consecutive; a group cut by a batch boundary is completed from the next batch.
    Many small groups thus cost one Python call per batch instead of one per group.
    """
    top_k_of_chunk = _chunk_udf(k, dimension, output_schema)
    keys = (CLASS, _TABLE, _BUCKET, _CHUNK)
    carried = [name for name in (X, ID) if name in output_schema.names]

    def group_starts(table: pa.Table) -> np.ndarray:
        change = np.zeros(table.num_rows, dtype=bool)
        change[0] = True
        for name in keys:
            values = table.column(name).to_numpy()
            change[1:] |= values[1:] != values[:-1]
        return np.flatnonzero(change)

    def run(table: pa.Table, starts: np.ndarray, end: int) -> pa.Table:
        bounds = np.append(starts, end)
        sizes = np.diff(bounds)
        large = sizes > _SMALL_GROUP_ROWS
        results = [
            top_k_of_chunk(table.slice(int(lo), int(hi - lo)))
            for lo, hi in zip(bounds[:-1][large], bounds[1:][large], strict=True)
        ]
        if (~large).any():
            results.append(small_groups(table, starts[~large], sizes[~large]))
        return pa.concat_tables(results) if results else output_schema.empty_table()

    def small_groups(table: pa.Table, starts: np.ndarray, sizes: np.ndarray) -> pa.Table:
        """Top-k of many small groups at once: padded (groups, G, G) distance blocks."""
        idx = table.column(IDX).to_numpy()
        x = matrix_from_list_column(table.column(X), dimension)
        is_query = table.column(_IS_QUERY).to_numpy(zero_copy_only=False)
        padded = np.maximum(2, 2 ** np.ceil(np.log2(np.maximum(sizes, 1)))).astype(np.int64)
        positions, lengths, neighbor_parts, distance_parts = [], [], [], []
        for width in np.unique(padded):
            chosen = padded == width
            group_starts_, group_sizes = starts[chosen], sizes[chosen]
            per_slice = max(1, _SMALL_GROUP_BUDGET // int(width * width * max(1, dimension)))
            slot = np.arange(width)
            for lo in range(0, len(group_starts_), per_slice):
                first = group_starts_[lo : lo + per_slice]
                size = group_sizes[lo : lo + per_slice]
                valid = slot[None, :] < size[:, None]
                rows = np.where(valid, first[:, None] + slot[None, :], first[:, None])
                members = x[rows]
                diff = members[:, :, None, :] - members[:, None, :, :]
                distances = np.einsum("gijd,gijd->gij", diff, diff)
                blocked = ~valid[:, None, :] | np.eye(width, dtype=bool)[None, :, :]
                distances[blocked] = np.inf
                candidates = np.broadcast_to(idx[rows][:, None, :], distances.shape)
                keep = min(k, int(width) - 1)
                order = np.lexsort((candidates, distances), axis=-1)[:, :, :keep]
                best = np.take_along_axis(candidates, order, -1)
                best_distance = np.take_along_axis(distances, order, -1)
                wanted = np.minimum(k, size - 1)
                output = valid & is_query[rows]
                in_list = np.arange(keep)[None, None, :] < wanted[:, None, None]
                in_list = np.broadcast_to(in_list, best.shape)[output]
                positions.append(rows[output])
                lengths.append(np.broadcast_to(wanted[:, None], rows.shape)[output])
                neighbor_parts.append(best[output][in_list])
                distance_parts.append(best_distance[output][in_list])
        where = np.concatenate(positions)
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int32)
        queries = table.take(pa.array(where))
        columns: dict[str, Any] = {
            CLASS: queries.column(CLASS),
            IDX: queries.column(IDX),
            NBR: pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(np.concatenate(neighbor_parts), pa.int64())
            ),
            DIST: pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(np.concatenate(distance_parts), pa.float64())
            ),
        }
        fallback = pa.array(queries.column(_TABLE).to_numpy() == FALLBACK_TABLE)
        for name in carried:
            values = queries.column(name)
            columns[name] = pa.compute.if_else(fallback, values, pa.nulls(len(values), values.type))
        return pa.table({name: columns[name] for name in output_schema.names}).cast(output_schema)

    def top_k_of_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pending: pa.Table | None = None
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if pending is not None:
                table = pa.concat_tables([pending, table])
            if table.num_rows == 0:
                continue
            starts = group_starts(table)
            last = int(starts[-1])
            pending = table.slice(last)
            if len(starts) > 1:
                yield from run(table, starts[:-1], last).to_batches()
        if pending is not None and pending.num_rows:
            yield from run(pending, np.zeros(1, np.int64), pending.num_rows).to_batches()

    return top_k_of_chunks


def _chunk_memberships(hashed: DataFrame, step: int, fallback_step: int) -> DataFrame:
    """Rank rows within their bucket and copy each into the chunks that contain it.

    A bucket of n rows with n <= 2S (S = half the cap) is one chunk. Larger buckets
    are cut into ``ceil(n / S) - 1`` chunks; chunk j holds ranks [jS, jS + 2S) (the
    last one runs to n), so consecutive chunks overlap by S rows. A row is the query
    of the chunk in which it lies in the central half, so it sees at least S/2 ranks
    on each side (or everything up to the bucket's end).
    """
    bucket = Window.partitionBy(CLASS, _TABLE, _BUCKET)
    ranked = hashed.withColumn(
        _RANK, F.row_number().over(bucket.orderBy(_SPLIT, IDX)) - F.lit(1)
    ).withColumn(_BUCKET_ROWS, F.count(F.lit(1)).over(bucket))
    s = F.when(F.col(_TABLE) == F.lit(FALLBACK_TABLE), F.lit(fallback_step)).otherwise(F.lit(step))
    n, r = F.col(_BUCKET_ROWS), F.col(_RANK)
    single = n <= F.lit(2) * s
    last = F.greatest(F.ceil(n / s).cast("long") - F.lit(1), F.lit(1).cast("long")) - F.lit(1)
    query_chunk = F.least(
        F.greatest(F.floor((F.lit(2) * r - s) / (F.lit(2) * s)), F.lit(0).cast("long")), last
    )
    low = F.least(F.greatest(F.floor(r / s) - F.lit(1), F.lit(0).cast("long")), last)
    high = F.least(F.floor(r / s), last)
    chunks = F.when(single, F.array(F.lit(0).cast("long"))).otherwise(
        F.array_distinct(F.array(low, high))
    )
    query_chunk = F.when(single, F.lit(0).cast("long")).otherwise(query_chunk)
    return (
        ranked.withColumn(_QUERY_CHUNK, query_chunk)
        .withColumn(_CHUNK, F.explode(chunks))
        .withColumn(_IS_QUERY, F.col(_CHUNK) == F.col(_QUERY_CHUNK))
    )


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
    condition = F.lit(False)
    for ordinal, rows in indices.items():
        condition = condition | ((F.col(CLASS) == F.lit(ordinal)) & F.col(IDX).isin(rows))
    return condition


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
        qx, qi, rx, ri = x[is_query], idx[is_query], x[~is_query], idx[~is_query]
        n_query, n_ref = len(qx), len(rx)
        keep = min(k + 8, n_ref)
        if n_query and n_ref:
            approx = (
                np.einsum("ij,ij->i", qx, qx)[:, None]
                + np.einsum("ij,ij->i", rx, rx)[None, :]
                - 2.0 * (qx @ rx.T)
            )
            np.maximum(approx, 0.0, out=approx)
            is_self = qi[:, None] == ri[None, :]
            approx[is_self] = np.inf
            counts = np.zeros((n_query, _HIST_BINS), np.int64)
            bins = _histogram_bins(approx)
            bins[is_self] = -1
            rows = np.broadcast_to(np.arange(n_query)[:, None], bins.shape)
            valid = bins >= 0
            np.add.at(counts, (rows[valid], bins[valid]), 1)
            candidates = np.argpartition(approx, keep - 1, axis=1)[:, :keep]
            diff = qx[:, None, :] - rx[candidates]
            exact = np.einsum("ijk,ijk->ij", diff, diff)
            candidate_idx = ri[candidates]
            exact[candidate_idx == qi[:, None]] = np.inf
            order = np.lexsort((candidate_idx, exact), axis=1)[:, : min(k, keep)]
            picked = np.arange(n_query)[:, None]
            best, best_idx = exact[picked, order], candidate_idx[picked, order]
            finite = np.isfinite(best)
            m = int(finite.sum(axis=1).min()) if n_query else 0
            best, best_idx = np.sqrt(best[:, :m]), best_idx[:, :m]
        else:
            counts = np.zeros((n_query, _HIST_BINS), np.int64)
            best, best_idx = np.zeros((n_query, 0)), np.zeros((n_query, 0), np.int64)
        queries = group.filter(pa.array(is_query))
        return pa.table(
            {
                CLASS: queries.column(CLASS),
                IDX: queries.column(IDX),
                _KNN: list_column(best, pa.float64()),
                _KNN_IDX: list_column(best_idx, pa.int64()),
                _HIST: list_column(counts, pa.int64()),
            }
        ).cast(output_schema)

    return compare_block


def sample_exact_neighbors(
    points: DataFrame, indices: Mapping[int, list[int]], k: int, dimension: int
) -> DataFrame:
    """Exact k nearest distances (and histograms) of sampled rows against their class.

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
        Euclidean distances, ascending), ``_smote_knn_idx`` and ``_smote_hist``
        (counts of the query's squared distances to every other row of its class per
        log2 bin). Lazy; small enough to collect.

    Notes
    -----
    Each sampled query is copied to every reference block of its class; a group holds
    one block (4096 rows) and the sample, whatever the class size or skew.

    """
    references = points.select(
        CLASS,
        IDX,
        X,
        F.floor(F.col(IDX) / F.lit(_SAMPLE_BLOCK_ROWS)).cast("long").alias(_BLOCK),
        F.lit(1).alias(_ROLE),
    )
    n_blocks = F.ceil(F.col(SIZE) / F.lit(_SAMPLE_BLOCK_ROWS)).cast("long")
    queries = points.filter(_sample_condition(indices)).select(
        CLASS,
        IDX,
        X,
        F.explode(F.sequence(F.lit(0).cast("long"), n_blocks - F.lit(1))).alias(_BLOCK),
        F.lit(0).alias(_ROLE),
    )
    schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(_KNN, T.ArrayType(T.DoubleType())),
            T.StructField(_KNN_IDX, T.ArrayType(T.LongType())),
            T.StructField(_HIST, T.ArrayType(T.LongType())),
        ]
    )
    udf = _sample_udf(k, dimension, to_arrow_schema(schema))
    partial = queries.unionByName(references).groupBy(CLASS, _BLOCK).applyInArrow(udf, schema)
    pairs = F.flatten(
        F.collect_list(F.arrays_zip(F.col(_KNN).alias("d"), F.col(_KNN_IDX).alias("n")))
    )
    best = F.slice(F.array_sort(pairs), 1, k)
    zero = F.array_repeat(F.lit(0).cast("long"), _HIST_BINS)
    histogram = F.aggregate(
        F.collect_list(_HIST), zero, lambda acc, h: F.zip_with(acc, h, lambda a, b: a + b)
    )
    return partial.groupBy(CLASS, IDX).agg(
        F.transform(best, lambda s: s["d"]).alias(_KNN),
        F.transform(best, lambda s: s["n"]).alias(_KNN_IDX),
        histogram.alias(_HIST),
    )


def _tune_classes(
    points: DataFrame,
    sizes: Mapping[int, int],
    k: int,
    dimension: int,
    seed: int,
    params: LSHParams,
) -> dict[int, _Tuning]:
    """Run the tuning sample (one small Spark job) and choose parameters per class."""
    if (
        params.bucket_width is not None
        and params.hashes_per_table is not None
        and params.tables is not None
    ):
        fixed = _Tuning(
            params.bucket_width, params.hashes_per_table, params.tables, -1.0, -1.0, -1.0
        )
        return dict.fromkeys(sizes, fixed)
    indices = sample_indices(sizes, params.sample_size, seed, purpose=0)
    rows = (
        sample_exact_neighbors(points, indices, k, dimension).select(CLASS, _KNN, _HIST).collect()
    )
    tunings: dict[int, _Tuning] = {}
    for ordinal in sizes:
        mine = [row for row in rows if row[CLASS] == ordinal]
        knn = np.array([row[_KNN][:k] for row in mine if len(row[_KNN]) >= k], dtype=np.float64)
        knn = knn.reshape(-1, k)
        histogram = (
            np.sum([np.asarray(row[_HIST], dtype=np.int64) for row in mine], axis=0)
            if mine
            else np.zeros(_HIST_BINS, np.int64)
        )
        tunings[ordinal] = _tune(knn, histogram, len(mine), params)
    return tunings


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
        The points table (see :mod:`spark_smote._keys`).
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
        ``hashes_per_table``, ``tables``, ``bucket_cap``, ``fallback_chunk_rows``,
        ``estimated_recall`` (on the tuning sample, -1 when not tuned),
        ``expected_bucket_rows`` and ``kth_distance_median``.

    Raises
    ------
    InvalidParameterError
        Invalid ``params``.

    Notes
    -----
    Runs one small Spark job at call time (the tuning sample: each sampled row against
    its whole class, in blocks); only k distances and a 512-bin histogram per sampled
    row reach the driver. The returned DataFrame is lazy and costs, per class of n rows
    with L tables: a ``mapInArrow`` emitting (L + 1) n rows, one shuffle ranking them
    within buckets (the bucket UDF groups reuse its partitioning), and one shuffle
    merging (L + 1) candidate lists per row. No UDF group exceeds ``bucket_cap`` rows.

    """
    params = (params or LSHParams()).checked(k)
    tunings = _tune_classes(points, sizes, k, dimension, seed, params)
    hashes = {o: _draw_hash(seed, o, dimension, t) for o, t in tunings.items()}
    carried = [X, *([ID] if ID in points.schema.names else [])]
    point_fields = {f.name: f for f in points.schema.fields}
    hashed_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(_TABLE, T.IntegerType()),
            T.StructField(_BUCKET, T.LongType()),
            T.StructField(_SPLIT, T.DoubleType()),
            *[T.StructField(name, point_fields[name].dataType, True) for name in carried],
        ]
    )
    hash_rows = _hash_udf(hashes, dimension, to_arrow_schema(hashed_schema))
    hashed = points.select(CLASS, IDX, *carried).mapInArrow(hash_rows, hashed_schema)
    # Partitioned by bucket once: the ranking window and the chunk groups reuse it.
    hashed = hashed.repartition(CLASS, _TABLE, _BUCKET)
    members = _chunk_memberships(hashed, params.bucket_cap // 2, params.fallback_chunk_rows // 2)
    candidate_schema = T.StructType(
        [
            T.StructField(CLASS, T.IntegerType()),
            T.StructField(IDX, T.LongType()),
            T.StructField(NBR, T.ArrayType(T.LongType())),
            T.StructField(DIST, T.ArrayType(T.DoubleType())),
            *[T.StructField(name, point_fields[name].dataType, True) for name in carried],
        ]
    )
    stream = _chunk_stream_udf(k, dimension, to_arrow_schema(candidate_schema))
    candidates = (
        members.select(CLASS, IDX, _TABLE, _BUCKET, _CHUNK, _IS_QUERY, *carried)
        .sortWithinPartitions(CLASS, _TABLE, _BUCKET, _CHUNK, IDX)
        .mapInArrow(stream, candidate_schema)
    )
    merged = merge_candidates(candidates, k, carried, distinct_neighbors=True)
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
    neighbors = merged.select(
        CLASS, IDX, *carried, complete.cast(T.ArrayType(T.LongType())).alias(NBR)
    )
    report = NeighborReport()
    for ordinal, tuning in tunings.items():
        report.method[ordinal] = "lsh"
        report.parameters[ordinal] = {
            "bucket_width": tuning.width,
            "hashes_per_table": tuning.hashes,
            "tables": tuning.tables,
            "bucket_cap": params.bucket_cap,
            "fallback_chunk_rows": params.fallback_chunk_rows,
            "estimated_recall": round(tuning.estimated_recall, 4),
            "expected_bucket_rows": round(tuning.expected_bucket_rows, 1),
            "kth_distance_median": tuning.kth_distance_median,
            "sample_size": min(params.sample_size, sizes[ordinal]),
        }
    return neighbors, report


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
        'auto' searches classes of up to ``AUTO_EXACT_MAX_ROWS`` (25,000) rows exactly
        and larger ones with LSH.
    lsh_params : LSHParams, optional
        Overrides for the LSH search.

    Returns
    -------
    (DataFrame, NeighborReport)
        The neighbours table of all classes and what was done per class.

    Notes
    -----
    The 25,000-row threshold: exact search costs O(n^2 d) and needs no tuning job;
    LSH has a fixed cost (the tuning job, ``L + 1`` row copies with L around 15 at 95 %
    recall on 18-dimensional data) and gives up a few percent of recall. Measured in
    local[2]: a whole exact job on 0.3M rows with a 17.7k-row minority class took 49 s
    (bench/results_0.3M.md), while the LSH neighbour phase alone on a 170k-row class
    took minutes (README, "Neighbour search"). Exact work at 25,000 rows is about
    2x that of the 17.7k-row class, still well inside a job's budget, so exact is kept
    up to there; the crossover itself has not been timed (see the README).

    """
    if method == "exact":
        return exact_neighbors(points, sizes, k, dimension)
    if method == "lsh":
        return lsh_neighbors(points, sizes, k, dimension, seed, params=lsh_params)
    small = {o: n for o, n in sizes.items() if n <= AUTO_EXACT_MAX_ROWS}
    large = {o: n for o, n in sizes.items() if n > AUTO_EXACT_MAX_ROWS}
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


def describe(params: LSHParams) -> dict[str, Any]:
    """The parameters as a plain dict (for reports)."""
    return asdict(params)

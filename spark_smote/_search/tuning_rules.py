"""How LSH is tuned, in numpy: the parameters, the statistics of a class, the choice.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`); no Spark here
(:mod:`spark_smote._search.tuning` runs the statistics as Spark jobs). A seeded sample
of a class's rows gets its exact k nearest neighbours; the median k-th neighbour
distance sets two candidate bucket widths; for each, the rank of every sampled row and
of its true neighbours in every table's order is counted. Since a row's chunk is a
function of its rank and of the chunk size, those ranks tell exactly which true
neighbours the search would find for the sampled rows with every width, chunk size
and 1, 2, ... tables (:func:`recall_by_tables`), and :func:`choose_parameters` picks
the cheapest combination that reaches the target recall. That sample recall is the
``estimated_recall`` the search reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import pyarrow as pa

from spark_smote._arrow import list_column
from spark_smote._errors import InvalidParameterError
from spark_smote._search.cells import Cells
from spark_smote._search.hashing import ClassHash, probe_ranks
from spark_smote._search.kernels import chunk_ranges, sample_block_neighbors

__all__ = [
    "CAP_CHOICES",
    "DEFAULT_CAP",
    "KNN_DISTANCES",
    "KNN_INDICES",
    "LARGE_CAP_CHOICES",
    "MANY_ROWS",
    "RANKS",
    "SAMPLE_BLOCK_ROWS",
    "WIDTH_FACTORS",
    "LSHParams",
    "TunedClasses",
    "Tuning",
    "base_width",
    "candidate_curves",
    "check_shared_fields",
    "choose_parameters",
    "class_statistics",
    "hashes_for",
    "recall_by_tables",
]

# Columns of the tuning statistics per sampled row or probe: its exact neighbours'
# distances and indices, and its ranks.
KNN_DISTANCES = "_smote_knn_dist"
KNN_INDICES = "_smote_knn_idx"
RANKS = "_smote_ranks"
# Rows per reference block of the sample's exact search: one block and the sample
# stay small in one task.
SAMPLE_BLOCK_ROWS = 4096
# Candidate bucket widths, as multiples of the sample's median k-th neighbour distance;
# the one that reaches the target with the fewest tables wins, the first on a tie (4
# was best or level on every data set measured; 2 never was).
WIDTH_FACTORS = (4.0, 8.0)
# Candidate chunk sizes the tuner chooses from (``bucket_cap``), and the cost of one
# row's copy in one table (hashing, shuffle, sort, merge) in units of candidates ranked
# (about 2.2 ns each): the tuner picks the (width, cap, tables) reaching the target at
# the least ``tables * (cap + this)``. Timed at 2.88M rows the cost is about 3600;
# 3000 makes the same choices on every data set measured.
CAP_CHOICES = (1024, 2048, 4096)
# Larger chunks, tried only when no chunk of CAP_CHOICES reaches the target within
# max_tables: wide rows (64 and 100 features at 0.6M and 0.25M rows) reach 0.84-0.89
# with 16 tables of 4096 and 0.97-0.98 with 16 of 8192 (the tuning's statistics are
# ranks, so trying them costs nothing; a chunk of 2**14 rows is the kernels' largest).
LARGE_CAP_CHOICES = (8192, 16384)
_TABLE_ROW_COST = 3000
# The cap when width and tables are both fixed (nothing is sampled to choose one).
DEFAULT_CAP = 2048


class _SharedFields(Protocol):
    """The fields the same-class and the cross-class LSH parameters share."""

    @property
    def bucket_width(self) -> float | None: ...
    @property
    def hashes_per_table(self) -> int | None: ...
    @property
    def tables(self) -> int | None: ...
    @property
    def target_recall(self) -> float: ...
    @property
    def sample_size(self) -> int: ...
    @property
    def max_tables(self) -> int: ...


# The counts both LSH parameter classes take, and the fix an error about each names.
_COUNT_FIXES = (
    ("hashes_per_table", ", e.g. 4."),
    ("tables", ", or None to tune it."),
    ("sample_size", ", e.g. 256."),
    ("max_tables", ", e.g. 16."),
)


# Rows searched above which an LSH search defaults to eight hash functions per table
# (hashes_for). Cross-class (all rows of all classes): between the sizes measured with
# both counts, 3000 and 300k rows. Same-class: between a class of 170k rows, where eight
# cost as much time as they save, and classes of 1.77M and 3M rows, where they save a
# quarter of the search's time.
MANY_ROWS = 100_000
MANY_CLASS_ROWS = 1_000_000


def hashes_for(rows: int, given: int | None, *, above: int = MANY_ROWS) -> int:
    """Hash functions per table of an LSH search over ``rows`` rows: ``given``, else by size.

    Eight above ``above`` rows, else four. Dense references want tighter buckets.
    Cross-class, on the 0.3M and 2.88M benchmark sets (18 features, k = 10), eight reach
    recall 0.97 with a half to a quarter of the candidates per query four need; on a few
    thousand rows eight leave too few rows per bucket (ENN at 3000 rows agreed with
    exact search on 0.93 of removals). Same-class (k = 5; ``jobs/BENCHMARKS.md``): on
    the 12M set's 3M minority rows eight reach 0.97 with 12 tables of 4096 rows (0.973
    with 16 of 2048) where four reach 0.935 with 16 of 4096; on the 2.88M set's 170k
    minority rows eight need 10 tables of 1024 rows where four need 9 of 2048, and
    hashing twice the directions costs what the smaller chunks save.
    """
    if given is not None:
        return given
    return 8 if rows > above else 4


def check_shared_fields(
    owner: str, params: _SharedFields, optional: tuple[str, ...] = ("tables",)
) -> None:
    """Check the fields both LSH searches take (all but ``bucket_cap``).

    The counts named in ``optional`` may also be None (chosen by the search).

    Raises
    ------
    InvalidParameterError
        A value outside its range, naming ``owner.field``, the value and the fix.

    """
    width = params.bucket_width
    if width is not None and not (math.isfinite(width) and width > 0):
        raise InvalidParameterError(
            f"{owner}.bucket_width={width!r}: must be a positive finite number (feature "
            "units), or None to tune it from a sample."
        )
    for name, fix in _COUNT_FIXES:
        value = getattr(params, name)
        if value is None and name in optional:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            if name in optional and name != "tables":
                fix = f"{fix[:-1]}, or None to choose it by size."
            raise InvalidParameterError(f"{owner}.{name}={value!r}: must be an integer >= 1{fix}")
    if not 0.0 < params.target_recall < 1.0:
        raise InvalidParameterError(
            f"{owner}.target_recall={params.target_recall!r}: must lie in (0, 1), e.g. 0.97."
        )


@dataclass(frozen=True)
class LSHParams:
    """Parameters of the LSH neighbour search; ``None`` fields are tuned per class.

    Attributes
    ----------
    bucket_width : float, optional
        Width ``w`` of each hash function's buckets, in feature units. Tuned: the better
        of 4 and 8 times the sample's median k-th neighbour distance.
    hashes_per_table : int, optional
        Hash functions ANDed into one bucket key (``m``). None: 8 for a class of more
        than 1,000,000 rows, else 4 (:func:`hashes_for`).
    tables : int, optional
        Hash tables ORed (``L``). Tuned: the fewest that reach ``target_recall`` on the
        sample (at most ``max_tables``).
    bucket_cap : int, optional
        Rows of one chunk, the most handed to one distance computation; larger
        buckets are split into overlapping chunks. Must be at least ``4 * (k + 1)``
        (odd values are rounded up). Tuned: 1024, 2048 or 4096, whichever reaches the
        target at the least estimated cost (``tables * (bucket_cap + 3000)``); 8192 or
        16384 when none of them does (wide rows).
    target_recall : float, default 0.97
        Recall@k the tuner requires on its sample.
    sample_size : int, default 256
        Query rows per class used for tuning.
    max_tables : int, default 16
        Upper bound on the tuned ``tables``.

    """

    bucket_width: float | None = None
    hashes_per_table: int | None = None
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
        check_shared_fields("LSHParams", self, optional=("tables", "hashes_per_table"))
        cap = self.bucket_cap
        if cap is not None and (
            not isinstance(cap, int) or isinstance(cap, bool) or cap < 4 * (k + 1)
        ):
            raise InvalidParameterError(
                f"LSHParams.bucket_cap={cap!r}: must be an integer >= 4 * "
                f"(k_neighbors + 1) = {4 * (k + 1)}, or None to tune it."
            )
        return replace(self, bucket_cap=None if cap is None else cap + cap % 2)


@dataclass(frozen=True)
class Tuning:
    """The parameters chosen for one class, and the sample recall they reach."""

    width: float
    cap: int
    tables: int
    sample_recall: float
    kth_distance_median: float
    recall_by_tables: tuple[float, ...] = ()


@dataclass(frozen=True)
class TunedClasses:
    """What the tuning hands an LSH search: per class ordinal, rows, parameters, hashes.

    ``cells``: the cells of the classes searched in cells (:mod:`spark_smote._search.cells`).
    """

    sizes: Mapping[int, int]
    tunings: Mapping[int, Tuning]
    hashes: Mapping[int, ClassHash]
    cells: Mapping[int, Cells] = field(default_factory=dict)

    def of(self, classes: Collection[int]) -> TunedClasses:
        """The same, for ``classes`` only."""
        chosen = set(classes)
        return TunedClasses(
            {o: n for o, n in self.sizes.items() if o in chosen},
            {o: t for o, t in self.tunings.items() if o in chosen},
            {o: h for o, h in self.hashes.items() if o in chosen},
            {o: c for o, c in self.cells.items() if o in chosen},
        )


def base_width(knn: np.ndarray) -> float:
    """Median k-th neighbour distance of the sample (of its nonzero ones if needed)."""
    kth = knn[:, -1] if knn.size else np.zeros(0)
    for values in (kth, kth[kth > 0], knn[knn > 0]):
        if values.size and float(np.median(values)) > 0:
            return float(np.median(values))
    return 1.0


def candidate_curves(
    recall_of: Callable[[int, int], np.ndarray],
    widths: Sequence[float],
    caps: Sequence[int],
    params: LSHParams,
) -> dict[tuple[float, int], np.ndarray]:
    """The recall curve of each (width, cap) the tuner chooses from.

    ``recall_of(w, cap)`` is the sample recall with 1, 2, ... tables of the ``w``-th
    width and chunks of ``cap`` rows. Every width with every cap of ``caps``; when
    none of them reaches ``params.target_recall`` and the cap is tuned, also with
    every cap of :data:`LARGE_CAP_CHOICES`.
    """
    curves: dict[tuple[float, int], np.ndarray] = {}
    larger = LARGE_CAP_CHOICES if params.bucket_cap is None else ()
    for chunk_sizes in (caps, larger):
        if any((curve >= params.target_recall).any() for curve in curves.values()):
            break
        for w, width in enumerate(widths):
            for cap in chunk_sizes:
                curves[width, cap] = recall_of(w, cap)
    return curves


def choose_parameters(
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


def recall_by_tables(
    query_ranks: np.ndarray,
    neighbor_ranks: np.ndarray,
    found: np.ndarray,
    n: int,
    step: int,
    reachable: np.ndarray | None = None,
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
    reachable : ndarray of bool (queries, k), optional
        Neighbours the search can find at all (those in the query's cell, for a class
        searched in cells); None: every one.

    Returns
    -------
    ndarray (tables,)
        Fraction of the true neighbours in the chunks of the first 1, 2, ... tables.

    """
    lo, hi = chunk_ranges(query_ranks, n, step)
    inside = (neighbor_ranks >= lo[:, None, :]) & (neighbor_ranks < hi[:, None, :])
    hits = np.logical_or.accumulate(inside, axis=2) | found[:, :, None]
    if reachable is not None:
        hits &= reachable[:, :, None]
    return hits.mean(axis=(0, 1)) if hits.size else np.ones(query_ranks.shape[1])


def class_statistics(
    x: np.ndarray,
    sample: np.ndarray,
    k: int,
    spec: ClassHash,
    bucket_width: float | None,
) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Both tuning statistics of one whole class, its rows ``x`` in index order.

    The same numbers as the two tuning jobs (:func:`sample_exact_neighbors`, then
    :func:`sample_ranks`), from the same functions: the sample against the class in
    blocks of ``SAMPLE_BLOCK_ROWS`` rows merged by (distance, index), the widths
    from the sample's k-th distances, then every probe's rank counted against the
    whole class.

    Returns
    -------
    (probes, columns)
        The probes' indices (sampled rows and their true neighbours), and per probe,
        as the Arrow columns ``KNN_DISTANCES``, ``KNN_INDICES`` and ``RANKS``: its exact
        neighbours' distances and indices (empty unless sampled) and its ranks.

    """
    n = len(x)
    idx = np.arange(n, dtype=np.int64)  # the index is dense: 0 ... n - 1
    blocks = [
        sample_block_neighbors(x[sample], sample, x[lo:hi], idx[lo:hi], k)
        for lo in range(0, n, SAMPLE_BLOCK_ROWS)
        for hi in [lo + SAMPLE_BLOCK_ROWS]
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
        widths = [base_width(dist.reshape(-1, k)) * f for f in WIDTH_FACTORS]
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
        KNN_DISTANCES: pa.array(knn, pa.list_(pa.float64())),
        KNN_INDICES: pa.array(knn_idx, pa.list_(pa.int64())),
        RANKS: list_column(counts, pa.int64()),
    }

"""The plan: which internal path each later phase takes, decided once from sizes.

input -> features -> strategy -> **plan** -> keys -> neighbour search -> synthesis -> output

The strategy gives the rows per class and the rows to add; from those sizes, the
feature count and the parameters, :func:`make_plan` decides every internal path at
once (a :class:`RunPlan`), and the later phases read it instead of deciding for
themselves: which search each class gets (exact, LSH searched whole, LSH per table),
how an LSH class is tuned (in one task holding it, or by jobs over blocks of it),
where the rows are numbered (Spark's window, or one numpy task per class that also
computes the tuning statistics), whether the search's tasks draw the synthetic rows
(the fused path), and whether lookups broadcast or shuffle. None of these choices
changes a result: every path gives the same rows, bit for bit.

The samplers that search among all classes (Borderline-SMOTE's danger set, ADASYN's
ratios, the cleaners) build their search's plan with :func:`plan_search` too, with
``reference='all'``: one method for every query class, exact or LSH by the total rows.

The thresholds live in :class:`PlanLimits`; its switches turn each performance special
case off, for measuring what it buys. Tests build a plan (or limits) directly and hand
it to the phases. Besides its fields a private setting reads the environment: the
variable ``SPARK_SMOTE_DISABLE``, a comma-separated list of ``fused-draws``,
``one-task-tuning``, ``numpy-numbering`` and ``whole-class-search``
(:meth:`PlanLimits.from_environment`) and ``python-daemon`` (:mod:`spark_smote._daemon`,
read by the worker daemon itself, so it applies where the workers inherit the driver's
environment, as in local mode).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from pyspark.sql import types as T

from spark_smote._errors import InvalidParameterError
from spark_smote._features import INTEGRAL_TYPES

__all__ = [
    "DISABLE_VARIABLE",
    "METHODS",
    "REFERENCES",
    "PlanLimits",
    "RunPlan",
    "SearchPlan",
    "disabled",
    "make_plan",
    "plan_search",
]

# The private setting that switches performance special cases off (module docstring).
DISABLE_VARIABLE = "SPARK_SMOTE_DISABLE"
_SWITCHES = (
    "fused-draws",
    "one-task-tuning",
    "numpy-numbering",
    "whole-class-search",
    "python-daemon",
)

# The ``neighbor_search`` values, and the references a search may look its neighbours up
# in: the query row's own class, or all rows of all classes.
METHODS = ("auto", "exact", "lsh")
REFERENCES = ("own", "all")
_LIMIT_NAME = "(PlanLimits.auto_exact_max_rows)"

# id types Arrow sorts as Spark's window does, so one numpy task can number rows by them.
_SORTABLE_ID_TYPES = (
    *INTEGRAL_TYPES,
    T.FloatType,
    T.DoubleType,
    T.StringType,
    T.BinaryType,
    T.DateType,
    T.BooleanType,
)


def disabled(switch: str) -> bool:
    """Whether ``SPARK_SMOTE_DISABLE`` lists ``switch`` (one of the module's switches)."""
    if switch not in _SWITCHES:
        raise ValueError(f"unknown switch {switch!r}; known: {', '.join(_SWITCHES)}")
    listed = os.environ.get(DISABLE_VARIABLE, "")
    return switch in {part.strip() for part in listed.split(",")}


@dataclass(frozen=True)
class PlanLimits:
    """The thresholds and switches :func:`make_plan` decides by.

    Attributes
    ----------
    auto_exact_max_rows : int
        Under ``neighbor_search='auto'`` classes up to this many rows are searched
        exactly: exact search costs O(n^2 d), and up to 10,000 rows of 18 features it
        costs at most a fraction of a second more than LSH (``python
        jobs/recall_benchmark.py threshold``), while giving the exact neighbours. A
        search among all classes compares the total rows with it.
    whole_class_bytes : int
        LSH classes whose features take up to this many bytes are searched whole: each
        search task holds the class (about 3x its features in memory), which stays
        under the ~1 GB Databricks serverless gives a UDF process. Larger classes are
        cut into spatial cells of at most this size, each searched whole
        (:mod:`spark_smote._search.cells`). A search among all classes compares the
        features of all rows with it.
    cell_class_bytes : int
        Classes whose features exceed ``whole_class_bytes`` are cut into cells up to
        this size (4 GB: 16 times a cell, while the cut may make up to 64 cells, for the
        halos and the sizing margin); larger ones run over per-table copies.
    one_task_tuning_bytes : int
        Classes searched whole whose features take up to this many bytes are also tuned
        (and, with ``numpy_numbering``, numbered) in one task holding the class in
        Arrow and numpy at once; larger ones are tuned by jobs over blocks.
    max_tasks_per_class : int
        The most tasks a whole-class search gives one class: every task orders the
        whole class in every table (about 0.3 us per row and table, against 5.8 us of
        ranking shared among the tasks), so with 4 the repeated work is a fifth of the
        ranking.
    draws_per_search_task : int
        Synthetic rows per task when the search's tasks draw them; above
        ``max_tasks_per_class`` tasks' worth the rows are drawn in Spark instead. It
        bounds a task's time, not its memory (draws are made in bounded chunks).
    exact_block_rows : int, optional
        Rows per block of the exact search; None: 2048, fewer for wide rows
        (:func:`exact_block_rows`).
    cross_exact_block_rows : int
        Rows per block of the exact search among all classes: a group holds a query
        block and a reference block, and its distances (B x B float64) take 8 MB.
    max_reference_shards : int
        A search among all classes whose features exceed ``whole_class_bytes`` is
        still held by its tasks, cut into up to this many shards of at most
        ``whole_class_bytes`` each; beyond, it runs over per-table copies. Each shard
        ranks every query against its own chunk, so the distance work grows with
        the shards, against one shuffle and sort of every row per table.
    shard_query_bytes : int
        Shards are used only when the queries' features take up to this: every task
        holds every query (to keep only the buckets holding one), and every shard
        ranks every query, which with many queries (a cleaner's, every row) costs
        more than the per-table copies.
    rows_per_index_bucket : int
        The keys phase numbers a class larger than this in several parallel buckets.
    broadcast_lookup_bytes : int
        Tables of minority rows up to this estimated size are broadcast to the joins
        that look rows up in them, instead of shuffling the other side.
    case_max_classes : int
        Up to this many classes to grow, the keys pass finds a row's class by a CASE
        over their labels; above, by a broadcast join with the class table (a CASE of
        many branches per input row would cost more than the join).
    fused_draws, one_task_tuning, numpy_numbering, whole_class_search : bool
        Switches of the performance special cases (all on by default): draws made in
        the search's tasks; tuning in one task per class; numbering in one numpy task
        per class (with the tuning statistics); the whole-class LSH search. Off, the
        general path runs: the same rows, usually slower.

    """

    auto_exact_max_rows: int = 10_000
    whole_class_bytes: int = 256 << 20
    cell_class_bytes: int = 4 << 30
    one_task_tuning_bytes: int = 64 << 20
    max_tasks_per_class: int = 4
    draws_per_search_task: int = 8_000_000
    exact_block_rows: int | None = None
    cross_exact_block_rows: int = 1024
    max_reference_shards: int = 16
    shard_query_bytes: int = 64 << 20
    rows_per_index_bucket: int = 200_000
    broadcast_lookup_bytes: int = 64 << 20
    case_max_classes: int = 64
    fused_draws: bool = True
    one_task_tuning: bool = True
    numpy_numbering: bool = True
    whole_class_search: bool = True

    @classmethod
    def from_environment(cls) -> PlanLimits:
        """The default limits, with the switches listed in ``SPARK_SMOTE_DISABLE`` off."""
        return cls(
            fused_draws=not disabled("fused-draws"),
            one_task_tuning=not disabled("one-task-tuning"),
            numpy_numbering=not disabled("numpy-numbering"),
            whole_class_search=not disabled("whole-class-search"),
        )


@dataclass(frozen=True)
class SearchPlan:
    """Which rows the neighbour search answers, among which rows, by which method.

    Attributes
    ----------
    class_sizes : dict
        Rows per class ordinal whose rows are queries (every row of the class).
    exact_classes, whole_classes, per_table_classes : frozenset of int
        The classes searched exactly, by LSH with each task holding the class (or one
        cell of it), and by LSH over per-table copies. Together they are
        ``class_sizes``' keys.
    cell_classes : frozenset of int
        Classes of ``whole_classes`` cut into spatial cells of at most ``cell_bytes``
        of features, each searched whole. With reference 'all', every query class:
        the rows of all classes are cut together.
    cell_bytes : int
        The features a cell may hold.
    reference : {'own', 'all'}
        Where a query's neighbours are looked up: 'own', among the other rows of its
        class; 'all', among all rows of every class of ``reference_sizes``, with their
        classes (one method for every query class; ``whole_classes`` then means LSH
        with every row of every class held by each task).
    reference_sizes : dict
        With ``reference='all'``: rows per class ordinal of every class of the points
        table; empty with 'own'.
    reason : str
        Why these methods: the asked ``neighbor_search``, or the rule 'auto' applied.
    one_task_tuning : frozenset of int
        Classes of ``whole_classes`` tuned by one task holding the class; the other
        LSH classes are tuned by jobs over blocks of the class.
    statistics_on_points : bool
        The points table carries the tuning statistics (numbered and tuned in one task
        per class by the keys phase); the search collects them instead of computing.
    exact_block_rows : int
        Rows per block of the exact search.
    min_tasks_per_class, max_tasks_per_class : int
        Bounds of the tasks a whole-class search gives a class.
    broadcast_row_lookup : bool
        The per-table search looks the rows' features up by a broadcast join.
    reference_shards : int
        With reference 'all' searched whole: the shards the rows are cut into, each
        held by its own tasks.

    """

    class_sizes: Mapping[int, int]
    exact_classes: frozenset[int] = frozenset()
    whole_classes: frozenset[int] = frozenset()
    per_table_classes: frozenset[int] = frozenset()
    reference: str = "own"
    reference_sizes: Mapping[int, int] = field(default_factory=dict)
    reason: str = ""
    one_task_tuning: frozenset[int] = frozenset()
    statistics_on_points: bool = False
    exact_block_rows: int = 2048
    min_tasks_per_class: int = 1
    max_tasks_per_class: int = 4
    broadcast_row_lookup: bool = True
    reference_shards: int = 1
    cell_classes: frozenset[int] = frozenset()
    cell_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        chosen = self.exact_classes | self.whole_classes | self.per_table_classes
        overlap = (
            (self.exact_classes & self.whole_classes)
            | (self.exact_classes & self.per_table_classes)
            | (self.whole_classes & self.per_table_classes)
        )
        if chosen != set(self.class_sizes) or overlap:
            raise ValueError(
                f"SearchPlan: every class needs exactly one search, got exact="
                f"{sorted(self.exact_classes)}, whole={sorted(self.whole_classes)}, "
                f"per_table={sorted(self.per_table_classes)} for {sorted(self.class_sizes)}"
            )
        if not self.one_task_tuning <= self.whole_classes:
            raise ValueError("SearchPlan: only classes searched whole are tuned in one task")
        if not self.cell_classes <= self.whole_classes or (
            self.reference == "all" and self.cell_classes and self.reference_shards != 1
        ):
            raise ValueError(
                "SearchPlan: only classes searched whole, unsharded, are cut into cells"
            )
        if self.statistics_on_points and self.one_task_tuning != (
            self.whole_classes | self.per_table_classes
        ):
            raise ValueError(
                "SearchPlan: statistics on the points need every class tuned in one task"
            )
        if self.reference not in REFERENCES:
            raise ValueError(
                f"SearchPlan: reference={self.reference!r}, must be one of {list(REFERENCES)}"
            )
        if self.reference == "all":
            self._check_all_classes()
        elif self.reference_sizes:
            raise ValueError("SearchPlan: reference_sizes go with reference='all' only")

    def _check_all_classes(self) -> None:
        """Among all classes: query classes of the reference, one search for them all."""
        if any(self.reference_sizes.get(o) != n for o, n in self.class_sizes.items()):
            raise ValueError(
                f"SearchPlan: the query classes {dict(self.class_sizes)} must be classes "
                f"of reference_sizes {dict(self.reference_sizes)}, of the same sizes"
            )
        if sum(map(bool, (self.exact_classes, self.whole_classes, self.per_table_classes))) > 1:
            raise ValueError(
                "SearchPlan: a search among all classes runs one search for every query "
                "class: exact, LSH holding every row, or LSH over per-table copies"
            )

    @property
    def lsh_classes(self) -> frozenset[int]:
        """The classes searched by LSH (whole or per table)."""
        return self.whole_classes | self.per_table_classes

    def sizes_of(self, classes: frozenset[int]) -> dict[int, int]:
        """Rows per class ordinal of ``classes``, in ``class_sizes`` order."""
        return {o: n for o, n in self.class_sizes.items() if o in classes}


@dataclass(frozen=True)
class RunPlan:
    """Every internal path of one run (see the module docstring).

    Attributes
    ----------
    search : SearchPlan
        How the neighbour search runs.
    numbered_in_tasks : bool
        The keys phase numbers each class in one numpy task, which also computes the
        class's tuning statistics; otherwise Spark's window numbers the rows.
    index_bucket_rows : int
        Rows per bucket of the window numbering.
    classes_by_label_case : bool
        The keys pass finds a row's class by a CASE over the labels (else a join).
    spread_points : bool
        The points are spread over tasks before being materialised (the per-table
        and exact searches read them in place); not when every class is searched
        whole, which sends each class to its tasks through a shuffle anyway.
    draws_in_search : bool
        The whole-class search's tasks draw the synthetic rows (the fused path): the
        neighbours table is never written out, shuffled or looked up.
    broadcast_lookups : bool
        The synthesis looks bases and neighbours up by broadcast joins (else shuffles).

    """

    search: SearchPlan
    numbered_in_tasks: bool = False
    index_bucket_rows: int = 200_000
    classes_by_label_case: bool = True
    spread_points: bool = True
    draws_in_search: bool = False
    broadcast_lookups: bool = True


def exact_block_rows(k: int, dimension: int, limit: int = 2048) -> int:
    """Rows per block of the exact search: ``limit``, fewer for wide rows.

    The exact re-ranking gathers ``rows x (k + 9) x dimension`` values per block pair;
    they stay under 2M, with never fewer than 256 rows per block.
    """
    return max(256, min(limit, 2_000_000 // max(1, dimension * (k + 9))))


def plan_search(
    class_sizes: Mapping[int, int],
    k: int,
    dimension: int,
    method: str,
    limits: PlanLimits | None = None,
    *,
    reference: str = "own",
    query_classes: Collection[int] | None = None,
) -> SearchPlan:
    """The neighbour search's plan for classes of these sizes.

    Parameters
    ----------
    class_sizes : mapping
        Rows per class ordinal: the classes searched, or with ``reference='all'``
        every class of the points table.
    k : int
        Neighbours per row.
    dimension : int
        Values per row the search compares (features and encoded categories).
    method : {'auto', 'exact', 'lsh'}
        The ``neighbor_search`` parameter.
    limits : PlanLimits, optional
        Thresholds and switches (default: :meth:`PlanLimits.from_environment`).
    reference : {'own', 'all'}
        Neighbours among the other rows of the query's class, or among all rows of
        all classes (one method for every query class: 'auto' compares the total
        rows with ``limits.auto_exact_max_rows``).
    query_classes : collection of int, optional
        The class ordinals whose rows are queries; None: every class.

    Raises
    ------
    InvalidParameterError
        ``method`` unknown; with ``reference='all'``, ``k`` out of range or
        ``query_classes`` naming no class of ``class_sizes``.

    """
    limits = limits or PlanLimits.from_environment()
    if method not in METHODS:
        raise InvalidParameterError(
            f"neighbor_search={method!r}: must be one of {list(METHODS)}; 'auto' picks "
            f"exact search up to {limits.auto_exact_max_rows} rows and LSH above."
        )
    if reference not in REFERENCES:
        raise ValueError(f"reference={reference!r}: must be one of {list(REFERENCES)}")
    chosen = _query_classes(class_sizes, query_classes)
    if reference == "all":
        return _plan_all_classes(class_sizes, chosen, k, dimension, method, limits)
    sizes = {o: n for o, n in class_sizes.items() if o in chosen}
    if method == "exact":
        lsh: set[int] = set()
    else:
        lsh = {o for o, n in sizes.items() if method == "lsh" or n > limits.auto_exact_max_rows}
    held = max(limits.whole_class_bytes, limits.cell_class_bytes)
    whole = {o for o in lsh if limits.whole_class_search and sizes[o] * dimension * 8 <= held}
    cells = {o for o in whole if sizes[o] * dimension * 8 > limits.whole_class_bytes}
    one_task = {
        o
        for o in whole - cells
        if limits.one_task_tuning and sizes[o] * dimension * 8 <= limits.one_task_tuning_bytes
    }
    block_rows = (
        limits.exact_block_rows
        if limits.exact_block_rows is not None
        else exact_block_rows(k, dimension)
    )
    return SearchPlan(
        class_sizes=sizes,
        exact_classes=frozenset(set(sizes) - lsh),
        whole_classes=frozenset(whole),
        per_table_classes=frozenset(lsh - whole),
        cell_classes=frozenset(cells),
        cell_bytes=limits.whole_class_bytes,
        reason=_reason(method, limits),
        one_task_tuning=frozenset(one_task),
        exact_block_rows=block_rows,
        max_tasks_per_class=limits.max_tasks_per_class,
        broadcast_row_lookup=sum(sizes[o] for o in lsh - whole) * (dimension + 4) * 8
        <= limits.broadcast_lookup_bytes,
    )


def _reason(method: str, limits: PlanLimits, rows: int | None = None) -> str:
    """Why the methods: the asked one, or the rule 'auto' applied (to ``rows`` in all)."""
    if method != "auto":
        return f"asked: neighbor_search={method!r}"
    limit = limits.auto_exact_max_rows
    if rows is None:
        return f"auto: classes of up to {limit} rows exact, larger ones by LSH " + _LIMIT_NAME
    relation = "<=" if rows <= limit else ">"
    return f"auto: {rows} rows {relation} {limit} " + _LIMIT_NAME


def _query_classes(sizes: Mapping[int, int], query_classes: Collection[int] | None) -> set[int]:
    """The query class ordinals, checked against the classes of ``sizes``."""
    if query_classes is None:
        return set(sizes)
    chosen = {int(c) for c in query_classes}
    unknown = sorted(c for c in chosen if c not in sizes)
    if unknown:
        raise InvalidParameterError(
            f"query_classes={unknown}: no such class ordinal in the points table "
            f"(present: {sorted(sizes)}). Pass ordinals of present classes, or None for all."
        )
    if not chosen:
        raise InvalidParameterError(
            "query_classes=[]: no query rows. Pass at least one class ordinal, or None for "
            "every row."
        )
    return chosen


def _plan_all_classes(
    sizes: Mapping[int, int],
    chosen: set[int],
    k: int,
    dimension: int,
    method: str,
    limits: PlanLimits,
) -> SearchPlan:
    """The plan of a search among all rows of all classes: one method, by total rows.

    LSH holds every row in each search task when their features fit
    ``limits.whole_class_bytes`` (as the whole-class search holds a class), cut into
    shards of that size up to ``limits.max_reference_shards`` when the queries' features
    fit ``limits.shard_query_bytes``, else into spatial cells of that size when they fit
    ``limits.cell_class_bytes`` (every query class is then a cell class), else it runs
    over per-table copies.
    """
    rows = sum(sizes.values())
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidParameterError(f"k={k!r}: must be an integer >= 1, e.g. 5.")
    if k > rows - 1:
        raise InvalidParameterError(
            f"k={k}: each row needs k neighbours among the other rows of all classes, "
            f"but the input has {rows} rows (at most k = {rows - 1}). Lower k to at most "
            f"{rows - 1}, or add rows."
        )
    exact = method == "exact" or (method == "auto" and rows <= limits.auto_exact_max_rows)
    shards = -(-rows * dimension * 8 // limits.whole_class_bytes)
    queries = frozenset(chosen)
    query_bytes = sum(n for o, n in sizes.items() if o in queries) * dimension * 8
    lsh = not exact and limits.whole_class_search
    sharded = lsh and (
        shards == 1
        or (shards <= limits.max_reference_shards and query_bytes <= limits.shard_query_bytes)
    )
    cut = lsh and not sharded and rows * dimension * 8 <= limits.cell_class_bytes
    whole = sharded or cut
    return SearchPlan(
        class_sizes={o: n for o, n in sizes.items() if o in queries},
        exact_classes=queries if exact else frozenset(),
        whole_classes=queries if whole else frozenset(),
        per_table_classes=frozenset() if exact or whole else queries,
        reference="all",
        reference_sizes=dict(sizes),
        reason=_reason(method, limits, rows),
        exact_block_rows=limits.cross_exact_block_rows,
        reference_shards=shards if sharded else 1,
        cell_classes=queries if cut else frozenset(),
        cell_bytes=limits.whole_class_bytes,
    )


def make_plan(
    class_sizes: Mapping[int, int],
    new_rows: Mapping[int, int],
    *,
    k: int,
    dimension: int,
    method: str,
    id_type: T.DataType | None,
    carries_row_values: bool,
    limits: PlanLimits | None = None,
) -> RunPlan:
    """Decide every internal path of a run from its sizes.

    Parameters
    ----------
    class_sizes : mapping
        Rows per class ordinal to grow.
    new_rows : mapping
        Synthetic rows to add per class ordinal.
    k, dimension, method, limits
        As for :func:`plan_search`.
    id_type : DataType or None
        The ``id_col`` type, None without one.
    carries_row_values : bool
        Synthetic rows take per-row values other than the features (categorical
        votes, pass-through columns): they are drawn in Spark from the neighbours table.

    Returns
    -------
    RunPlan

    """
    limits = limits or PlanLimits.from_environment()
    search = plan_search(class_sizes, k, dimension, method, limits)
    all_whole = bool(class_sizes) and search.whole_classes == set(class_sizes)
    total_new = sum(new_rows.values())
    draws_in_search = (
        limits.fused_draws
        and not carries_row_values
        and all_whole
        and total_new <= limits.max_tasks_per_class * limits.draws_per_search_task
    )
    numbered_in_tasks = (
        draws_in_search
        and limits.numpy_numbering
        and (id_type is None or isinstance(id_type, _SORTABLE_ID_TYPES))
        and search.one_task_tuning == set(class_sizes)
    )
    min_tasks = 1
    if draws_in_search:
        # Per class: enough tasks for its draws (every task holds the class).
        needed = max(-(-n // limits.draws_per_search_task) for n in new_rows.values())
        min_tasks = min(needed, limits.max_tasks_per_class)
    lookup_bytes = sum(class_sizes.values()) * (dimension + k + 4) * 8
    return RunPlan(
        search=replace(
            search, statistics_on_points=numbered_in_tasks, min_tasks_per_class=min_tasks
        ),
        numbered_in_tasks=numbered_in_tasks,
        index_bucket_rows=limits.rows_per_index_bucket,
        classes_by_label_case=len(class_sizes) <= limits.case_max_classes,
        spread_points=not all_whole,
        draws_in_search=draws_in_search,
        broadcast_lookups=lookup_bytes <= limits.broadcast_lookup_bytes,
    )

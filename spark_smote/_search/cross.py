"""Entry point of the cross-class neighbour search: validation, method choice, report.

Phase 4 (neighbour engine), for the samplers that need each query row's nearest rows
among all rows of all classes, with the neighbours' classes: Borderline-SMOTE's danger
set and borderline-2's neighbours, ADASYN's ratios, ENN and Tomek links. Input is the
points table of every class (:mod:`spark_smote._keys`); output the cross neighbours
table (:mod:`spark_smote._search.cross_exact`), by exact search or by LSH
(:mod:`spark_smote._search.cross_lsh`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote._errors import InvalidParameterError
from spark_smote._keys import CLASS
from spark_smote._search.cross_exact import (
    DIST,
    EXACT_BLOCK_ROWS,
    NBR,
    NBR_CLASS,
    class_position,
    exact_cross_neighbors,
)
from spark_smote._search.cross_lsh import CrossLSHParams, lsh_cross_neighbors

__all__ = [
    "AUTO_EXACT_MAX_ROWS",
    "DIST",
    "NBR",
    "NBR_CLASS",
    "CrossLSHParams",
    "CrossReport",
    "cross_class_neighbors",
]

# Under method="auto", inputs of up to this many rows (all classes) use the exact search:
# its work, queries x rows x d, stays under 1e8 distances (seconds); it is the same size
# at which the same-class search switches to LSH.
AUTO_EXACT_MAX_ROWS = 10_000
_METHODS = ("exact", "lsh", "auto")


@dataclass(frozen=True)
class CrossReport:
    """What one cross-class search did.

    Attributes
    ----------
    method : str
        'exact' or 'lsh'.
    reason : str
        Why that method (the asked method, or the rule ``auto`` applied).
    k : int
        Neighbours per query.
    queries : int
        Query rows.
    rows : int
        Reference rows (all rows of all classes).
    parameters : dict
        Exact: block rows and block counts. LSH: bucket width, tables, hashes per
        table, bucket cap, the sample's median k-th distance and recall by tables.
    recall : float or None
        LSH only: recall@k of the search's output against exact search, measured on
        ``recall_sample`` seeded query rows. None for exact search (recall 1).
    recall_sample : int
        Query rows the recall was measured on.

    """

    method: str
    reason: str
    k: int
    queries: int
    rows: int
    parameters: dict[str, Any] = field(default_factory=dict)
    recall: float | None = None
    recall_sample: int = 0


def _check(
    query_classes: Collection[int] | None,
    k: int,
    sizes: Mapping[int, int],
    method: str,
) -> list[int]:
    """Validate the arguments; return the query classes, sorted."""
    if method not in _METHODS:
        raise InvalidParameterError(
            f"neighbor_search={method!r}: must be one of {list(_METHODS)}; 'auto' picks "
            f"exact search up to {AUTO_EXACT_MAX_ROWS} rows and LSH above."
        )
    rows = sum(sizes.values())
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidParameterError(f"k={k!r}: must be an integer >= 1, e.g. 5.")
    if k > rows - 1:
        raise InvalidParameterError(
            f"k={k}: each row needs k neighbours among the other rows of all classes, "
            f"but the input has {rows} rows (at most k = {rows - 1}). Lower k to at most "
            f"{rows - 1}, or add rows."
        )
    chosen = sorted(sizes) if query_classes is None else sorted({int(c) for c in query_classes})
    unknown = [c for c in chosen if c not in sizes]
    if unknown:
        raise InvalidParameterError(
            f"query_classes={sorted(unknown)}: no such class ordinal in the points table "
            f"(present: {sorted(sizes)}). Pass ordinals of present classes, or None for all."
        )
    if not chosen:
        raise InvalidParameterError(
            "query_classes=[]: no query rows. Pass at least one class ordinal, or None for "
            "every row."
        )
    return chosen


def cross_class_neighbors(
    points: DataFrame,
    *,
    query_classes: Collection[int] | None,
    k: int,
    dimension: int,
    sizes: Mapping[int, int],
    seed: int,
    method: str,
    lsh_params: CrossLSHParams | None = None,
) -> tuple[DataFrame, CrossReport]:
    """The k nearest rows among all rows of all classes, for each query row.

    Parameters
    ----------
    points : DataFrame
        The points table of every class: ``_smote_class`` (int), ``_smote_idx`` (long,
        0 .. n_c - 1 in its class), ``_smote_x`` (array<double>), as
        :func:`spark_smote._keys.build_points` gives for plans of every class.
    query_classes : collection of int or None
        Class ordinals whose rows are queries; None: every row.
    k : int
        Neighbours per query; at most the total rows minus one.
    dimension : int
        Features per row.
    sizes : mapping
        Rows per class ordinal, for every class of ``points``.
    seed : int
        Seed of the LSH hash functions and of the recall sample.
    method : {'exact', 'lsh', 'auto'}
        'auto': exact up to ``AUTO_EXACT_MAX_ROWS`` rows in all, LSH above.
    lsh_params : CrossLSHParams, optional
        LSH settings; default: everything tuned.

    Returns
    -------
    (DataFrame, CrossReport)
        One row per query: ``_smote_class``, ``_smote_idx``, ``_smote_nbr_class``
        (array<int>, k), ``_smote_nbr`` (array<long>, k, the neighbours'
        ``_smote_idx``), ``_smote_dist`` (array<double>, k, Euclidean), nearest first,
        ties by (neighbour class, neighbour index); the row itself never, its exact
        duplicates at distance 0. Lazy. And what was done.

    Raises
    ------
    InvalidParameterError
        ``method``, ``k``, ``query_classes`` or an LSH parameter out of range, before
        any Spark job runs.

    Notes
    -----
    Distances are ``sqrt`` of the sum of squared differences in float64 in both methods,
    so they agree bit for bit on the neighbours they share. The LSH path runs its tuning
    jobs (statistics only) before returning.

    """
    chosen = _check(query_classes, k, sizes, method)
    rows = sum(sizes.values())
    query_sizes = {c: sizes[c] for c in chosen}
    queries = sum(query_sizes.values())
    if method == "auto":
        picked = "exact" if rows <= AUTO_EXACT_MAX_ROWS else "lsh"
        relation = "<=" if picked == "exact" else ">"
        reason = f"auto: {rows} rows {relation} {AUTO_EXACT_MAX_ROWS} (AUTO_EXACT_MAX_ROWS)"
    else:
        picked, reason = method, f"asked: neighbor_search={method!r}"
    params = (lsh_params or CrossLSHParams()).checked(k) if picked == "lsh" else None
    every_row = len(chosen) == len(sizes)
    query = F.lit(True) if every_row else F.col(CLASS).isin(chosen)
    if picked == "exact":
        offsets, first = {}, 0
        for ordinal in chosen:
            offsets[ordinal] = first
            first += query_sizes[ordinal]
        block = F.floor(class_position(offsets) / F.lit(EXACT_BLOCK_ROWS))
        query_blocks = -(-queries // EXACT_BLOCK_ROWS)
        result = exact_cross_neighbors(
            points,
            sizes=sizes,
            k=k,
            dimension=dimension,
            query=query,
            query_block=block,
            query_blocks=query_blocks,
        )
        report = CrossReport(
            "exact",
            reason,
            k,
            queries,
            rows,
            {
                "block_rows": EXACT_BLOCK_ROWS,
                "query_blocks": query_blocks,
                "reference_blocks": -(-rows // EXACT_BLOCK_ROWS),
            },
        )
        return result, report
    assert params is not None
    result, tuning = lsh_cross_neighbors(
        points,
        query=query,
        query_sizes=query_sizes,
        sizes=sizes,
        k=k,
        dimension=dimension,
        seed=seed,
        params=params,
    )
    report = CrossReport(
        "lsh",
        reason,
        k,
        queries,
        rows,
        tuning.as_dict(),
        recall=tuning.recall,
        recall_sample=tuning.sample_queries,
    )
    return result, report

"""Recall of the LSH neighbour search, measured against exact search on a sample.

Sits beside the neighbour phase: it validates the input with the samplers' shared
preparation (:meth:`spark_smote._sampler.SamplerBase._prepare`, through a
:class:`spark_smote.SMOTE` with ``neighbor_search='lsh'``), builds the same points table
as SMOTE, runs the LSH search exactly as a resampling run would, and
compares the neighbours of a seeded sample of rows with their exact neighbours
(computed in Spark by :func:`spark_smote._search.sample_exact_neighbors`). Only per-class
counts reach the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote._errors import InvalidInputError, InvalidParameterError
from spark_smote._keys import CLASS, IDX, X, build_points, spread_points
from spark_smote._params import SamplingStrategy
from spark_smote._plan import plan_search
from spark_smote._sampler import require_spark_dataframe
from spark_smote._search import (
    NBR,
    LSHParams,
    nearest_neighbors,
    sample_exact_neighbors,
    sample_indices,
)
from spark_smote._smote import SMOTE

__all__ = ["RecallReport", "neighbor_recall"]

# A neighbour counts as correct when no farther than the exact k-th neighbour, up to
# this relative tolerance (Spark and numpy sum squares in different orders).
_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RecallReport:
    """Recall@k of the LSH neighbour search on a seeded sample.

    Attributes
    ----------
    k : int
        Neighbours per row.
    recall : float
        Recall@k over every sampled row of every measured class.
    per_class : dict
        Recall@k per class label.
    sample_sizes : dict
        Sampled rows per class label.
    class_sizes : dict
        Rows per class label.
    parameters : dict
        The LSH parameters used per class label (tuned or given).

    """

    k: int
    recall: float
    per_class: dict[Any, float] = field(default_factory=dict)
    sample_sizes: dict[Any, int] = field(default_factory=dict)
    class_sizes: dict[Any, int] = field(default_factory=dict)
    parameters: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"recall@{self.k} = {self.recall:.4f}"]
        for label, value in self.per_class.items():
            lines.append(
                f"  class {label!r}: recall@{self.k} = {value:.4f} "
                f"({self.sample_sizes[label]} of {self.class_sizes[label]} rows sampled)"
            )
        return "\n".join(lines)


def neighbor_recall(
    df: DataFrame,
    *,
    label_col: str = "label",
    features: str | list[str] | tuple[str, ...] | None = None,
    k_neighbors: int = 5,
    sample_size: int = 200,
    seed: int = 0,
    sampling_strategy: SamplingStrategy = "auto",
    id_col: str | None = None,
    lsh_params: LSHParams | None = None,
) -> RecallReport:
    """Measure recall@k of the LSH neighbour search against exact search.

    The classes that ``sampling_strategy`` would grow are searched with LSH exactly as
    :class:`spark_smote.SMOTE` does with ``neighbor_search='lsh'`` (same seed, same
    parameters); for a seeded sample of ``sample_size`` rows per class the exact k
    nearest neighbours are computed against the whole class, and recall@k is the
    fraction of the LSH neighbours that are no farther than the exact k-th neighbour
    (so equally distant rows, such as duplicates, count as correct).

    Parameters
    ----------
    df : DataFrame
        Labelled input, as for :meth:`spark_smote.SMOTE.fit_resample`.
    label_col, features, k_neighbors, sampling_strategy, id_col
        As for :class:`spark_smote.SMOTE`.
    sample_size : int, default 200
        Rows sampled per class (all rows of smaller classes).
    seed : int, default 0
        Seed of the LSH search and of the sample (the sample differs from the one the
        tuner uses).
    lsh_params : LSHParams, optional
        LSH overrides; tuned per class when omitted.

    Returns
    -------
    RecallReport
        Overall and per-class recall@k, sample and class sizes, LSH parameters.

    Raises
    ------
    InvalidParameterError
        A bad ``sample_size`` or SMOTE parameter.
    InvalidInputError
        No class to grow, or a class too small for ``k_neighbors``.

    Notes
    -----
    Runs Spark jobs: the input validation, the LSH tuning sample, the LSH search of
    the measured classes, and the exact search of the sample (each sampled row
    against its whole class, in blocks). The driver receives counts only.

    Examples
    --------
    >>> from spark_smote import neighbor_recall
    >>> rows = [(float(i % 7), float(i // 7), 0) for i in range(60)]
    >>> rows += [(float(i % 5), float(i // 5) / 2, 1) for i in range(30)]
    >>> df = spark.createDataFrame(rows, ["a", "b", "label"])
    >>> neighbor_recall(df, label_col="label", k_neighbors=3, sample_size=10).recall
    1.0

    """
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 1:
        raise InvalidParameterError(
            f"sample_size={sample_size!r}: must be a positive integer (rows sampled per "
            "class), e.g. 200."
        )
    require_spark_dataframe(df, "neighbor_recall")
    sampler = SMOTE(
        label_col=label_col,
        features=features,
        k_neighbors=k_neighbors,
        sampling_strategy=sampling_strategy,
        seed=seed,
        neighbor_search="lsh",
        id_col=id_col,
    )
    params = sampler.params
    # The same validation as a resampling run; the value checks too, since the points
    # below are built without the per-row checks.
    prepared = sampler._prepare(df, value_check="validation")
    layout, stats, grown = prepared.layout, prepared.stats, prepared.grown
    if not grown:
        raise InvalidInputError(
            f"sampling_strategy={sampling_strategy!r}: selects no class to grow in "
            f"{dict(stats.class_counts)}, so there is no neighbour search to measure. Pass "
            "a strategy that grows the classes to measure, e.g. 'all'."
        )
    sizes = {p.ordinal: p.n_rows for p in grown}
    labels = {p.ordinal: p.label for p in grown}
    points = build_points(df, grown, layout, params, sizes)
    points = spread_points(points, sum(sizes.values())).persist()
    try:
        plan = plan_search(sizes, params.k_neighbors, stats.dimension, "lsh")
        neighbors, search = nearest_neighbors(
            points, plan, params.k_neighbors, stats.dimension, params.seed, lsh_params=lsh_params
        )
        indices = sample_indices(sizes, sample_size, params.seed, purpose=1)
        hits = _sample_hits(points, neighbors, indices, params.k_neighbors, stats.dimension)
    finally:
        points.unpersist()
    k = params.k_neighbors
    per_class = {labels[o]: hits[o] / (k * len(indices[o])) for o in sizes}
    total = sum(hits.values()) / (k * sum(len(v) for v in indices.values()))
    return RecallReport(
        k=k,
        recall=total,
        per_class=per_class,
        sample_sizes={labels[o]: len(indices[o]) for o in sizes},
        class_sizes={labels[o]: n for o, n in sizes.items()},
        parameters={labels[o]: search.parameters[o] for o in sizes},
    )


def _sample_hits(
    points: DataFrame,
    neighbors: DataFrame,
    indices: Mapping[int, list[int]],
    k: int,
    dimension: int,
) -> dict[int, int]:
    """Per class: LSH neighbours of the sampled rows no farther than the exact k-th."""
    exact = sample_exact_neighbors(points, indices, k, dimension).select(
        CLASS, IDX, F.element_at("_smote_knn_dist", k).alias("kth")
    )
    condition = F.lit(False)
    for ordinal, rows in indices.items():
        condition = condition | ((F.col(CLASS) == F.lit(ordinal)) & F.col(IDX).isin(rows))
    found = neighbors.filter(condition).select(
        CLASS, IDX, F.col(X).alias("qx"), F.explode(NBR).alias("nbr")
    )
    other = points.select(CLASS, F.col(IDX).alias("nbr"), F.col(X).alias("nx"))
    squared = F.aggregate(
        F.zip_with("qx", "nx", lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda s, v: s + v
    )
    hit = F.sqrt(squared) <= F.col("kth") * F.lit(1.0 + _RELATIVE_TOLERANCE)
    counted = (
        found.join(other, on=[CLASS, "nbr"])
        .join(exact, on=[CLASS, IDX])
        .groupBy(CLASS)
        .agg(F.sum(hit.cast("long")).alias("hits"))
        .collect()
    )
    hits = dict.fromkeys(indices, 0)
    hits.update({int(row[CLASS]): int(row["hits"]) for row in counted})
    return hits

"""SMOTE-NC: the categorical features' encoding (phase 2/3) and neighbour vote (phase 5).

SMOTE-NC (Chawla et al., 2002, section 6.1) measures distance on the continuous
features plus, per categorical mismatch, the median of the class's continuous-feature
standard deviations. As imbalanced-learn's ``SMOTENC`` does, the categorical columns
are one-hot encoded and every one-hot entry of a row of class c is set to
``median_std(c) / sqrt(2)``: two rows that differ in one categorical column then differ
by ``median_std(c)`` in Euclidean distance (the squared difference of two one-hot
entries is ``median_std(c)**2 / 2`` each). ``median_std(c)`` is the median over the
continuous features of their population standard deviations in class c. The scaled
one-hot entries are appended to ``_smote_x``, so the exact and the LSH search both see
the SMOTE-NC distance without knowing about it.

Only small statistics reach the driver: one aggregation for the per-class variances,
one for the vocabulary of each categorical column (at most ``MAX_CATEGORIES`` values
per column, among the rows of the classes to grow).

Synthesis: each synthetic row takes, per categorical column, the most frequent value
among its base row's k neighbours. The vote is computed once per minority row (an
explode of ``n_min * k`` neighbour pairs, a join and two small aggregations), not per
synthetic row. Ties are broken by the counter-based stream of :mod:`spark_smote._random`
keyed on (seed, class, row index, column): the tied values are sorted and one is
picked by a uniform draw.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from spark_smote._errors import InvalidInputError
from spark_smote._features import FeatureLayout, feature_array
from spark_smote._keys import CLASS, IDX
from spark_smote._random import uniform_column
from spark_smote._search.table import NBR

__all__ = [
    "CAT",
    "MAX_CATEGORIES",
    "STREAM_CATEGORY",
    "VOTE",
    "CategoricalEncoding",
    "category_values",
    "encoded_features",
    "fit_encoding",
    "neighbor_votes",
]

# Internal columns: the row's categorical values (as strings), and the voted values.
CAT = "_smote_cat"
VOTE = "_smote_vote"
# Counter-based stream of the vote's tie-breaks (streams 1-5 are in spark_smote._random).
STREAM_CATEGORY = 6
# Distinct values per categorical column (among the classes to grow) before refusing.
MAX_CATEGORIES = 256

_COLUMN = "_smote_cat_column"
_VALUE = "_smote_cat_value"
_VOTES = "_smote_cat_votes"


@dataclass(frozen=True)
class CategoricalEncoding:
    """The SMOTE-NC one-hot encoding of one run (small, lives on the driver).

    Attributes
    ----------
    columns : tuple of str
        The categorical columns, in the order of the one-hot blocks.
    vocabularies : tuple of tuple of str
        Per column, its sorted distinct values (as strings) among the classes to grow.
    scales : dict
        Per grown class label, the value of its one-hot entries: ``median_std / sqrt(2)``.
    median_std : dict
        Per grown class label, the median of its continuous features' standard
        deviations (imbalanced-learn's ``median_std_``).

    """

    columns: tuple[str, ...]
    vocabularies: tuple[tuple[str, ...], ...]
    scales: dict[Any, float]
    median_std: dict[Any, float]

    @property
    def width(self) -> int:
        """Number of one-hot dimensions appended to the continuous features."""
        return sum(len(v) for v in self.vocabularies)


def category_values(columns: Sequence[str]) -> Column:
    """The categorical values of a row as one ``array<string>`` expression."""
    return F.array(*[F.col(name).cast("string") for name in columns])


def fit_encoding(
    df: DataFrame,
    layout: FeatureLayout,
    label_col: str,
    labels: Sequence[Any],
    dimension: int,
) -> CategoricalEncoding:
    """Measure the per-class scales and the vocabularies (two small aggregations).

    Parameters
    ----------
    df : DataFrame
        The validated input.
    layout : FeatureLayout
        Continuous features and categorical columns.
    label_col : str
        The label column.
    labels : sequence
        Labels of the classes to grow.
    dimension : int
        Number of continuous features.

    Raises
    ------
    InvalidInputError
        A categorical column has more than ``MAX_CATEGORIES`` distinct values.

    """
    grown = df.where(F.col(label_col).isin(list(labels)))
    values = feature_array(layout)
    variances = (
        grown.select(F.col(label_col).alias("label"), values.alias("x"))
        .groupBy("label")
        .agg(*[F.var_pop(F.col("x")[i]).alias(f"v{i}") for i in range(dimension)])
        .collect()
    )
    median_std: dict[Any, float] = {}
    for row in variances:
        var = np.array([row[f"v{i}"] for i in range(dimension)], dtype=np.float64)
        median_std[row["label"]] = float(np.median(np.sqrt(np.maximum(var, 0.0))))
    scales = {label: median_std[label] / math.sqrt(2.0) for label in median_std}
    return CategoricalEncoding(
        layout.categorical,
        _vocabularies(grown, layout.categorical),
        scales,
        median_std,
    )


def _vocabularies(grown: DataFrame, columns: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    pairs = F.explode(
        F.array(
            *[
                F.struct(F.lit(i).alias(_COLUMN), F.col(name).cast("string").alias(_VALUE))
                for i, name in enumerate(columns)
            ]
        )
    )
    ranked = Window.partitionBy(_COLUMN).orderBy(_VALUE)
    rows = (
        grown.select(pairs.alias("p"))
        .select("p.*")
        .distinct()
        .withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= MAX_CATEGORIES + 1)
        .collect()
    )
    found: dict[int, list[str]] = {i: [] for i in range(len(columns))}
    for row in rows:
        found[row[_COLUMN]].append(row[_VALUE])
    too_many = [columns[i] for i, values in found.items() if len(values) > MAX_CATEGORIES]
    if too_many:
        raise InvalidInputError(
            f"categorical: columns {too_many} have more than {MAX_CATEGORIES} distinct values "
            "among the classes to grow. SMOTE-NC one-hot encodes every value, so this many "
            "categories is not supported: group rare values into one category, or encode "
            "the column as a numeric feature and leave it out of categorical."
        )
    return tuple(tuple(sorted(found[i])) for i in range(len(columns)))


def encoded_features(layout: FeatureLayout, encoding: CategoricalEncoding, label: Column) -> Column:
    """The continuous features followed by the scaled one-hot entries, ``array<double>``.

    ``label`` is the row's label column; its class's scale is the value of the
    one-hot entries (rows of classes not grown get 0, they are never searched).
    """
    scale: Column = F.lit(0.0)
    for value, class_scale in encoding.scales.items():
        scale = F.when(label == F.lit(value), F.lit(class_scale)).otherwise(scale)
    one_hot = [
        F.when(F.col(name).cast("string") == F.lit(category), scale).otherwise(F.lit(0.0))
        for name, vocabulary in zip(encoding.columns, encoding.vocabularies, strict=True)
        for category in vocabulary
    ]
    return F.concat(feature_array(layout), F.array(*one_hot))


def neighbor_votes(neighbors: DataFrame, points: DataFrame, seed: int) -> DataFrame:
    """Per minority row, the most frequent value of each categorical column among its k.

    Returns ``(_smote_class, _smote_idx, _smote_vote array<string>)``, the votes in
    the order of the categorical columns.

    Parameters
    ----------
    neighbors : DataFrame
        The neighbours table (``_smote_nbr``).
    points : DataFrame
        The points table with the ``_smote_cat`` column.
    seed : int
        The run's seed, for tie-breaks.

    Notes
    -----
    Costs a join of ``n_min * k`` neighbour pairs with the points, an aggregation of
    ``n_min * k * n_columns`` (row, column, value) triples and one of ``n_min *
    n_columns`` rows.

    """
    pairs = neighbors.select(CLASS, IDX, F.explode(F.col(NBR)).alias("_smote_nbr_idx"))
    values = points.select(
        CLASS,
        F.col(IDX).alias("_smote_nbr_idx"),
        F.posexplode(F.col(CAT)).alias(_COLUMN, _VALUE),
    )
    counted = (
        pairs.join(values, on=[CLASS, "_smote_nbr_idx"])
        .groupBy(CLASS, IDX, _COLUMN, _VALUE)
        .agg(F.count(F.lit(1)).alias("n"))
    )
    per_column = counted.groupBy(CLASS, IDX, _COLUMN).agg(
        F.collect_list(F.struct(F.col("n"), F.col(_VALUE))).alias(_VOTES)
    )
    top = F.array_max(F.transform(F.col(_VOTES), lambda v: v["n"]))
    tied = F.array_sort(
        F.transform(F.filter(F.col(_VOTES), lambda v: v["n"] == top), lambda v: v[_VALUE])
    )
    draw = uniform_column(
        seed, STREAM_CATEGORY, F.col(CLASS), F.col(IDX), F.col(_COLUMN).cast("long")
    )
    pick = F.least(F.floor(draw * F.size(tied)).cast("int"), F.size(tied) - F.lit(1))
    chosen = per_column.select(
        CLASS, IDX, _COLUMN, F.element_at(tied, pick + F.lit(1)).alias(_VALUE)
    )
    ordered = F.array_sort(F.collect_list(F.struct(F.col(_COLUMN), F.col(_VALUE))))
    return (
        chosen.groupBy(CLASS, IDX)
        .agg(F.transform(ordered, lambda v: v[_VALUE]).alias(VOTE))
        .select(CLASS, IDX, VOTE)
    )

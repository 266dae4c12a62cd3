"""The public SMOTE estimator: checks first, then runs the phases in order.

input DataFrame
-> _features   resolve layout, one validation pass (class counts, bad values)
-> _strategy   exact rows to add per class
-> _keys       points table: stable dense index per minority row
-> _neighbors  k nearest same-class neighbours (exact or LSH)
-> _synthesis  counter-based draws, interpolation, union with the input
output DataFrame (lazy; writing it is the caller's or :mod:`spark_smote._output`'s job)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from spark_smote._errors import InvalidInputError
from spark_smote._faults import inject
from spark_smote._features import FeatureLayout, collect_input_stats, resolve_layout
from spark_smote._keys import ClassPlan, build_points, class_table
from spark_smote._lsh import find_neighbors
from spark_smote._neighbors import NeighborReport
from spark_smote._params import SamplingStrategy, SMOTEParams
from spark_smote._strategy import resolve_sampling_strategy
from spark_smote._synthesis import assemble_output, draw_synthetic, original_rows

__all__ = ["SMOTE", "SMOTEReport", "smote"]

logger = logging.getLogger("spark_smote")


@dataclass
class SMOTEReport:
    """What one :meth:`SMOTE.fit_resample` call decided and did.

    Attributes
    ----------
    seed : int
        The seed used (drawn at random when none was given).
    seed_was_given : bool
        Whether the user passed the seed.
    class_counts_before : dict
        Rows per class in the input, sorted by label.
    synthetic_counts : dict
        Synthetic rows added per class (classes left alone are absent).
    neighbor_method : dict
        Neighbour search used per grown class ('exact' or 'lsh').
    neighbor_parameters : dict
        The search's parameters per grown class.

    """

    seed: int
    seed_was_given: bool
    class_counts_before: dict[Any, int]
    synthetic_counts: dict[Any, int]
    neighbor_method: dict[Any, str] = field(default_factory=dict)
    neighbor_parameters: dict[Any, dict[str, Any]] = field(default_factory=dict)

    @property
    def class_counts_after(self) -> dict[Any, int]:
        """Rows per class in the output."""
        return {
            label: n + self.synthetic_counts.get(label, 0)
            for label, n in self.class_counts_before.items()
        }


class SMOTE:
    """SMOTE over-sampling of a Spark DataFrame (Chawla et al., 2002).

    Each class chosen by ``sampling_strategy`` is grown to the exact size asked by
    adding synthetic rows ``x_base + lambda * (x_neighbor - x_base)``, where the base is
    drawn uniformly with replacement from the class, the neighbour uniformly among the
    base's ``k_neighbors`` nearest same-class rows (Euclidean, itself excluded) and
    ``lambda`` uniformly from [0, 1), one per synthetic row.

    Parameters
    ----------
    label_col : str, default 'label'
        Class label column (integer, string or boolean).
    features : None, list of str, or str, default None
        None: every numeric column except the label and ``id_col``. A list: those
        numeric columns. A str: one Spark ML Vector or ``array<double|float>`` column
        (or one numeric column).
    k_neighbors : int, default 5
        Neighbours per row; each class to grow needs at least ``k_neighbors + 1`` rows.
    sampling_strategy : str, float or dict, default 'auto'
        imbalanced-learn semantics: 'auto' (= 'not majority'), 'minority',
        'not minority', 'all', a float in (0, 1] (binary labels: desired
        minority/majority ratio) or ``{class: desired total}``.
    seed : int, optional
        Seed of every random draw. None draws one; it is logged and in ``report_``.
    neighbor_search : {'auto', 'exact', 'lsh'}, default 'auto'
        How neighbours are found.
    id_col : str, optional
        A unique row id column: used as the stable key and in provenance.
    synthetic_col : str, optional
        Adds a boolean column of this name, True on synthetic rows.
    provenance : bool, default False
        Adds ``smote_base_id``, ``smote_neighbor_id`` and ``smote_lambda``.

    Attributes
    ----------
    report_ : SMOTEReport
        Set by :meth:`fit_resample`: seed, counts before and after, search used.

    Notes
    -----
    The result is the same set of rows, bit for bit, for the same input rows,
    parameters and seed, whatever the partitioning, row order or session kind. Before
    returning, ``fit_resample`` runs one aggregation over the input (class counts and
    value checks); the returned DataFrame is lazy and costs, when written, one
    shuffle to index the minority rows, the neighbour search and two joins of the
    synthetic rows.

    References
    ----------
    N. V. Chawla, K. W. Bowyer, L. O. Hall, W. P. Kegelmeyer, "SMOTE: Synthetic
    Minority Over-sampling Technique", JAIR 16, 321-357, 2002.

    Examples
    --------
    >>> from spark_smote import SMOTE
    >>> rows = [(float(i), float(i % 3), 0) for i in range(20)]
    >>> rows += [(float(i), 0.5, 1) for i in range(6)]
    >>> df = spark.createDataFrame(rows, ["a", "b", "label"])
    >>> out = SMOTE(label_col="label", k_neighbors=3, seed=7).fit_resample(df)
    >>> sorted(out.groupBy("label").count().collect())
    [Row(label=0, count=20), Row(label=1, count=20)]

    """

    def __init__(
        self,
        *,
        label_col: str = "label",
        features: str | list[str] | tuple[str, ...] | None = None,
        k_neighbors: int = 5,
        sampling_strategy: SamplingStrategy = "auto",
        seed: int | None = None,
        neighbor_search: str = "auto",
        id_col: str | None = None,
        synthetic_col: str | None = None,
        provenance: bool = False,
    ) -> None:
        self.params = SMOTEParams.build(
            label_col=label_col,
            features=features,
            k_neighbors=k_neighbors,
            sampling_strategy=sampling_strategy,
            seed=seed,
            neighbor_search=neighbor_search,
            id_col=id_col,
            synthetic_col=synthetic_col,
            provenance=provenance,
        )
        self.report_: SMOTEReport | None = None

    def __repr__(self) -> str:
        p = self.params
        seed = p.seed if p.seed_was_given else None
        return (
            f"SMOTE(label_col={p.label_col!r}, features={p.features!r}, "
            f"k_neighbors={p.k_neighbors}, sampling_strategy={p.sampling_strategy!r}, "
            f"seed={seed!r}, neighbor_search={p.neighbor_search!r}, id_col={p.id_col!r}, "
            f"synthetic_col={p.synthetic_col!r}, provenance={p.provenance})"
        )

    def fit_resample(self, df: DataFrame) -> DataFrame:
        """Return ``df`` with synthetic rows added so each class has the asked count.

        Parameters
        ----------
        df : DataFrame
            Labelled input; classic or Spark Connect.

        Returns
        -------
        DataFrame
            The input rows unchanged followed by the synthetic rows, same schema and
            column order, plus the opt-in columns.

        Raises
        ------
        ColumnNotFoundError, ColumnTypeError, InvalidFeatureValuesError
            A named column is missing, has an unusable type, or features hold null,
            NaN or infinite values.
        InvalidInputError
            Empty input, one class, null labels, duplicated ids, a class to grow with
            k_neighbors rows or fewer.
        InvalidParameterError
            A strategy that does not fit the labels.

        """
        params = self.params
        schema = df.schema
        layout = resolve_layout(schema, params)
        stats = collect_input_stats(inject(df, "validation"), layout, params)
        targets = resolve_sampling_strategy(params.sampling_strategy, stats.class_counts)
        plans = [
            ClassPlan(label, ordinal, n_rows, targets.get(label, 0))
            for ordinal, (label, n_rows) in enumerate(stats.class_counts.items())
        ]
        _check_class_sizes(plans, params.k_neighbors)
        report = SMOTEReport(
            seed=params.seed,
            seed_was_given=params.seed_was_given,
            class_counts_before=dict(stats.class_counts),
            synthetic_counts={p.label: p.n_new for p in plans if p.n_new > 0},
        )
        self.report_ = report
        if not params.seed_was_given:
            logger.warning("spark_smote: no seed given; using seed=%d", params.seed)
        grown = [p for p in plans if p.n_new > 0]
        if not grown:
            return original_rows(df, schema, params)
        return self._fit_resample(df, schema, layout, stats.dimension, grown, report)

    def _fit_resample(
        self,
        df: DataFrame,
        schema: T.StructType,
        layout: FeatureLayout,
        dimension: int,
        grown: list[ClassPlan],
        report: SMOTEReport,
    ) -> DataFrame:
        params = self.params
        classes = class_table(df, grown, schema[params.label_col].dataType)
        sizes = {p.ordinal: p.n_rows for p in grown}
        # The minority rows are materialised once: the neighbour search (and its tuning)
        # and the synthesis read them again. The checkpoint is released when the
        # returned DataFrame is garbage-collected.
        points = inject(build_points(df, classes, layout, params, sizes), "keys").localCheckpoint(
            eager=True
        )
        neighbors, search = _find_neighbors(points, sizes, params, dimension)
        neighbors = inject(neighbors, "neighbors")
        labels = {p.ordinal: p.label for p in grown}
        report.neighbor_method = {labels[o]: m for o, m in search.method.items()}
        report.neighbor_parameters = {labels[o]: v for o, v in search.parameters.items()}
        lookup_bytes = sum(sizes.values()) * (dimension + params.k_neighbors + 4) * 8
        synthetic = draw_synthetic(neighbors, points, classes, params, lookup_bytes=lookup_bytes)
        synthetic = inject(synthetic, "synthesis")
        return assemble_output(df, synthetic, schema, layout, params)


def _find_neighbors(
    points: DataFrame, sizes: Mapping[int, int], params: SMOTEParams, dimension: int
) -> tuple[DataFrame, NeighborReport]:
    return find_neighbors(
        points, sizes, params.k_neighbors, dimension, params.seed, params.neighbor_search
    )


def _check_class_sizes(plans: list[ClassPlan], k: int) -> None:
    small = {p.label: p.n_rows for p in plans if p.n_new > 0 and p.n_rows <= k}
    if small:
        smallest = min(small.values())
        raise InvalidInputError(
            f"k_neighbors={k}: classes to grow need at least k_neighbors + 1 = {k + 1} rows, "
            f"but {small} have fewer. Lower k_neighbors to at most {max(smallest - 1, 1)}"
            + (" " if smallest > 1 else " (a class of one row cannot be interpolated) ")
            + "or leave those classes out with a dict sampling_strategy."
        )


def smote(
    df: DataFrame,
    *,
    label_col: str = "label",
    features: str | list[str] | tuple[str, ...] | None = None,
    k_neighbors: int = 5,
    sampling_strategy: SamplingStrategy = "auto",
    seed: int | None = None,
    neighbor_search: str = "auto",
    id_col: str | None = None,
    synthetic_col: str | None = None,
    provenance: bool = False,
) -> DataFrame:
    """Resample ``df`` with SMOTE; the function form of :class:`SMOTE`.

    Takes the same keyword parameters as :class:`SMOTE`; usable with
    ``df.transform(lambda d: smote(d, label_col="label", seed=1))``.

    Examples
    --------
    >>> from spark_smote import smote
    >>> rows = [(float(i), 0) for i in range(10)] + [(float(i), 1) for i in range(4)]
    >>> out = spark.createDataFrame(rows, ["x", "label"]).transform(
    ...     lambda d: smote(d, label_col="label", k_neighbors=2, seed=1))
    >>> out.count()
    20

    """
    return SMOTE(
        label_col=label_col,
        features=features,
        k_neighbors=k_neighbors,
        sampling_strategy=sampling_strategy,
        seed=seed,
        neighbor_search=neighbor_search,
        id_col=id_col,
        synthetic_col=synthetic_col,
        provenance=provenance,
    ).fit_resample(df)

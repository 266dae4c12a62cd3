"""The public SMOTE estimator: checks first, then runs the phases in order.

input DataFrame
-> _features   resolve layout, one validation pass (class counts; bad values of vector
               and categorical inputs, those of feature columns in the keys pass)
-> _strategy   exact rows to add per class
-> _plan       which internal path each later phase takes, decided once from sizes
-> _keys       points table: stable dense index per minority row
-> _search     k nearest same-class neighbours (exact or LSH)
-> _synthesis  counter-based draws, interpolation, union with the input
output DataFrame (lazy; writing it is the caller's or :mod:`spark_smote._output`'s job)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_smote._categorical import (
    CAT,
    VOTE,
    category_values,
    encoded_features,
    fit_encoding,
)
from spark_smote._checkpoint import materialized
from spark_smote._extras import (
    NEIGHBOR_PASS,
    PASS,
    base_extras,
    fresh_ids,
    pass_struct,
    pass_through_columns,
    pass_through_values,
)
from spark_smote._faults import inject
from spark_smote._features import (
    BAD_ROW,
    FeatureLayout,
    InputStats,
    row_checks,
    values_checked_with_keys,
)
from spark_smote._keys import (
    ClassPlan,
    build_points,
    class_table,
    keyed_rows,
    materialized_points,
    numbered_in_tasks,
    spread_points,
)
from spark_smote._nullability import columns_left_null, with_input_nullability
from spark_smote._params import SMOTEParams
from spark_smote._plan import RunPlan, make_plan
from spark_smote._sampler import (
    GeneratorBase,
    PreparedInput,
    function_form,
    require_spark_dataframe,
)
from spark_smote._search import (
    CellsDoNotFitError,
    NeighborReport,
    StepInSearch,
    nearest_neighbors,
    statistics_for_numbering,
)
from spark_smote._synthesis import (
    assemble_output,
    draw_in_search,
    draw_synthetic,
    drawn_rows,
)

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
    phase_seconds : dict
        Wall-clock seconds of the phases run by ``fit_resample`` itself (validation,
        keys, neighbour planning); the lazy search and synthesis run when the result
        is written.
    categorical_median_std : dict
        SMOTE-NC only: per grown class, the median standard deviation of its
        continuous features (the distance added per categorical mismatch).
    features : list of str
        The feature columns used (for a Vector or array input, its one column).
    columns_left_null : list of str
        Input columns that are null in every synthetic row.

    """

    seed: int
    seed_was_given: bool
    class_counts_before: dict[Any, int]
    synthetic_counts: dict[Any, int]
    neighbor_method: dict[Any, str] = field(default_factory=dict)
    neighbor_parameters: dict[Any, dict[str, Any]] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    categorical_median_std: dict[Any, float] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    columns_left_null: list[str] = field(default_factory=list)

    @property
    def class_counts_after(self) -> dict[Any, int]:
        """Rows per class in the output."""
        return {
            label: n + self.synthetic_counts.get(label, 0)
            for label, n in self.class_counts_before.items()
        }


class SMOTE(GeneratorBase[SMOTEParams], cli_name="smote"):
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
    categorical : list of str, optional
        SMOTE-NC: string, integer or boolean columns treated as categories. The
        distance adds, per mismatch, the median of the class's continuous-feature
        standard deviations; a synthetic row takes, per column, the most frequent
        value among its base's k neighbours (ties broken by the seeded stream).
        Needs at least one continuous feature.
    non_feature_fill : {'null', 'base', 'nearest'}, default 'null'
        What synthetic rows carry in columns that are neither label, id, feature nor
        categorical: null, the base row's value, or the value of the nearer of base
        and neighbour (base when lambda < 0.5).
    synthetic_ids : bool, default False
        Fill ``id_col`` of synthetic rows with fresh ids: integers after the largest
        input id, or strings ``'smote-<class ordinal>-<draw>'``. Needs ``id_col``.
    labelCol, featuresCol : str, optional
        Spark ML spellings of ``label_col`` and ``features`` (give one or the other).

    Attributes
    ----------
    report_ : SMOTEReport
        Set by :meth:`fit_resample`: seed, counts before and after, search used.

    Notes
    -----
    The result is the same set of rows, bit for bit, for the same input rows,
    parameters and seed, whatever the partitioning, row order or session kind. Before
    returning, ``fit_resample`` runs one aggregation over the input (class counts; for
    vector or categorical inputs the value checks too), one pass indexing and
    materialising the minority rows (and, for feature columns, checking every row's
    values) and the neighbour search's tuning. The returned DataFrame is lazy and
    costs, when written, the neighbour search and the synthesis: two lookups of the
    synthetic rows, or none when the search's tasks draw them.

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

    params_class = SMOTEParams
    neighbors_param = "k_neighbors"
    report_: SMOTEReport | None

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """Report what the strategy decided, then grow the classes it names."""
        params = self.params
        grown = prepared.grown
        _warn_identifier_like(prepared.stats.identifier_like)
        report = self._started_report(
            SMOTEReport,
            prepared,
            features=list(prepared.layout.columns),
            columns_left_null=columns_left_null(prepared.schema, prepared.layout, params),
        )
        if not grown:
            return self._unchanged(df, prepared)
        resampled = self._resample_classes(
            df, prepared.schema, prepared.layout, prepared.stats, grown, report
        )
        return with_input_nullability(resampled, prepared.schema, prepared.layout, params)

    def _resample_classes(
        self,
        df: DataFrame,
        schema: T.StructType,
        layout: FeatureLayout,
        stats: InputStats,
        grown: list[ClassPlan],
        report: SMOTEReport,
    ) -> DataFrame:
        params = self.params
        dimension = stats.dimension
        classes = class_table(df, grown, schema[params.label_col].dataType)
        sizes = {p.ordinal: p.n_rows for p in grown}
        carried: dict[str, Column] = {}
        encoded_x: Column | None = None
        search_dimension = dimension
        if layout.categorical:
            encoding = fit_encoding(
                df, layout, params.label_col, [p.label for p in grown], dimension
            )
            report.categorical_median_std = dict(encoding.median_std)
            encoded_x = encoded_features(layout, encoding, F.col(params.label_col))
            carried[CAT] = category_values(layout.categorical)
            search_dimension = dimension + encoding.width
        passed = (
            pass_through_columns(schema, layout, params)
            if params.non_feature_fill != "null"
            else []
        )
        if passed:
            carried[PASS] = pass_struct(passed)
        id_type = schema[params.id_col].dataType if params.id_col is not None else None
        plan = make_plan(
            sizes,
            {p.ordinal: p.n_new for p in grown},
            k=params.k_neighbors,
            dimension=search_dimension,
            method=params.neighbor_search,
            id_type=id_type,
            carries_row_values=bool(carried),
            limits=self._plan_limits,
        )
        # The minority rows are materialised once: the neighbour search (and its tuning)
        # and the synthesis read them again. The checkpoint is released when the
        # returned DataFrame is garbage-collected (on Connect, at the latest at exit).
        checks = row_checks(layout) if values_checked_with_keys(layout) else {}
        flagged = BAD_ROW if checks else None
        if plan.numbered_in_tasks:
            rows = keyed_rows(
                df,
                grown,
                layout,
                params,
                checks=checks,
                keep_flagged=flagged,
                by_label_case=plan.classes_by_label_case,
            )
            fields, statistics = statistics_for_numbering(
                sizes, params.k_neighbors, search_dimension, params.seed
            )
            points = numbered_in_tasks(
                rows,
                search_dimension,
                flagged=flagged,
                class_fields=fields,
                class_columns=statistics,
            )
        else:
            points = build_points(
                df,
                grown,
                layout,
                params,
                sizes,
                encoded_x=encoded_x,
                carried=carried or None,
                checks=checks,
                keep_flagged=flagged,
                index_bucket_rows=plan.index_bucket_rows,
                by_label_case=plan.classes_by_label_case,
            )
            if plan.spread_points:
                points = spread_points(points, sum(sizes.values()))
        points, checked_largest = materialized_points(points, df, layout, checks)
        largest_magnitude = stats.largest_magnitude if checked_largest is None else checked_largest
        self._phase_done("keys")
        fused = plan.draws_in_search
        if fused:
            step, step_schema = draw_in_search(grown, params, id_type)
            try:
                drawn, search = nearest_neighbors(
                    points,
                    plan.search,
                    params.k_neighbors,
                    search_dimension,
                    params.seed,
                    step=StepInSearch(step, step_schema),
                )
            except CellsDoNotFitError:  # searched per table, drawn in Spark
                fused = False
            else:
                label_type = schema[params.label_col].dataType
                synthetic = drawn_rows(drawn, grown, label_type)
                synthetic = inject(inject(synthetic, "neighbors"), "synthesis")
        if not fused:
            synthetic, search = self._search_then_draw(
                points, classes, grown, layout, passed, carried, search_dimension, plan
            )
        self._phase_done("neighbour search planning")
        labels = {p.ordinal: p.label for p in grown}
        report.neighbor_method = {labels[o]: m for o, m in search.method.items()}
        report.neighbor_parameters = {labels[o]: v for o, v in search.parameters.items()}
        overrides: dict[str, Column] = {}
        for position, name in enumerate(layout.categorical):
            overrides[name] = F.col(VOTE)[position]
        if passed:
            overrides.update(pass_through_values(passed, params.non_feature_fill))
        if params.synthetic_ids and id_type is not None and params.id_col is not None:
            overrides[params.id_col] = fresh_ids(df, params.id_col, id_type, grown)
        return assemble_output(
            df,
            synthetic,
            schema,
            layout,
            params,
            dimension=dimension if layout.categorical else None,
            overrides=overrides or None,
            largest_magnitude=largest_magnitude,
        )

    def _search_then_draw(
        self,
        points: DataFrame,
        classes: DataFrame,
        grown: list[ClassPlan],
        layout: FeatureLayout,
        passed: list[str],
        carried: Mapping[str, Column],
        search_dimension: int,
        plan: RunPlan,
    ) -> tuple[DataFrame, NeighborReport]:
        """The neighbours table, then the synthetic rows drawn from it in Spark."""
        params = self.params
        search_points = points.drop(*carried) if carried else points
        neighbors, search = nearest_neighbors(
            search_points, plan.search, params.k_neighbors, search_dimension, params.seed
        )
        neighbors = inject(neighbors, "neighbors")
        if layout.categorical:
            # The vote and the synthesis both read the neighbours: search once.
            neighbors = materialized(neighbors)
        extras = base_extras(neighbors, points, layout, passed, params.seed)
        nearest = params.non_feature_fill == "nearest" and passed
        nearest_pass = {PASS: NEIGHBOR_PASS} if nearest else None
        synthetic = draw_synthetic(
            neighbors,
            points,
            classes,
            params,
            synthetic_rows=sum(p.n_new for p in grown),
            broadcast_lookups=plan.broadcast_lookups,
            base_extras=extras,
            neighbor_columns=nearest_pass,
        )
        return inject(synthetic, "synthesis"), search


def _warn_identifier_like(columns: tuple[str, ...]) -> None:
    """Warn that ``features=None`` took columns that look like row ids as features."""
    for name in columns:
        message = (
            f"spark_smote: column {name!r} looks like a row identifier (an integer column "
            "named like an id or with every value distinct) and is used as a feature "
            f"because features=None. Pass id_col={name!r} if it is the row id, or list the "
            "feature columns with features=[...]."
        )
        logger.warning(message)
        warnings.warn(message, UserWarning, stacklevel=4)


@function_form(SMOTE)
def smote(df: DataFrame, **params: Any) -> DataFrame:
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
    require_spark_dataframe(df, "smote")
    return SMOTE(**params).fit_resample(df)

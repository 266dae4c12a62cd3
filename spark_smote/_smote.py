"""The public SMOTE estimator: checks first, then runs the phases in order.

input DataFrame
-> _features   resolve layout, one validation pass (class counts; bad values of vector
               and categorical inputs, those of feature columns in the keys pass)
-> _strategy   exact rows to add per class
-> _keys       points table: stable dense index per minority row
-> _neighbors  k nearest same-class neighbours (exact or LSH)
-> _synthesis  counter-based draws, interpolation, union with the input
output DataFrame (lazy; writing it is the caller's or :mod:`spark_smote._output`'s job)
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
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
    neighbor_votes,
)
from spark_smote._checkpoint import materialized
from spark_smote._errors import InvalidInputError, InvalidParameterError
from spark_smote._extras import (
    NEIGHBOR_PASS,
    PASS,
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
    check_feature_values,
    checked_magnitude,
    collect_input_stats,
    resolve_layout,
    row_checks,
    values_checked_with_keys,
)
from spark_smote._keys import (
    CLASS,
    IDX,
    ClassPlan,
    build_points,
    class_table,
    keyed_rows,
    numbered_in_numpy,
    spread_points,
)
from spark_smote._lsh import (
    find_neighbors,
    numbered_and_tuned,
    searched_whole,
    tuned_in_one_task,
)
from spark_smote._ml import load_config_file, resolve_spark_ml_names, save_config
from spark_smote._neighbors import NeighborReport
from spark_smote._nullability import columns_left_null, with_input_nullability
from spark_smote._params import SamplingStrategy, SMOTEParams
from spark_smote._strategy import resolve_sampling_strategy
from spark_smote._synthesis import (
    assemble_output,
    draw_synthetic,
    draw_while_searching,
    drawn_while_searching,
    original_rows,
)
from spark_smote._warmup import start_python_workers

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
        categorical: list[str] | tuple[str, ...] | None = None,
        non_feature_fill: str = "null",
        synthetic_ids: bool = False,
        labelCol: str | None = None,  # noqa: N803 - Spark ML name
        featuresCol: str | None = None,  # noqa: N803 - Spark ML name
    ) -> None:
        label_col, features = resolve_spark_ml_names(label_col, features, labelCol, featuresCol)
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
            categorical=categorical,
            non_feature_fill=non_feature_fill,
            synthetic_ids=synthetic_ids,
        )
        _check_provenance(self.params)
        self.report_: SMOTEReport | None = None
        self._on_phase: Callable[[str, float], None] | None = None
        self._phase_clock = 0.0

    def __repr__(self) -> str:
        p = self.params
        seed = p.seed if p.seed_was_given else None
        return (
            f"SMOTE(label_col={p.label_col!r}, features={p.features!r}, "
            f"k_neighbors={p.k_neighbors}, sampling_strategy={p.sampling_strategy!r}, "
            f"seed={seed!r}, neighbor_search={p.neighbor_search!r}, id_col={p.id_col!r}, "
            f"synthetic_col={p.synthetic_col!r}, provenance={p.provenance}, "
            f"categorical={list(p.categorical)!r}, non_feature_fill={p.non_feature_fill!r}, "
            f"synthetic_ids={p.synthetic_ids})"
        )

    def get_params(self) -> dict[str, Any]:
        """The parameters as keyword arguments: ``SMOTE(**sm.get_params())`` is a copy."""
        return self.params.to_dict()

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Save the configuration (not data) as a JSON file; see :meth:`load`.

        Parameters
        ----------
        path : str or path-like
            A local (or FUSE-mounted, e.g. ``/dbfs/...``, ``/Volumes/...``) file path.
        overwrite : bool, default False
            Replace an existing file.

        Raises
        ------
        OutputPathError
            The file exists and ``overwrite`` is False.

        """
        save_config(self.params, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SMOTE:
        """Build a SMOTE from a configuration saved by :meth:`save`.

        Raises
        ------
        InvalidParameterError
            The file is missing, is not a saved SMOTE configuration, or holds invalid
            parameters.

        """
        return cls(**load_config_file(path))

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
        self.report_ = None
        self._phase_clock = time.monotonic()
        schema = df.schema
        layout = resolve_layout(schema, params)
        # Feature columns: their values are checked by the keys pass, which reads them
        # anyway; this pass reads the labels only.
        later = values_checked_with_keys(layout)
        stats = collect_input_stats(
            inject(df, "validation"), layout, params, check_values=not later
        )
        # The cores are idle while the driver plans the keys pass: start the workers.
        start_python_workers(df.sparkSession)
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
            features=list(layout.columns),
            columns_left_null=columns_left_null(schema, layout, params),
        )
        self.report_ = report
        _warn_identifier_like(stats.identifier_like)
        self._phase_done("validation")
        if not params.seed_was_given:
            logger.warning("spark_smote: no seed given; using seed=%d", params.seed)
        grown = [p for p in plans if p.n_new > 0]
        if not grown:
            if later:
                check_feature_values(df, layout)
            return original_rows(df, schema, params)
        resampled = self._fit_resample(df, schema, layout, stats, grown, report)
        return with_input_nullability(resampled, schema, layout, params)

    def _fit_resample(
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
        # The minority rows are materialised once: the neighbour search (and its tuning)
        # and the synthesis read them again. The checkpoint is released when the
        # returned DataFrame is garbage-collected (on Connect, at the latest at exit).
        checks = row_checks(layout) if values_checked_with_keys(layout) else {}
        flagged = BAD_ROW if checks else None
        whole = searched_whole(sizes, search_dimension, params.neighbor_search)
        # Nothing per row to carry and every class searched whole: the search's tasks
        # draw the synthetic rows, and one task per class numbers and tunes it when
        # every class is small enough for that.
        fused = not carried and whole and drawn_while_searching(grown)
        id_type = schema[params.id_col].dataType if params.id_col is not None else None
        tuned = fused and numbered_in_numpy(id_type) and tuned_in_one_task(sizes, search_dimension)
        if tuned:
            rows = keyed_rows(df, grown, layout, params, checks=checks, keep_flagged=flagged)
            points = numbered_and_tuned(
                rows, sizes, params.k_neighbors, search_dimension, params.seed, flagged=flagged
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
            )
            if not whole:
                points = spread_points(points, sum(sizes.values()))
        points = materialized(inject(points, "keys"))
        largest_magnitude = stats.largest_magnitude
        if checks:
            largest_magnitude = checked_magnitude(points, df, layout)
            points = points.drop(*checks)
        self._phase_done("keys")
        if fused:
            label_type = schema[params.label_col].dataType
            synthetic, search = draw_while_searching(
                points, grown, params, search_dimension, label_type, tuned=tuned
            )
            synthetic = inject(inject(synthetic, "neighbors"), "synthesis")
        else:
            synthetic, search = self._search_then_draw(
                points, classes, grown, layout, passed, carried, search_dimension
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
        if params.synthetic_ids and params.id_col is not None:
            id_type = schema[params.id_col].dataType
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
    ) -> tuple[DataFrame, NeighborReport]:
        """The neighbours table, then the synthetic rows drawn from it in Spark."""
        params = self.params
        sizes = {p.ordinal: p.n_rows for p in grown}
        search_points = points.drop(*carried) if carried else points
        neighbors, search = _find_neighbors(search_points, sizes, params, search_dimension)
        neighbors = inject(neighbors, "neighbors")
        if layout.categorical:
            # The vote and the synthesis both read the neighbours: search once.
            neighbors = materialized(neighbors)
        lookup_bytes = sum(sizes.values()) * (search_dimension + params.k_neighbors + 4) * 8
        base_extras = _base_extras(neighbors, points, layout, passed, params.seed)
        nearest = params.non_feature_fill == "nearest" and passed
        nearest_pass = {PASS: NEIGHBOR_PASS} if nearest else None
        synthetic = draw_synthetic(
            neighbors,
            points,
            classes,
            params,
            synthetic_rows=sum(p.n_new for p in grown),
            lookup_bytes=lookup_bytes,
            base_extras=base_extras,
            neighbor_columns=nearest_pass,
        )
        return inject(synthetic, "synthesis"), search

    def _phase_done(self, phase: str) -> None:
        """Record the time since the previous phase ended (cheap: one clock read)."""
        now = time.monotonic()
        if self.report_ is not None:
            self.report_.phase_seconds[phase] = now - self._phase_clock
        self._phase_clock = now
        if self._on_phase is not None:
            self._on_phase(phase, self.report_.phase_seconds[phase] if self.report_ else 0.0)


def _base_extras(
    neighbors: DataFrame,
    points: DataFrame,
    layout: FeatureLayout,
    passed: list[str],
    seed: int,
) -> DataFrame | None:
    """Per minority row, the opt-in values its synthetic rows take from it (or None)."""
    extras: DataFrame | None = None
    if passed:
        extras = points.select(CLASS, IDX, PASS)
    if layout.categorical:
        votes = neighbor_votes(neighbors, points, seed)
        extras = votes if extras is None else extras.join(votes, on=[CLASS, IDX])
    return extras


def _find_neighbors(
    points: DataFrame, sizes: Mapping[int, int], params: SMOTEParams, dimension: int
) -> tuple[DataFrame, NeighborReport]:
    return find_neighbors(
        points, sizes, params.k_neighbors, dimension, params.seed, params.neighbor_search
    )


def _check_provenance(params: SMOTEParams) -> None:
    """Provenance names rows by ``id_col``: without one it could not join back."""
    if params.provenance and params.id_col is None:
        raise InvalidParameterError(
            "provenance=True needs id_col: smote_base_id and smote_neighbor_id are id_col "
            "values, the only key that joins back to the input rows. Pass id_col='<your "
            "unique row id column>' (add one first, e.g. with a row_number over a stable "
            "order, if the data has none), or drop provenance."
        )


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
    categorical: list[str] | tuple[str, ...] | None = None,
    non_feature_fill: str = "null",
    synthetic_ids: bool = False,
    labelCol: str | None = None,  # noqa: N803 - Spark ML name
    featuresCol: str | None = None,  # noqa: N803 - Spark ML name
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
        categorical=categorical,
        non_feature_fill=non_feature_fill,
        synthetic_ids=synthetic_ids,
        labelCol=labelCol,
        featuresCol=featuresCol,
    ).fit_resample(df)

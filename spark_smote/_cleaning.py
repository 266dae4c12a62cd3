"""What every cleaner shares: key every row, search, pick rows to drop, drop them.

A cleaner (Tomek links, ENN) removes rows, never adds any. Its run, after the shared
validation of :mod:`spark_smote._sampler`:

keys        every row of every class numbered in its class (:mod:`spark_smote._keys`),
            keyed by ``id_col`` or else by content (the features): the stable row key
-> search   each query row's k nearest rows of any class, with their classes
            (:func:`spark_smote._search.nearest_neighbors`); ties at equal
            distance go to the smaller (class, index), so to the stable key
-> select   the rows to drop, as (class, index): the sampler's own rule
            (:meth:`CleanerBase._removed`), materialised, counted per class
-> output   the input minus those rows: an anti-join of the ORIGINAL DataFrame on the
            row key (the id; or label and features, which rows that tie on them share
            a decision by construction), so the schema is the input's, nullability
            included, and no row is ever rewritten.

When the search is LSH, the rows removed are compared with those an exact search
removes on a seeded sample (:func:`lsh_agreement`): rows removed by both over rows
removed by exact, reported in :class:`CleaningReport`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._checkpoint import materialized
from spark_smote._family_params import CleanerParams, cleaned_classes
from spark_smote._faults import inject
from spark_smote._features import feature_array
from spark_smote._keys import CLASS, ID, IDX, ClassPlan, X, checked_points
from spark_smote._params import SMOTEParams
from spark_smote._plan import plan_search
from spark_smote._sampler import PreparedInput, SamplerBase
from spark_smote._search import CrossLSHParams, CrossReport, nearest_neighbors
from spark_smote._search.cross_exact import sample_cross_neighbors, sample_queries

__all__ = [
    "AGREEMENT_SAMPLE",
    "CLEANER_LSH_PARAMS",
    "CleanerBase",
    "CleaningReport",
    "exact_neighbors",
    "rows_in",
]

P = TypeVar("P", bound=CleanerParams)

_KEY = "_smote_clean_key"

# Query rows on which the LSH search's removals are compared with exact search's: one
# exact block (EXACT_BLOCK_ROWS = 1024 queries), so the check costs one pass over the
# points per exact search it runs.
AGREEMENT_SAMPLE = 1000

# LSH settings of the cleaners' search. A row's removal changes when a neighbour of the
# other kind is missed, so agreement with exact search runs below the search's recall.
# SMOTEENN at 2.88M (5.4M rows cleaned, 10,000 sampled rows, 122 of them removed by
# exact search) agreed on 0.951 / 0.967 / 0.975 / 0.992 of the removals at targets
# 0.97 / 0.98 / 0.985 / 0.99 (16 / 19 / 20 / 24 tables of 1024); TomekLinks at 0.3M
# (20,000 sampled, 81 removed) on 0.963 / 0.988 / 1.0 / 1.0 at 0.97 / 0.98 / 0.985 / 0.99:
# 0.985 is the lowest target both reach 0.97 at (4 more tables than 0.97 at 2.88M).
CLEANER_LSH_PARAMS = CrossLSHParams(target_recall=0.985)


@dataclass
class CleaningReport:
    """What one cleaner's ``fit_resample`` decided and did.

    Attributes
    ----------
    seed : int
        The seed (LSH hashing and the agreement sample).
    seed_was_given : bool
        Whether the user passed it.
    class_counts_before : dict
        Rows per class in the input, sorted by label.
    cleaned_classes : list
        The classes the strategy lets the cleaner remove rows from.
    removed_counts : dict
        Rows removed per class (every class, 0 included).
    search : CrossReport or None
        The neighbour search: method, why, parameters, LSH recall.
    lsh_agreement : float or None
        LSH only: rows removed by both LSH and exact search over rows removed by exact
        search, on ``agreement_sample`` seeded query rows (None for exact search, or
        when exact search removes none of them).
    agreement_sample : int
        Query rows the agreement was measured on.
    agreement_removed_exact : int
        Of those, rows exact search removes.
    agreement_removed_both : int
        Of those, rows LSH search removes too.
    phase_seconds : dict
        Seconds of the phases ``fit_resample`` runs itself.

    """

    seed: int
    seed_was_given: bool
    class_counts_before: dict[Any, int]
    cleaned_classes: list[Any]
    removed_counts: dict[Any, int] = field(default_factory=dict)
    search: CrossReport | None = None
    lsh_agreement: float | None = None
    agreement_sample: int = 0
    agreement_removed_exact: int = 0
    agreement_removed_both: int = 0
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def class_counts_after(self) -> dict[Any, int]:
        """Rows per class in the output."""
        return {
            label: n - self.removed_counts.get(label, 0)
            for label, n in self.class_counts_before.items()
        }

    # The fields every sampler's report has (the command line and the run report read
    # them): a cleaner adds no rows, and its one search is described by ``search``.
    @property
    def synthetic_counts(self) -> dict[Any, int]:
        """Rows added per class: none."""
        return {}

    @property
    def neighbor_method(self) -> dict[Any, str]:
        """The search's method, under the key 'all classes'."""
        return {} if self.search is None else {"all classes": self.search.method}

    @property
    def neighbor_parameters(self) -> dict[Any, dict[str, Any]]:
        """The search's parameters, under the key 'all classes'."""
        if self.search is None:
            return {}
        return {"all classes": {"reason": self.search.reason, **self.search.parameters}}

    @property
    def categorical_median_std(self) -> dict[Any, float]:
        """Not used by cleaners (SMOTE-NC only)."""
        return {}


def rows_in(rows: dict[int, list[int]]) -> Column:
    """Whether a row's (class, index) is one of ``rows`` (ordinal: indices)."""
    condition = F.lit(False)
    for ordinal, indices in sorted(rows.items()):
        if indices:
            chosen = (F.col(CLASS) == F.lit(ordinal)) & F.col(IDX).isin(indices)
            condition = condition | chosen
    return condition


class CleanerBase(SamplerBase[P]):
    """Base of the cleaners: keys, cross-class search, selection, anti-join.

    A cleaner implements :meth:`_k` (neighbours per query), :meth:`_query_classes`
    (whose rows are queries) and :meth:`_removed` (the rows to drop, from the
    neighbours table).
    """

    report_: CleaningReport | None

    def _class_targets(self, class_counts: dict[Any, int]) -> dict[Any, int]:
        """A cleaner adds no rows; the strategy is checked against the labels here."""
        cleaned_classes(self.params.sampling_strategy, class_counts)
        return {}

    def _check_classes(self, plans: tuple[ClassPlan, ...]) -> None:
        """Every row needs ``k`` neighbours among the other rows."""
        rows = sum(p.n_rows for p in plans)
        if rows - 1 < self._k():
            self._refuse_few_rows(rows)

    def _refuse_few_rows(self, rows: int) -> None:
        raise NotImplementedError

    def _k(self) -> int:
        """Neighbours per query row."""
        raise NotImplementedError

    def _query_classes(self, cleaned: list[int]) -> list[int] | None:
        """Ordinals of the classes whose rows are queries (None: every row)."""
        raise NotImplementedError

    def _removed(self, neighbors: DataFrame, cleaned: list[int]) -> DataFrame:
        """(class, index) of the rows to drop, from the neighbours table of the queries."""
        raise NotImplementedError

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """Clean ``df``, keyed by ``id_col`` when given, else by content."""
        return self._clean(df, prepared, key_by_id=self.params.id_col is not None)

    def _clean(self, df: DataFrame, prepared: PreparedInput, *, key_by_id: bool) -> DataFrame:
        """The cleaning run; ``key_by_id`` False keys rows by content whatever ``id_col``.

        A combination cleans SMOTE's output, whose synthetic rows have no id: it keys
        by content.
        """
        params = self.params
        counts = prepared.stats.class_counts
        labels = [p.label for p in prepared.plans]
        cleaned = cleaned_classes(params.sampling_strategy, counts)
        report = CleaningReport(
            seed=params.seed,
            seed_was_given=params.seed_was_given,
            class_counts_before=dict(counts),
            cleaned_classes=cleaned,
            removed_counts={label: 0 for label in labels},
        )
        self.report_ = report
        self._phase_done("validation")
        points = self._keyed_points(df, prepared, key_by_id)
        self._phase_done("keys")
        ordinals = [p.ordinal for p in prepared.plans if p.label in cleaned]
        sizes = {p.ordinal: p.n_rows for p in prepared.plans}
        plan = plan_search(
            sizes,
            self._k(),
            prepared.stats.dimension,
            params.neighbor_search,
            reference="all",
            query_classes=self._query_classes(ordinals),
        )
        neighbors, search = nearest_neighbors(
            points.select(CLASS, IDX, X),
            plan,
            self._k(),
            prepared.stats.dimension,
            params.seed,
            lsh_params=CLEANER_LSH_PARAMS,
        )
        report.search = search.cross
        removed = self._removed(inject(neighbors, "neighbors"), ordinals)
        removed = materialized(removed.select(CLASS, IDX))
        by_ordinal = {r[CLASS]: int(r["count"]) for r in removed.groupBy(CLASS).count().collect()}
        report.removed_counts = {p.label: by_ordinal.get(p.ordinal, 0) for p in prepared.plans}
        self._phase_done("neighbour search and selection")
        if "lsh" in search.method.values():
            self._measure_agreement(points, removed, ordinals, sizes, prepared, report)
            self._phase_done("LSH agreement")
        id_col = params.id_col if key_by_id else None
        return _without(df, prepared, points, removed, params.label_col, id_col)

    def _keyed_points(self, df: DataFrame, prepared: PreparedInput, key_by_id: bool) -> DataFrame:
        """Every row numbered in its class; the values checked on the way when deferred."""
        params = self.params
        # The keys phase numbers the classes given rows to add; a cleaner keys every
        # class, so each plan is handed over as one with rows to add.
        every_class = [dataclasses.replace(p, n_new=1) for p in prepared.plans]
        # The keys phase reads only label_col and id_col of the parameters.
        key_params = params if key_by_id else dataclasses.replace(params, id_col=None)
        return checked_points(
            df,
            every_class,
            prepared.layout,
            cast(SMOTEParams, key_params),
            check_values=prepared.values_deferred,
        )

    def _measure_agreement(
        self,
        points: DataFrame,
        removed: DataFrame,
        cleaned: list[int],
        sizes: dict[int, int],
        prepared: PreparedInput,
        report: CleaningReport,
    ) -> None:
        """Compare, on a seeded sample of queries, the rows LSH and exact search remove."""
        queries = self._query_classes(cleaned)
        query_sizes = {o: sizes[o] for o in (sizes if queries is None else queries)}
        sample = sample_queries(query_sizes, AGREEMENT_SAMPLE, self.params.seed)
        exact = self._exactly_removed(points, sample, sizes, prepared.stats.dimension, cleaned)
        exact_rows = {(r[CLASS], r[IDX]) for r in exact.collect()}
        found = removed.where(rows_in(sample)).collect()
        both = exact_rows & {(r[CLASS], r[IDX]) for r in found}
        report.agreement_sample = sum(len(v) for v in sample.values())
        report.agreement_removed_exact = len(exact_rows)
        report.agreement_removed_both = len(both)
        report.lsh_agreement = len(both) / len(exact_rows) if exact_rows else None

    def _exactly_removed(
        self,
        points: DataFrame,
        sample: dict[int, list[int]],
        sizes: dict[int, int],
        dimension: int,
        cleaned: list[int],
    ) -> DataFrame:
        """The sample rows exact search would remove (an exact search of the rows deciding it).

        None is run when no row decides (Tomek links: no sampled row's nearest row has
        another class).
        """
        rows = self._deciding_rows(points, sample, sizes, dimension)
        if not rows:
            return points.select(CLASS, IDX).limit(0)
        neighbors = exact_neighbors(points, rows, sizes, self._k(), dimension)
        return self._removed(neighbors, cleaned).where(rows_in(sample))

    def _deciding_rows(
        self, points: DataFrame, sample: dict[int, list[int]], sizes: dict[int, int], dimension: int
    ) -> dict[int, list[int]]:
        """The rows whose neighbours decide the sample's removal: the sample itself."""
        return sample


def exact_neighbors(
    points: DataFrame, rows: dict[int, list[int]], sizes: dict[int, int], k: int, dimension: int
) -> DataFrame:
    """The exact neighbours table of a few query rows (at most one block of them)."""
    return sample_cross_neighbors(
        points.select(CLASS, IDX, X), rows, sizes=sizes, k=k, dimension=dimension
    )


def _without(
    df: DataFrame,
    prepared: PreparedInput,
    points: DataFrame,
    removed: DataFrame,
    label_col: str,
    id_col: str | None,
) -> DataFrame:
    """The input rows whose key is not among the removed rows' (an anti-join).

    ``id_col``: the ids of the removed rows; else their label and features.
    """
    keyed = removed.join(points, on=[CLASS, IDX])
    if id_col is not None:
        ids = keyed.select(F.col(ID).alias(_KEY))
        return df.join(ids, F.col(id_col) == ids[_KEY], "left_anti")
    label_type = prepared.schema[label_col].dataType
    label_of = F.create_map(
        *[
            item
            for p in prepared.plans
            for item in (F.lit(p.ordinal), F.lit(p.label).cast(label_type))
        ]
    )
    gone = keyed.select(label_of[F.col(CLASS)].alias(_KEY), F.col(X))
    same_row = (F.col(label_col) == gone[_KEY]) & (feature_array(prepared.layout) == gone[X])
    return df.join(gone, same_row, "left_anti")

"""The base of the SMOTE variants that look across classes (Borderline-SMOTE, ADASYN).

Where it sits: validation (:class:`~spark_smote._sampler.GeneratorBase`) -> **keys of
every class and the cross-class search** -> the variant's own choice of bases and
draws -> **same-class neighbours, lookups and output**. A variant's ``_fit_resample``
calls :meth:`VariantBase._cross_class_start` (keys, the search reduced to other-label
counts per query row, the report's search fields), then draws its rows, resolves them
with :meth:`VariantBase._own_class_resolved` when the neighbour is of the base's class,
and ends with :meth:`VariantBase._variant_output`. The steps themselves live in
:mod:`spark_smote._variant_draws`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._keys import CLASS, IDX, ClassPlan
from spark_smote._plan import plan_search
from spark_smote._sampler import G, GeneratorBase, PreparedInput
from spark_smote._search import NBR, NeighborReport, nearest_neighbors
from spark_smote._smote import SMOTEReport
from spark_smote._synthesis import assemble_output
from spark_smote._variant_draws import (
    BASE,
    NEIGHBOR,
    NEIGHBOR_CLASS,
    STEP,
    CrossCounts,
    class_label,
    every_class_points,
    other_class_counts,
    synthetic_from_draws,
)

__all__ = ["CrossStart", "VariantBase", "VariantReport"]


@dataclass
class VariantReport(SMOTEReport):
    """What a Borderline-SMOTE or ADASYN run decided and did (SMOTE's report, and more).

    Attributes
    ----------
    cross_search : dict
        The cross-class search (method, reason, k, rows, parameters, recall).
    classification_agreement : float or None
        LSH only: share of ``agreement_sample`` seeded query rows that the LSH
        neighbours classify as exact neighbours do (Borderline-SMOTE: in danger or
        not; ADASYN: the same ratio). None for exact search (agreement 1).
    agreement_sample : int
        Query rows the agreement was measured on.

    """

    cross_search: dict[str, Any] = field(default_factory=dict)
    classification_agreement: float | None = None
    agreement_sample: int = 0


@dataclass(frozen=True)
class CrossStart:
    """What a variant has after the cross-class search.

    Attributes
    ----------
    points : DataFrame
        The points table of every class (materialised).
    largest : float
        The largest feature magnitude of the input (for the output's overflow check).
    sizes : dict
        Rows per class ordinal.
    dimension : int
        Features per row.
    counts : CrossCounts
        The cross-class search reduced to other-label counts per query row.

    """

    points: DataFrame
    largest: float
    sizes: dict[int, int]
    dimension: int
    counts: CrossCounts


class VariantBase(GeneratorBase[G]):
    """Base of the generators whose bases depend on neighbours of every class."""

    def _cross_class_start(
        self,
        df: DataFrame,
        prepared: PreparedInput,
        report: VariantReport,
        *,
        m: int,
        k: int | None,
        classify: Callable[[int], Any],
    ) -> CrossStart:
        """Keys of every class, then the cross-class search reduced to other-label counts.

        Each query row gets its count of other labels among its first ``m`` neighbours of
        every class (and its first ``k`` neighbours when ``k`` is set). ``classify`` maps
        a count to what the variant reads from it (in danger or not, the count itself):
        the agreement with exact search is measured on that. The report's
        ``cross_search``, ``classification_agreement`` and ``agreement_sample`` are set.
        """
        params = self.params
        plans = prepared.plans
        dimension = prepared.stats.dimension
        sizes = {p.ordinal: p.n_rows for p in plans}
        points, largest = every_class_points(df, plans, prepared.layout, params)
        self._phase_done("keys")
        counts = other_class_counts(
            points,
            query_classes=[p.ordinal for p in prepared.grown],
            m=m,
            k=k,
            dimension=dimension,
            sizes=sizes,
            seed=params.seed,
            method=params.neighbor_search,
            classify=classify,
        )
        report.cross_search = asdict(counts.report)
        report.classification_agreement = counts.agreement
        report.agreement_sample = counts.agreement_sample
        return CrossStart(points, largest, sizes, dimension, counts)

    def _label(self, prepared: PreparedInput) -> Column:
        """A synthetic row's label, from its class ordinal, in the input's label type."""
        label_type = prepared.schema[self.params.label_col].dataType
        return class_label(prepared.plans, label_type).alias("label")

    def _own_class_resolved(
        self, start: CrossStart, classes: Sequence[int], draws: DataFrame, k: int, slot: str
    ) -> tuple[DataFrame, NeighborReport]:
        """Resolve draws whose neighbour is of the base's own class.

        The neighbour is the one at the 0-based ``slot`` column among the base's ``k``
        nearest rows of its class. ``draws`` has ``label``, ``_smote_class``,
        ``_smote_base``, the slot column and ``_smote_step``; the result is the draws table
        :func:`~spark_smote._variant_draws.synthetic_from_draws` reads, and the same-class
        search's report.
        """
        params = self.params
        sizes = {c: start.sizes[c] for c in classes}
        own = start.points.where(F.col(CLASS).isin(list(sizes)))
        search_plan = plan_search(sizes, k, start.dimension, params.neighbor_search, self._limits())
        neighbours, search = nearest_neighbors(own, search_plan, k, start.dimension, params.seed)
        lists = neighbours.select(CLASS, F.col(IDX).alias(BASE), NBR)
        resolved = draws.join(lists, on=[CLASS, BASE]).select(
            "label",
            CLASS,
            BASE,
            F.col(CLASS).alias(NEIGHBOR_CLASS),
            F.element_at(NBR, F.col(slot) + F.lit(1)).alias(NEIGHBOR),
            STEP,
        )
        return resolved, search

    def _variant_output(
        self,
        df: DataFrame,
        prepared: PreparedInput,
        start: CrossStart,
        report: VariantReport,
        resolved: DataFrame,
        bases: Sequence[ClassPlan],
        same_class: NeighborReport | None,
    ) -> DataFrame:
        """Record the searches per class grown, then look up bases and neighbours.

        ``same_class`` is the same-class search that resolved the neighbours (they are
        of the base's class), or None when they were read from the cross-class search
        (of any class). Returns the output: the input rows, then the synthetic rows.
        """
        for plan in bases:
            report.neighbor_method[plan.label] = start.counts.report.method
            searches = {"cross_class": start.counts.report.parameters}
            if same_class is not None:
                searches["same_class"] = same_class.parameters.get(plan.ordinal, {})
            report.neighbor_parameters[plan.label] = searches
        self._phase_done("neighbour search planning")
        params = self.params
        base_classes = [p.ordinal for p in bases]
        synthetic = synthetic_from_draws(
            resolved,
            start.points,
            params,
            base_classes=base_classes,
            neighbor_classes=base_classes if same_class is not None else list(start.sizes),
            sizes=start.sizes,
            dimension=start.dimension,
        )
        return assemble_output(
            df, synthetic, prepared.schema, prepared.layout, params, largest_magnitude=start.largest
        )

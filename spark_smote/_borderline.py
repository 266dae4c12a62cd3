"""Borderline-SMOTE (Han et al., 2005): SMOTE grown from the rows on a class's border.

Data flow: validation (the sampler base) -> keys of every class
(:func:`~spark_smote._variant_draws.every_class_points`) -> cross-class search: each row
of a class to grow gets its ``m_neighbors`` nearest rows of every class, and m', the
count of other labels among them -> **danger set**: rows with m/2 <= m' < m (m' = m is
noise), numbered densely per class -> draws -> synthetic rows -> output
(:func:`~spark_smote._synthesis.assemble_output`).

Semantics are imbalanced-learn 0.14's ``BorderlineSMOTE``: for class c to grow by
n_new(c), draw j = 0 .. n_new(c) - 1 takes

    base    = the floor(U(seed, VARIANT_BASE, c, j) * D(c))-th danger row of c
    slot    = floor(U(seed, VARIANT_NEIGHBOR, c, j) * k)
    lambda  = U(seed, VARIANT_LAMBDA, c, j)

borderline-1: the neighbour is the base's slot-th nearest row of its own class, the
step lambda. borderline-2: the neighbour is its slot-th nearest row of every class;
when that row is of another label the step is lambda * u, u = 0.5 * U(seed,
BORDERLINE_STEP, c, j) in [0, 0.5). A class with no row in danger gets no rows, as in
imbalanced-learn, but with a warning and an entry in the report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._errors import InvalidInputError
from spark_smote._keys import CLASS, IDX, ClassPlan, lookup_side
from spark_smote._random import (
    STREAM_BORDERLINE_STEP,
    STREAM_VARIANT_BASE,
    STREAM_VARIANT_LAMBDA,
    STREAM_VARIANT_NEIGHBOR,
    uniform_column,
)
from spark_smote._sampler import PreparedInput, function_form, refuse_small_classes
from spark_smote._synthesis import original_rows
from spark_smote._variant_base import VariantBase, VariantReport
from spark_smote._variant_draws import (
    BASE,
    NBR,
    NBR_CLASS,
    NEIGHBOR,
    NEIGHBOR_CLASS,
    OTHER,
    POSITION,
    STEP,
    exploded,
    positions_in_group,
)
from spark_smote._variant_params import BorderlineSMOTEParams

__all__ = ["BorderlineSMOTE", "BorderlineSMOTEReport", "borderline_smote", "in_danger"]

logger = logging.getLogger("spark_smote")

_DRAW = "_smote_draw"
_DANGER = "_smote_danger"
_NEW = "_smote_new"
_SLOT = "_smote_slot"


def in_danger(other: int, m: int) -> bool:
    """Whether a row with ``other`` other-label rows among its ``m`` nearest is in danger."""
    return 2 * other >= m and other < m


@dataclass
class BorderlineSMOTEReport(VariantReport):
    """What one :meth:`BorderlineSMOTE.fit_resample` call decided and did.

    Attributes
    ----------
    danger_counts : dict
        Rows in danger per class to grow (m/2 <= m' < m).
    noise_counts : dict
        Rows whose ``m_neighbors`` nearest are all of other labels, per class to grow.
    skipped_classes : dict
        Classes the strategy asked rows of that got none, with the reason.

    Other attributes as :class:`~spark_smote._variant_base.VariantReport`.

    """

    danger_counts: dict[Any, int] = field(default_factory=dict)
    noise_counts: dict[Any, int] = field(default_factory=dict)
    skipped_classes: dict[Any, str] = field(default_factory=dict)


class BorderlineSMOTE(
    VariantBase[BorderlineSMOTEParams],
    cli_names={
        "borderline-1": {"kind": "borderline-1"},
        "borderline-2": {"kind": "borderline-2"},
    },
):
    """Borderline-SMOTE over-sampling of a Spark DataFrame (Han et al., 2005).

    SMOTE grown only from the rows *in danger*: a row of a class to grow is in danger
    when at least half, but not all, of its ``m_neighbors`` nearest rows (of every
    class, itself excluded) have another label. Bases are drawn uniformly with
    replacement from the danger rows, exactly as many as ``sampling_strategy`` asks.

    Parameters
    ----------
    label_col, features, seed, neighbor_search, id_col, synthetic_col, provenance
        As for :class:`spark_smote.SMOTE`.
    k_neighbors : int, default 5
        The neighbour of a synthetic row is drawn among the base's ``k_neighbors``
        nearest rows: of its own class (borderline-1; the class needs
        ``k_neighbors + 1`` rows) or of every class (borderline-2).
    m_neighbors : int, default 10
        Nearest rows of every class that decide whether a row is in danger.
    kind : {'borderline-1', 'borderline-2'}, default 'borderline-1'
        borderline-2 interpolates towards rows of other labels too, by a step below
        0.5 (lambda * u, u uniform in [0, 0.5)); ``smote_lambda`` is that step.
    sampling_strategy : str, float or dict, default 'auto'
        As for :class:`spark_smote.SMOTE`; exact counts for every class with a row in
        danger. A class with none gets no rows: a warning names it and
        ``report_.skipped_classes`` says why.

    Attributes
    ----------
    report_ : BorderlineSMOTEReport
        Set by :meth:`fit_resample`: counts, danger and noise rows per class, search.

    Notes
    -----
    ``fit_resample`` runs, before returning, the keys pass over every row, the
    cross-class search (m' per row) and a count of the danger rows; the returned
    DataFrame is lazy and costs, when written, the same-class search (borderline-1)
    and the synthesis. Deterministic as SMOTE.

    References
    ----------
    H. Han, W.-Y. Wang, B.-H. Mao, "Borderline-SMOTE: a new over-sampling method in
    imbalanced data sets learning", ICIC 2005, LNCS 3644, 878-887.

    """

    params_class = BorderlineSMOTEParams
    report_: BorderlineSMOTEReport | None

    def _check_classes(self, plans: tuple[ClassPlan, ...]) -> None:
        """The neighbour counts must fit the data (imbalanced-learn would fail later)."""
        params = self.params
        total = sum(p.n_rows for p in plans)
        m, k = params.m_neighbors, params.k_neighbors
        if m > total - 1:
            raise InvalidInputError(
                f"m_neighbors={m}: each row needs m_neighbors neighbours among the other "
                f"rows of every class, but the input has {total} rows. Lower m_neighbors "
                f"to at most {total - 1}."
            )
        if params.kind == "borderline-2":
            if k > total - 1:
                raise InvalidInputError(
                    f"k_neighbors={k}: borderline-2 draws neighbours among the other rows "
                    f"of every class, but the input has {total} rows. Lower k_neighbors to "
                    f"at most {total - 1}."
                )
            return
        refuse_small_classes(
            plans,
            "k_neighbors",
            k,
            condition="with kind='borderline-1' ",
            other_fixes=["use kind='borderline-2'"],
        )

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """Danger set from the cross-class search, then SMOTE from its rows."""
        params = self.params
        grown = prepared.grown
        report = self._started_report(BorderlineSMOTEReport, prepared, synthetic_counts={})
        if not grown:
            return self._unchanged(df, prepared)
        m, k = params.m_neighbors, params.k_neighbors
        second = params.kind == "borderline-2"
        start = self._cross_class_start(
            df,
            prepared,
            report,
            m=m,
            k=k if second else None,
            classify=lambda other: in_danger(other, m),
        )
        active = self._danger_report(report, grown, start.counts.histogram)
        self._phase_done("cross-class search")
        if not active:
            return original_rows(df, prepared.schema, params)
        danger_rows = start.counts.table.where(
            F.col(CLASS).isin([p.ordinal for p in active]) & _danger_condition(m)
        )
        positioned = positions_in_group(danger_rows)
        draws = _draws(df, active, report.danger_counts, params, self._label(prepared))
        danger_bytes = sum(report.danger_counts.values()) * (2 * k + 4) * 8
        lookup = positioned.withColumnRenamed(IDX, BASE)
        with_base = draws.join(
            lookup_side(lookup, broadcast=danger_bytes <= self._limits().broadcast_lookup_bytes),
            on=[CLASS, POSITION],
        )
        search = None
        if second:
            resolved = _all_class_resolved(with_base, params.seed)
        else:
            own = [p.ordinal for p in active]
            resolved, search = self._own_class_resolved(start, own, with_base, k, _SLOT)
        return self._variant_output(df, prepared, start, report, resolved, active, search)

    def _danger_report(
        self,
        report: BorderlineSMOTEReport,
        grown: list[ClassPlan],
        histogram: dict[int, dict[int, int]],
    ) -> list[ClassPlan]:
        """Fill the danger and noise counts; warn about classes with no danger row."""
        m = self.params.m_neighbors
        active = []
        for plan in grown:
            counts = histogram.get(plan.ordinal, {})
            danger = sum(n for other, n in counts.items() if in_danger(other, m))
            noise = counts.get(m, 0)
            report.danger_counts[plan.label] = danger
            report.noise_counts[plan.label] = noise
            if danger:
                active.append(plan)
                report.synthetic_counts[plan.label] = plan.n_new
                continue
            reason = (
                f"no row in danger: of its {plan.n_rows} rows, {noise} have only other "
                f"labels among their m_neighbors={m} nearest rows (noise) and the others "
                "fewer than half; nothing to grow from"
            )
            report.skipped_classes[plan.label] = reason
            logger.warning(
                "spark_smote: BorderlineSMOTE adds no rows to class %r (%s). Try SMOTE, "
                "or a larger m_neighbors.",
                plan.label,
                reason,
            )
        return active


def _all_class_resolved(with_base: DataFrame, seed: int) -> DataFrame:
    """borderline-2: the neighbour is among the base's k nearest rows of every class.

    Towards a row of another label the step is lambda * u, u uniform in [0, 0.5).
    """
    slot = F.col(_SLOT) + F.lit(1)
    neighbour_class = F.element_at(NBR_CLASS, slot)
    other_label = neighbour_class != F.col(CLASS)
    u = F.lit(0.5) * uniform_column(seed, STREAM_BORDERLINE_STEP, F.col(CLASS), F.col(_DRAW))
    step = F.when(other_label, F.col(STEP) * u).otherwise(F.col(STEP))
    return with_base.select(
        "label",
        CLASS,
        BASE,
        neighbour_class.alias(NEIGHBOR_CLASS),
        F.element_at(NBR, slot).alias(NEIGHBOR),
        step.alias(STEP),
    )


def _danger_condition(m: int) -> Column:
    """:func:`in_danger` as a Column over ``_smote_other``."""
    other = F.col(OTHER)
    return (other * F.lit(2) >= F.lit(m)) & (other < F.lit(m))


def _draws(
    df: DataFrame,
    active: list[ClassPlan],
    danger_counts: dict[Any, int],
    params: BorderlineSMOTEParams,
    label: Column,
) -> DataFrame:
    """One row per synthetic row: (label, class, draw, danger position, slot, lambda)."""
    classes = df.sparkSession.range(1).select(
        F.inline(
            F.array(
                *[
                    F.struct(
                        F.lit(p.ordinal).cast("int").alias(CLASS),
                        F.lit(danger_counts[p.label]).cast("long").alias(_DANGER),
                        F.lit(p.n_new).cast("long").alias(_NEW),
                    )
                    for p in active
                ]
            )
        )
    )
    total = sum(p.n_new for p in active)
    draws = exploded(classes, _NEW, _DRAW, total)
    counters = (F.col(CLASS), F.col(_DRAW))
    seed, k = params.seed, params.k_neighbors
    position = F.floor(uniform_column(seed, STREAM_VARIANT_BASE, *counters) * F.col(_DANGER))
    slot = F.floor(uniform_column(seed, STREAM_VARIANT_NEIGHBOR, *counters) * F.lit(k))
    return draws.select(
        label,
        CLASS,
        _DRAW,
        F.least(position.cast("long"), F.col(_DANGER) - F.lit(1)).alias(POSITION),
        F.least(slot.cast("int"), F.lit(k - 1)).alias(_SLOT),
        uniform_column(seed, STREAM_VARIANT_LAMBDA, *counters).alias(STEP),
    )


@function_form(BorderlineSMOTE)
def borderline_smote(df: DataFrame, **params: Any) -> DataFrame:
    """Resample ``df`` with Borderline-SMOTE; the function form of :class:`BorderlineSMOTE`."""
    return BorderlineSMOTE(**params).fit_resample(df)

"""ADASYN (He et al., 2008): SMOTE with more synthetic rows where other classes are near.

Data flow: validation (the sampler base) -> keys of every class
(:func:`~spark_smote._variant_draws.every_class_points`) -> cross-class search: each row
i of a class to grow gets its ``n_neighbors`` nearest rows of every class, and
r_i = (other labels among them) / n_neighbors -> **per-row counts** -> same-class search
-> draws -> synthetic rows -> output (:func:`~spark_smote._synthesis.assemble_output`).

Per-row counts: row i's share of the class's n_new synthetic rows is
r_i / sum(r) * n_new. imbalanced-learn 0.14 rounds each share with ``rint``, so its
class total can differ from what was asked; here the shares are rounded by largest
remainder, so every row's count is its share rounded down or up and the class total
is exactly n_new. All in integers: with o_i other-label neighbours and S = sum(o),
the share is o_i * n_new / S, so rows with the same o_i have the same share; the
leftover rows go to the o-groups of largest remainder (ties: larger o first), and
within the last group partly served, to its rows of smallest index (the stable,
content-hashed order of :mod:`spark_smote._keys`). Row i's draws t = 0 .. count_i - 1
take the neighbour slot floor(U(seed, VARIANT_NEIGHBOR, c, i, t) * n_neighbors) among
its same-class nearest rows and lambda = U(seed, VARIANT_LAMBDA, c, i, t).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._errors import InvalidInputError
from spark_smote._keys import CLASS, IDX
from spark_smote._random import STREAM_VARIANT_LAMBDA, STREAM_VARIANT_NEIGHBOR, uniform_column
from spark_smote._sampler import PreparedInput, function_form
from spark_smote._variant_base import VariantBase, VariantReport
from spark_smote._variant_draws import BASE, OTHER, POSITION, STEP, exploded, positions_in_group
from spark_smote._variant_params import ADASYNParams

__all__ = ["ADASYN", "ADASYNReport", "adasyn", "row_counts"]

_COUNT = "_smote_count"
_DRAW = "_smote_draw"
_SLOT = "_smote_slot"


@dataclass
class ADASYNReport(VariantReport):
    """What one :meth:`ADASYN.fit_resample` call decided and did.

    Attributes
    ----------
    ratio_sums : dict
        Per class grown: sum over its rows of r_i, the share of other labels among a
        row's ``n_neighbors`` nearest rows of every class.

    Other attributes as :class:`~spark_smote._variant_base.VariantReport`.

    """

    ratio_sums: dict[Any, float] = field(default_factory=dict)


@dataclass(frozen=True)
class GroupCounts:
    """Synthetic rows per row of each o-group of one class (see :func:`row_counts`).

    Attributes
    ----------
    per_row : dict
        {o: rows every row of the group makes} (the partly served group's lower count).
    partial : tuple of int or None
        (o, rows of that group that make one more), or None when no group is split.

    """

    per_row: dict[int, int]
    partial: tuple[int, int] | None


def row_counts(histogram: dict[int, int], n_new: int) -> GroupCounts:
    """Largest-remainder rounding of the shares o * n_new / sum(o) of one class.

    Parameters
    ----------
    histogram : dict
        {o: rows with o other-label neighbours}; sum of o over rows must be > 0.
    n_new : int
        Rows to make in the class.

    Returns
    -------
    GroupCounts
        Counts whose sum over the rows is exactly ``n_new``, each within 1 of its share.

    """
    total = sum(o * n for o, n in histogram.items())
    floors = {o: (o * n_new) // total for o in histogram}
    remainders = {o: (o * n_new) % total for o in histogram}
    left = n_new - sum(floors[o] * n for o, n in histogram.items())
    per_row = dict(floors)
    partial = None
    for o in sorted(histogram, key=lambda o: (-remainders[o], -o)):
        if left <= 0:
            break
        if histogram[o] <= left:
            per_row[o] += 1
            left -= histogram[o]
        else:
            partial, left = (o, left), 0
    return GroupCounts(per_row, partial)


class ADASYN(VariantBase[ADASYNParams], cli_name="adasyn"):
    """ADASYN over-sampling of a Spark DataFrame (He et al., 2008).

    Each class to grow gets exactly the rows ``sampling_strategy`` asks for, shared
    among its rows in proportion to r_i, the share of other labels among row i's
    ``n_neighbors`` nearest rows of every class (one class against the rest); a row's
    synthetic rows interpolate towards its ``n_neighbors`` nearest rows of its class.

    Parameters
    ----------
    label_col, features, seed, neighbor_search, id_col, synthetic_col, provenance
        As for :class:`spark_smote.SMOTE`.
    n_neighbors : int, default 5
        Neighbours that weigh a row (of every class) and that it interpolates towards
        (of its class); each class to grow needs ``n_neighbors + 1`` rows.
    sampling_strategy : str, float or dict, default 'auto'
        As for :class:`spark_smote.SMOTE`.

    Attributes
    ----------
    report_ : ADASYNReport
        Set by :meth:`fit_resample`: counts, sum of r per class, searches.

    Notes
    -----
    imbalanced-learn rounds each row's share with ``rint``, so its class totals can
    differ from the strategy's; here the shares are rounded by largest remainder
    (every row's count within 1 of its share, the class total exact). A class whose
    rows have no other label among their neighbours (sum of r = 0) is refused, as
    imbalanced-learn does.

    References
    ----------
    H. He, Y. Bai, E. A. Garcia, S. Li, "ADASYN: Adaptive synthetic sampling approach
    for imbalanced learning", IJCNN 2008, 1322-1328.

    """

    params_class = ADASYNParams
    neighbors_param = "n_neighbors"
    report_: ADASYNReport | None

    def _fit_resample(self, df: DataFrame, prepared: PreparedInput) -> DataFrame:
        """Ratios from the cross-class search, exact per-row counts, then synthesis."""
        params = self.params
        grown = prepared.grown
        report = self._started_report(ADASYNReport, prepared)
        if not grown:
            return self._unchanged(df, prepared)
        n = params.n_neighbors
        start = self._cross_class_start(df, prepared, report, m=n, k=None, classify=lambda o: o)
        groups = {}
        for plan in grown:
            histogram = start.counts.histogram.get(plan.ordinal, {})
            total = sum(o * rows for o, rows in histogram.items())
            if total == 0:
                raise InvalidInputError(
                    f"ADASYN: no row of class {plan.label!r} has a row of another label "
                    f"among its n_neighbors={n} nearest rows, so every ratio r_i is 0 and "
                    "ADASYN cannot share the synthetic rows out (imbalanced-learn raises "
                    "here too). Use SMOTE for this class, or a larger n_neighbors."
                )
            report.ratio_sums[plan.label] = total / n
            groups[plan.ordinal] = row_counts(histogram, plan.n_new)
        self._phase_done("cross-class search")
        rows = _counted_rows(start.counts.table, groups)
        draws = exploded(rows, _COUNT, _DRAW, sum(p.n_new for p in grown))
        counters = (F.col(CLASS), F.col(IDX), F.col(_DRAW))
        slot = F.floor(uniform_column(params.seed, STREAM_VARIANT_NEIGHBOR, *counters) * n)
        draws = draws.select(
            self._label(prepared),
            CLASS,
            F.col(IDX).alias(BASE),
            F.least(slot.cast("int"), F.lit(n - 1)).alias(_SLOT),
            uniform_column(params.seed, STREAM_VARIANT_LAMBDA, *counters).alias(STEP),
        )
        own = [p.ordinal for p in grown]
        resolved, search = self._own_class_resolved(start, own, draws, n, _SLOT)
        return self._variant_output(df, prepared, start, report, resolved, grown, search)


def _counted_rows(table: DataFrame, groups: dict[int, GroupCounts]) -> DataFrame:
    """The query rows with ``_smote_count``, their synthetic rows (see :func:`row_counts`)."""
    count: Column = F.lit(0).cast("long")
    for ordinal, group in groups.items():
        for other, per_row in group.per_row.items():
            if per_row:
                hit = (F.col(CLASS) == F.lit(ordinal)) & (F.col(OTHER) == F.lit(other))
                count = F.when(hit, F.lit(per_row).cast("long")).otherwise(count)
    split = {o: g.partial for o, g in groups.items() if g.partial is not None}
    if not split:
        return table.select(CLASS, IDX, count.alias(_COUNT))
    in_split: Column = F.lit(False)
    served: Column = F.lit(0).cast("long")
    for ordinal, (other, extra) in split.items():
        hit = (F.col(CLASS) == F.lit(ordinal)) & (F.col(OTHER) == F.lit(other))
        in_split = in_split | hit
        served = F.when(F.col(CLASS) == F.lit(ordinal), F.lit(extra)).otherwise(served)
    whole = table.where(~in_split).select(CLASS, IDX, count.alias(_COUNT))
    parted = table.where(in_split)
    positioned = positions_in_group(parted)
    one_more = F.when(F.col(POSITION) < served, F.lit(1)).otherwise(F.lit(0))
    return whole.unionByName(positioned.select(CLASS, IDX, (count + one_more).alias(_COUNT)))


@function_form(ADASYN)
def adasyn(df: DataFrame, **params: Any) -> DataFrame:
    """Resample ``df`` with ADASYN; the function form of :class:`ADASYN`."""
    return ADASYN(**params).fit_resample(df)

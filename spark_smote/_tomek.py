"""TomekLinks: remove the rows of cleaned classes that sit in a Tomek link.

The sampler's own step (row selection) of the cleaning flow of
:mod:`spark_smote._cleaning`: every row is a query for its single nearest row of any
class; two rows of different classes that are each other's nearest row form a link
(imbalanced-learn 0.14's ``TomekLinks.is_tomek``), and the rows of a link whose class
the strategy cleans are removed. Found with one self-join of the neighbours table,
materialised once so that the search runs once.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote._checkpoint import materialized
from spark_smote._cleaning import CleanerBase, exact_neighbors
from spark_smote._errors import InvalidInputError
from spark_smote._family_params import TomekLinksParams
from spark_smote._keys import CLASS, IDX
from spark_smote._sampler import function_form, require_spark_dataframe
from spark_smote._search.cross_exact import NBR, NBR_CLASS

__all__ = ["TomekLinks", "tomek_links"]

_OTHER_CLASS = "_smote_other_class"
_OTHER = "_smote_other"


class TomekLinks(CleanerBase[TomekLinksParams], cli_name="tomek"):
    """Remove Tomek links from a Spark DataFrame (Tomek, 1976; imbalanced-learn's semantics).

    Two rows of different classes that are each other's nearest row (Euclidean, over
    all rows of all classes) form a Tomek link; the rows of a link that belong to a
    class the strategy cleans are removed. No row is added or changed.

    Parameters
    ----------
    label_col : str, default 'label'
        Class label column.
    features : None, list of str, or str, default None
        As :class:`spark_smote.SMOTE`'s.
    sampling_strategy : str or list, default 'auto'
        Classes cleaned: 'auto' (= 'not minority'), 'majority', 'not minority',
        'not majority', 'all', or a list of classes.
    seed : int, optional
        Seed of the LSH hashing and of the LSH agreement sample.
    neighbor_search : {'auto', 'exact', 'lsh'}, default 'auto'
        'auto': exact search up to 10,000 rows in all, LSH above.
    id_col : str, optional
        A unique row id: the stable key of each row (else its label and features).

    Attributes
    ----------
    report_ : CleaningReport
        Rows removed per class, counts after, the search and (LSH) its agreement with
        exact search.

    Notes
    -----
    Ties at equal distance go to the row of smaller (class, stable key), so the output
    does not depend on partitioning. Rows with the same label and features share one
    decision. ``fit_resample`` runs the search and the selection; the returned
    DataFrame is the input minus the selected rows (an anti-join), lazy.

    Examples
    --------
    >>> from spark_smote import TomekLinks
    >>> rows = [(float(i), 0) for i in range(6)] + [(5.4, 1), (9.0, 1)]
    >>> df = spark.createDataFrame(rows, ["x", "label"])
    >>> out = TomekLinks(seed=1).fit_resample(df)
    >>> sorted(r.x for r in out.where("label = 0").collect())
    [0.0, 1.0, 2.0, 3.0, 4.0]

    """

    params_class = TomekLinksParams

    def _k(self) -> int:
        return 1

    def _refuse_few_rows(self, rows: int) -> None:  # pragma: no cover - two classes
        raise InvalidInputError(f"TomekLinks needs at least two rows; the input has {rows}.")

    def _query_classes(self, cleaned: list[int]) -> list[int] | None:
        """Every row: a link needs the nearest row of both of its rows."""
        return None

    def _removed(self, neighbors: DataFrame, cleaned: list[int]) -> DataFrame:
        """Rows of cleaned classes whose nearest row has another class and is nearest to them."""
        # Both sides of the self-join read this table: computed once, or the search
        # behind ``neighbors`` would run once per side.
        nearest = materialized(
            neighbors.select(
                CLASS, IDX, F.col(NBR_CLASS)[0].alias(_OTHER_CLASS), F.col(NBR)[0].alias(_OTHER)
            )
        )
        back = nearest.select(
            F.col(CLASS).alias(_OTHER_CLASS),
            F.col(IDX).alias(_OTHER),
            F.col(_OTHER_CLASS).alias(CLASS),
            F.col(_OTHER).alias(IDX),
        )
        candidates = nearest.where(
            F.col(CLASS).isin(cleaned) & (F.col(_OTHER_CLASS) != F.col(CLASS))
        )
        return candidates.join(back, on=[CLASS, IDX, _OTHER_CLASS, _OTHER]).select(CLASS, IDX)

    def _deciding_rows(
        self, points: DataFrame, sample: dict[int, list[int]], sizes: dict[int, int], dimension: int
    ) -> dict[int, list[int]]:
        """The sample rows whose nearest row has another class, and those nearest rows.

        A link needs both rows' nearest; a row whose nearest shares its class is in no
        link, so only the others and their nearest are searched again (none, and the
        second search is skipped, when the classes barely touch).
        """
        nearest = exact_neighbors(points, sample, sizes, 1, dimension)
        across = nearest.select(
            CLASS, IDX, F.col(NBR_CLASS)[0].alias(_OTHER_CLASS), F.col(NBR)[0].alias(_OTHER)
        ).where(F.col(_OTHER_CLASS) != F.col(CLASS))
        rows: dict[int, set[int]] = {}
        for row in across.collect():
            rows.setdefault(row[CLASS], set()).add(row[IDX])
            rows.setdefault(row[_OTHER_CLASS], set()).add(row[_OTHER])
        return {ordinal: sorted(indices) for ordinal, indices in rows.items()}


@function_form(TomekLinks)
def tomek_links(df: DataFrame, **params: Any) -> DataFrame:
    """Remove Tomek links from ``df``; the function form of :class:`TomekLinks`."""
    require_spark_dataframe(df, "tomek_links")
    return TomekLinks(**params).fit_resample(df)

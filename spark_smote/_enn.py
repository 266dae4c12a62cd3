"""EditedNearestNeighbours: remove rows of cleaned classes their neighbours outvote.

The sampler's own step (row selection) of the cleaning flow of
:mod:`spark_smote._cleaning`: the rows of the classes the strategy cleans are the
queries; each gets its ``n_neighbors`` nearest rows of any class (itself excluded) and
is removed when they do not all share its class (``kind_sel='all'``) or when their
most common class, ties to the smallest label, is another (``'mode'``), as
imbalanced-learn 0.14's ``EditedNearestNeighbours``. The vote is a Spark expression
over the neighbours' class ordinals (sorted label order), no Python.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_smote._cleaning import CleanerBase
from spark_smote._errors import InvalidInputError
from spark_smote._family_params import ENNParams
from spark_smote._keys import CLASS, IDX
from spark_smote._sampler import function_form, require_spark_dataframe
from spark_smote._search.cross_exact import NBR_CLASS

__all__ = ["EditedNearestNeighbours", "edited_nearest_neighbours", "outvoted"]


def outvoted(kind_sel: str) -> Column:
    """Whether a query row's neighbours outvote its class (the removal rule).

    'all': some neighbour has another class. 'mode': the most frequent neighbour class
    (ties to the smallest ordinal, as ``scipy.stats.mode``) is not the row's.
    """
    classes = F.col(NBR_CLASS)
    own = F.col(CLASS)
    if kind_sel == "all":
        return F.exists(classes, lambda c: c != own)

    def votes(c: Column) -> Column:
        # Fewest negative votes first, then the smallest class: array_min picks the mode.
        count = F.size(F.filter(classes, lambda other: other == c))
        return F.struct((-count).alias("votes"), c.alias("class"))

    mode = F.array_min(F.transform(classes, votes))["class"]
    return mode != own


class EditedNearestNeighbours(CleanerBase[ENNParams], cli_name="enn"):
    """Edited nearest neighbours cleaning (Wilson, 1972; imbalanced-learn's semantics).

    A row of a cleaned class is removed when its ``n_neighbors`` nearest rows of all
    classes (Euclidean, itself excluded) do not all share its class (``kind_sel='all'``)
    or when their most common class is another (``'mode'``). No row is added or changed.

    Parameters
    ----------
    label_col, features, sampling_strategy, seed, neighbor_search, id_col
        As for :class:`spark_smote.TomekLinks`.
    n_neighbors : int, default 3
        Neighbours that vote (``--enn-neighbors`` on the command line).
    kind_sel : {'all', 'mode'}, default 'all'
        'all': remove a row when any neighbour has another class; 'mode': when the most
        frequent neighbour class (ties to the smallest label) is another.

    Attributes
    ----------
    report_ : CleaningReport
        As for :class:`spark_smote.TomekLinks`.

    Examples
    --------
    >>> from spark_smote import EditedNearestNeighbours
    >>> rows = [(float(i), 0) for i in range(8)] + [(3.5, 1), (20.0, 1), (21.0, 1), (22.0, 1)]
    >>> df = spark.createDataFrame(rows, ["x", "label"])
    >>> enn = EditedNearestNeighbours(n_neighbors=2, sampling_strategy="all", seed=1)
    >>> sorted(r.x for r in enn.fit_resample(df).where("label = 1").collect())
    [20.0, 21.0, 22.0]

    """

    params_class = ENNParams

    def _k(self) -> int:
        return self.params.n_neighbors

    def _refuse_few_rows(self, rows: int) -> None:
        k = self.params.n_neighbors
        raise InvalidInputError(
            f"n_neighbors={k}: each row needs {k} neighbours among the other rows, but the "
            f"input has {rows} rows. Lower n_neighbors to at most {max(rows - 1, 1)}."
        )

    def _query_classes(self, cleaned: list[int]) -> list[int] | None:
        """The rows of the cleaned classes."""
        return cleaned

    def _removed(self, neighbors: DataFrame, cleaned: list[int]) -> DataFrame:
        return neighbors.where(F.col(CLASS).isin(cleaned) & outvoted(self.params.kind_sel)).select(
            CLASS, IDX
        )


@function_form(EditedNearestNeighbours)
def edited_nearest_neighbours(df: DataFrame, **params: Any) -> DataFrame:
    """Clean ``df`` with ENN; the function form of :class:`EditedNearestNeighbours`."""
    require_spark_dataframe(df, "edited_nearest_neighbours")
    return EditedNearestNeighbours(**params).fit_resample(df)

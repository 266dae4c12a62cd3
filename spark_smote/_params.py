"""Phase 0: the validated parameters of one SMOTE run.

`SMOTEParams` is built once, by keyword, from what the user passed to :class:`SMOTE`,
:func:`smote` or the command line. Everything after this phase reads the frozen object
and never re-checks a parameter. Checks that need the data (does the label column
exist, is a class large enough) live in the feature-preparation phase.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from spark_smote._errors import InvalidParameterError

__all__ = [
    "NEIGHBOR_SEARCH_METHODS",
    "NON_FEATURE_FILLS",
    "STRATEGY_NAMES",
    "SMOTEParams",
    "SamplingStrategy",
]

STRATEGY_NAMES = ("auto", "not majority", "minority", "not minority", "all")
NEIGHBOR_SEARCH_METHODS = ("auto", "exact", "lsh")
NON_FEATURE_FILLS = ("null", "base", "nearest")

SamplingStrategy = str | float | Mapping[Any, int]
NeighborSearch = Literal["auto", "exact", "lsh"]
NonFeatureFill = Literal["null", "base", "nearest"]

_MAX_SEED = 2**63 - 1


def _check_column_name(parameter: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(
            f"{parameter}={value!r}: expected a non-empty column name (str)."
        )


def _column_list(parameter: str, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Check a list of column names (each a non-empty str, none repeated)."""
    for name in names:
        _check_column_name(parameter, name, optional=False)
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise InvalidParameterError(
            f"{parameter}: columns {repeated} are listed more than once; list each once."
        )
    return tuple(names)


def _check_strategy(value: object) -> SamplingStrategy:
    if isinstance(value, bool):
        raise InvalidParameterError(
            f"sampling_strategy={value!r}: a bool is not a strategy. Use one of "
            f"{list(STRATEGY_NAMES)}, a float in (0, 1] or a dict {{class: desired total}}."
        )
    if isinstance(value, str):
        if value not in STRATEGY_NAMES:
            raise InvalidParameterError(
                f"sampling_strategy={value!r}: unknown strategy. Use one of "
                f"{list(STRATEGY_NAMES)}, a float in (0, 1] (binary labels only) or a "
                "dict {class: desired total}."
            )
        return value
    if isinstance(value, int | float):
        ratio = float(value)
        if not math.isfinite(ratio) or ratio <= 0 or ratio > 1:
            raise InvalidParameterError(
                f"sampling_strategy={value!r}: a float strategy is the desired ratio "
                "minority/majority after resampling and must be in (0, 1]."
            )
        return ratio
    if isinstance(value, Mapping):
        if not value:
            raise InvalidParameterError(
                "sampling_strategy={}: an empty dict asks for nothing. Name at least one "
                "class and its desired total, e.g. {1: 900}."
            )
        for cls, total in value.items():
            if isinstance(total, bool) or not isinstance(total, int) or total < 0:
                raise InvalidParameterError(
                    f"sampling_strategy[{cls!r}]={total!r}: the desired total of a class "
                    "must be a non-negative int."
                )
        return dict(value)
    raise InvalidParameterError(
        f"sampling_strategy={value!r} (type {type(value).__name__}): expected a str, a "
        "float or a dict {class: desired total}."
    )


@dataclass(frozen=True, kw_only=True)
class SMOTEParams:
    """Validated parameters of one SMOTE run (see :class:`spark_smote.SMOTE`)."""

    label_col: str = "label"
    features: str | tuple[str, ...] | None = None
    k_neighbors: int = 5
    sampling_strategy: SamplingStrategy = "auto"
    seed: int = field(default_factory=lambda: secrets.randbits(62))
    seed_was_given: bool = True
    neighbor_search: NeighborSearch = "auto"
    id_col: str | None = None
    synthetic_col: str | None = None
    provenance: bool = False
    categorical: tuple[str, ...] = ()
    non_feature_fill: NonFeatureFill = "null"
    synthetic_ids: bool = False

    @classmethod
    def build(
        cls,
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
    ) -> SMOTEParams:
        """Check every parameter and return the frozen parameter object.

        Raises
        ------
        InvalidParameterError
            Naming the parameter, the value given and what is accepted.

        """
        _check_column_name("label_col", label_col, optional=False)
        _check_column_name("id_col", id_col, optional=True)
        _check_column_name("synthetic_col", synthetic_col, optional=True)
        checked_features: str | tuple[str, ...] | None
        if features is None or isinstance(features, str):
            if isinstance(features, str) and not features:
                raise InvalidParameterError("features='': expected a column name or a list.")
            checked_features = features
        elif isinstance(features, list | tuple):
            if not features:
                raise InvalidParameterError(
                    "features=[]: an empty list selects nothing. Pass None to use every "
                    "numeric column, or name the feature columns."
                )
            checked_features = _column_list("features", features)
        else:
            raise InvalidParameterError(
                f"features={features!r}: expected None, a list of numeric column names, or "
                "one vector/array column name."
            )
        named = checked_features if isinstance(checked_features, tuple) else (checked_features,)
        for role, column in (("label_col", label_col), ("id_col", id_col)):
            if column is not None and column in named:
                raise InvalidParameterError(
                    f"features: {column!r} is also {role}; a column cannot be both. Remove it "
                    "from features."
                )
        if id_col is not None and id_col == label_col:
            raise InvalidParameterError(
                f"id_col={id_col!r} is also label_col; name a unique row-id column."
            )
        if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, int) or k_neighbors < 1:
            raise InvalidParameterError(
                f"k_neighbors={k_neighbors!r}: must be an int >= 1 (the default is 5)."
            )
        strategy = _check_strategy(sampling_strategy)
        if neighbor_search not in NEIGHBOR_SEARCH_METHODS:
            raise InvalidParameterError(
                f"neighbor_search={neighbor_search!r}: use one of {list(NEIGHBOR_SEARCH_METHODS)}."
            )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED
        ):
            raise InvalidParameterError(f"seed={seed!r}: must be None or an int in [0, 2**63 - 1].")
        if not isinstance(provenance, bool):
            raise InvalidParameterError(f"provenance={provenance!r}: must be True or False.")
        extra = {
            name: col
            for name, col in (("synthetic_col", synthetic_col),)
            if col is not None and col in (label_col, id_col)
        }
        if extra:
            raise InvalidParameterError(
                f"synthetic_col={synthetic_col!r} names the label or id column; choose a new "
                "column name such as 'is_synthetic'."
            )
        checked_categorical = _check_categorical(categorical, label_col, id_col, named)
        if non_feature_fill not in NON_FEATURE_FILLS:
            raise InvalidParameterError(
                f"non_feature_fill={non_feature_fill!r}: use one of {list(NON_FEATURE_FILLS)} "
                "('null': synthetic rows leave other columns null, 'base': copy the base "
                "row's values, 'nearest': copy the nearer of base and neighbour)."
            )
        if not isinstance(synthetic_ids, bool):
            raise InvalidParameterError(f"synthetic_ids={synthetic_ids!r}: must be True or False.")
        if synthetic_ids and id_col is None:
            raise InvalidParameterError(
                "synthetic_ids=True generates fresh ids in id_col, but id_col is None. Pass "
                "id_col= the unique row-id column."
            )
        return cls(
            label_col=label_col,
            features=checked_features,
            k_neighbors=k_neighbors,
            sampling_strategy=strategy,
            seed=secrets.randbits(62) if seed is None else seed,
            seed_was_given=seed is not None,
            neighbor_search=neighbor_search,  # type: ignore[arg-type]
            id_col=id_col,
            synthetic_col=synthetic_col,
            provenance=provenance,
            categorical=checked_categorical,
            non_feature_fill=non_feature_fill,  # type: ignore[arg-type]
            synthetic_ids=synthetic_ids,
        )

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain keyword arguments of :class:`spark_smote.SMOTE`.

        The seed is included only when it was given. Tuples become lists, so the
        result is JSON-serialisable (except dict keys of ``sampling_strategy``, which
        JSON turns into strings; the strategy matches them back to the labels).
        """
        strategy = self.sampling_strategy
        return {
            "label_col": self.label_col,
            "features": list(self.features) if isinstance(self.features, tuple) else self.features,
            "k_neighbors": self.k_neighbors,
            "sampling_strategy": dict(strategy) if isinstance(strategy, Mapping) else strategy,
            "seed": self.seed if self.seed_was_given else None,
            "neighbor_search": self.neighbor_search,
            "id_col": self.id_col,
            "synthetic_col": self.synthetic_col,
            "provenance": self.provenance,
            "categorical": list(self.categorical),
            "non_feature_fill": self.non_feature_fill,
            "synthetic_ids": self.synthetic_ids,
        }


def _check_categorical(
    categorical: object, label_col: str, id_col: str | None, features: tuple[str | None, ...]
) -> tuple[str, ...]:
    if categorical is None:
        return ()
    if isinstance(categorical, str) or not isinstance(categorical, list | tuple):
        raise InvalidParameterError(
            f"categorical={categorical!r}: expected a list of column names, e.g. "
            "categorical=['country', 'device']."
        )
    named = _column_list("categorical", categorical)
    for role, column in (("label_col", label_col), ("id_col", id_col)):
        if column is not None and column in named:
            raise InvalidParameterError(
                f"categorical: {column!r} is also {role}; a column cannot be both. Remove it "
                "from categorical."
            )
    both = [n for n in named if n in features]
    if both:
        raise InvalidParameterError(
            f"categorical: {both} are also listed in features. A column is either a "
            "continuous feature or a categorical one: remove it from one of the lists."
        )
    return named

"""Phase 0 and 1 for the cleaners and the random over-sampler: declarations, strategies.

Parameters of :class:`~spark_smote.TomekLinks`, :class:`~spark_smote.EditedNearestNeighbours`
and :class:`~spark_smote.RandomOverSampler`, declared once on top of
:class:`~spark_smote._params.SamplerParams` (see :mod:`spark_smote._params`), with the
checks of their own values: the cleaning ``sampling_strategy`` and ``shrinkage``.
Then, from the class counts of the validation pass, what those parameters ask of each
class (imbalanced-learn 0.14's ``check_sampling_strategy`` for cleaning methods, and
``RandomOverSampler``'s per-class shrinkage). Only counts travel here, never rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from spark_smote._errors import InvalidInputError, InvalidParameterError
from spark_smote._params import (
    GeneratorParams,
    SamplerParams,
    SamplingStrategy,
    choice_parameter,
    count_parameter,
    over_sampling_parameter,
    parameter,
)
from spark_smote._strategy import _match_class

__all__ = [
    "CLEANING_STRATEGY_NAMES",
    "CleanerParams",
    "ENNParams",
    "RandomOverSamplerParams",
    "TomekLinksParams",
    "cleaned_classes",
    "shrinkage_by_class",
]

# imbalanced-learn's names for cleaning methods: 'auto' is 'not minority'; 'minority'
# (and a dict or a float) are refused there too.
CLEANING_STRATEGY_NAMES = ("auto", "majority", "not minority", "not majority", "all")

CleaningStrategy = str | tuple[Any, ...]
Shrinkage = float | Mapping[Any, float] | None


def cleaning_strategy(name: str, value: Any) -> CleaningStrategy:
    """Check: a cleaning strategy name or a non-empty list of classes."""
    if isinstance(value, str):
        if value not in CLEANING_STRATEGY_NAMES:
            raise InvalidParameterError(
                f"{name}={value!r}: a cleaner takes one of {list(CLEANING_STRATEGY_NAMES)} "
                "or a list of the classes to clean, e.g. [0, 2] (imbalanced-learn's "
                "cleaning semantics; 'minority', floats and dicts are for over-sampling)."
            )
        return value
    if isinstance(value, list | tuple):
        if not value:
            raise InvalidParameterError(
                f"{name}=[]: an empty list cleans nothing. Name at least one class, or use 'auto'."
            )
        return tuple(value)
    raise InvalidParameterError(
        f"{name}={value!r} (type {type(value).__name__}): a cleaner takes one of "
        f"{list(CLEANING_STRATEGY_NAMES)} or a list of classes."
    )


def shrinkage_value(name: str, value: Any) -> Shrinkage:
    """Check: None, a float >= 0, or a dict {class: float >= 0}."""
    if value is None:
        return None

    def one(where: str, factor: Any) -> float:
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise InvalidParameterError(
                f"{where}={factor!r}: a shrinkage factor is a float >= 0, e.g. 0.5."
            )
        if not math.isfinite(float(factor)) or factor < 0:
            raise InvalidParameterError(
                f"{where}={factor!r}: a shrinkage factor must be finite and >= 0 (0 gives "
                "plain copies)."
            )
        return float(factor)

    if isinstance(value, Mapping):
        if not value:
            raise InvalidParameterError(
                f"{name}={{}}: give a factor for each class to grow, e.g. {{1: 0.5}}, or a "
                "single float for all of them."
            )
        return {cls: one(f"{name}[{cls!r}]", factor) for cls, factor in value.items()}
    return one(name, value)


@dataclass(frozen=True, kw_only=True)
class CleanerParams(SamplerParams):
    """Parameters of every cleaner: which classes lose rows."""

    options_title: ClassVar[str] = "cleaner parameters (--sampler tomek, enn)"

    sampling_strategy: CleaningStrategy = parameter(
        "auto",
        help=f"classes cleaned: {' | '.join(CLEANING_STRATEGY_NAMES)} | '[0, 2]'",
        check=cleaning_strategy,
        toml=(str, list),
        cli="strategy",
    )


@dataclass(frozen=True, kw_only=True)
class TomekLinksParams(CleanerParams):
    """Parameters of :class:`spark_smote.TomekLinks` (the cleaner's only)."""

    options_title: ClassVar[str] = "TomekLinks parameters (--sampler tomek)"


@dataclass(frozen=True, kw_only=True)
class ENNParams(CleanerParams):
    """Parameters of :class:`spark_smote.EditedNearestNeighbours`."""

    options_title: ClassVar[str] = "EditedNearestNeighbours parameters (--sampler enn)"

    n_neighbors: int = count_parameter(
        3, help="neighbours that vote on each row of a cleaned class", option="enn-neighbors"
    )
    kind_sel: str = choice_parameter(
        "all",
        ("all", "mode"),
        help="remove a row unless all (all) or most (mode) of its neighbours share its class",
        note="('all': remove a row when any neighbour has another class; 'mode': "
        "when the most common neighbour class, ties to the smallest, is another).",
    )


@dataclass(frozen=True, kw_only=True)
class RandomOverSamplerParams(GeneratorParams):
    """Parameters of :class:`spark_smote.RandomOverSampler`."""

    options_title: ClassVar[str] = "RandomOverSampler parameters (--sampler random)"

    sampling_strategy: SamplingStrategy = over_sampling_parameter()
    shrinkage: Shrinkage = parameter(
        None,
        help="smoothed bootstrap: noise of shrinkage x class std x bandwidth, a float or "
        "'{\"1\": 0.5}' (default: plain copies)",
        check=shrinkage_value,
        toml=(float, int, dict),
        cli="number_or_map",
    )


def cleaned_classes(strategy: CleaningStrategy, class_counts: Mapping[Any, int]) -> list[Any]:
    """The classes a cleaner removes rows from, in sorted label order.

    imbalanced-learn's ``check_sampling_strategy(..., 'clean-sampling')``: the majority
    (minority) is the first class of largest (smallest) count in sorted label order.

    Raises
    ------
    InvalidInputError
        Fewer than two classes.
    InvalidParameterError
        A list naming a class absent from the labels.

    """
    counts = {cls: int(class_counts[cls]) for cls in sorted(class_counts)}
    if len(counts) < 2:
        raise InvalidInputError(
            f"label column has {len(counts)} class(es) {list(counts)}: cleaning needs at "
            "least two classes. Check the label column and any filter applied before."
        )
    majority = max(counts, key=counts.__getitem__)
    minority = min(counts, key=counts.__getitem__)
    if isinstance(strategy, str):
        chosen = {
            "auto": [c for c in counts if c != minority],
            "not minority": [c for c in counts if c != minority],
            "majority": [majority],
            "not majority": [c for c in counts if c != majority],
            "all": list(counts),
        }[strategy]
        return chosen
    named = {_match_class(requested, counts) for requested in strategy}
    return [c for c in counts if c in named]


def shrinkage_by_class(
    shrinkage: Shrinkage, grown: Sequence[Any], class_counts: Mapping[Any, int]
) -> dict[Any, float] | None:
    """Each grown class's shrinkage factor (None: plain copies), as imbalanced-learn.

    Raises
    ------
    InvalidParameterError
        A dict naming a class absent from the labels, or missing a class to grow.

    """
    if shrinkage is None:
        return None
    if not isinstance(shrinkage, Mapping):
        return {cls: float(shrinkage) for cls in grown}
    present = list(class_counts)
    factors = {}
    for requested, factor in shrinkage.items():
        try:
            factors[_match_class(requested, class_counts)] = factor
        except InvalidParameterError:
            raise InvalidParameterError(
                f"shrinkage names class {requested!r}, which is not present in the label "
                f"column. Present classes: {present}. Use one of them as the key."
            ) from None
    missing = [cls for cls in grown if cls not in factors]
    if missing:
        raise InvalidParameterError(
            f"shrinkage={dict(shrinkage)!r}: no factor for the classes to grow {missing}. "
            "Give a factor for each class the strategy grows, or one float for all."
        )
    return {cls: factors[cls] for cls in grown}

"""Phase 1: from class counts to the exact number of synthetic rows per class.

Implements imbalanced-learn's over-sampling semantics of ``sampling_strategy`` on the
class counts measured by the preparation phase: classes are ordered by their label
value and ties for the majority (or minority) go to the smallest label, exactly as
``imblearn.utils.check_sampling_strategy`` resolves them. Only counts travel here,
never data rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from spark_smote._errors import InvalidInputError, InvalidParameterError
from spark_smote._params import SamplingStrategy

__all__ = ["MAX_GROWTH_FACTOR", "resolve_sampling_strategy"]

# A dict strategy may ask a class for at most this many times the largest class's
# size. The named and float strategies never exceed the largest class; a larger dict
# total is almost always a typo (an extra zero) and would run for hours before failing.
MAX_GROWTH_FACTOR = 100


def _majority(counts: Mapping[Any, int]) -> Any:
    # max() keeps the first maximal key; keys are iterated in sorted label order.
    return max(counts, key=counts.__getitem__)


def _minority(counts: Mapping[Any, int]) -> Any:
    return min(counts, key=counts.__getitem__)


def _match_class(requested: Hashable, counts: Mapping[Any, int]) -> Any:
    """Find the class a dict key names, accepting the string form from the CLI/JSON."""
    if requested in counts and type(requested) is not bool:
        return requested
    for cls in counts:
        if cls == requested and type(cls) is type(requested):
            return cls
    # JSON writes booleans as true/false: compare text case-insensitively for bools only.
    text_matches = [
        cls
        for cls in counts
        if str(cls) == str(requested)
        or (isinstance(cls, bool) and str(cls).lower() == str(requested).lower())
    ]
    if len(text_matches) == 1:
        return text_matches[0]
    raise InvalidParameterError(
        f"sampling_strategy names class {requested!r}, which is not present in the label "
        f"column. Present classes: {list(counts)}. Use one of them as the key."
    )


def resolve_sampling_strategy(
    strategy: SamplingStrategy, class_counts: Mapping[Any, int]
) -> dict[Any, int]:
    """Return ``{class: number of synthetic rows to add}`` for every class to grow.

    Parameters
    ----------
    strategy : str, float or dict
        An already type-checked ``sampling_strategy`` (see :class:`spark_smote.SMOTE`).
    class_counts : mapping
        Rows per class in the input; at least two classes.

    Returns
    -------
    dict
        Classes in sorted label order, each with a count >= 0 of rows to synthesise.
        Classes left alone are absent.

    Raises
    ------
    InvalidInputError
        Fewer than two classes.
    InvalidParameterError
        A float strategy on multi-class labels or one that would remove rows; a dict
        naming an unknown class, asking fewer rows than a class already has, or more
        than ``MAX_GROWTH_FACTOR`` (100) times the largest class.

    """
    counts = {cls: int(class_counts[cls]) for cls in sorted(class_counts)}
    if len(counts) < 2:
        raise InvalidInputError(
            f"label column has {len(counts)} class(es) {list(counts)}: SMOTE needs at "
            "least two classes to balance. Check the label column and any filter applied "
            "before resampling."
        )
    n_majority = max(counts.values())
    if isinstance(strategy, str):
        if strategy in ("auto", "not majority"):
            skip = {_majority(counts)}
            targets = {cls: n_majority - n for cls, n in counts.items() if cls not in skip}
        elif strategy == "minority":
            minority = _minority(counts)
            targets = {minority: n_majority - counts[minority]}
        elif strategy == "not minority":
            skip = {_minority(counts)}
            targets = {cls: n_majority - n for cls, n in counts.items() if cls not in skip}
        elif strategy == "all":
            targets = {cls: n_majority - n for cls, n in counts.items()}
        else:  # pragma: no cover - rejected by SMOTEParams
            raise InvalidParameterError(f"sampling_strategy={strategy!r}: unknown strategy.")
        return targets
    if isinstance(strategy, float):
        if len(counts) != 2:
            raise InvalidParameterError(
                f"sampling_strategy={strategy!r}: a float is only defined for binary labels, "
                f"but the label column has {len(counts)} classes {list(counts)}. Pass a dict "
                "{class: desired total} instead."
            )
        majority = _majority(counts)
        targets = {
            cls: int(n_majority * strategy - n) for cls, n in counts.items() if cls != majority
        }
        for cls, n_new in targets.items():
            if n_new <= 0:
                raise InvalidParameterError(
                    f"sampling_strategy={strategy!r}: the minority class {cls!r} already has "
                    f"{counts[cls]} rows, at least {strategy} x {n_majority} (majority), so "
                    "this ratio would remove rows. Increase the ratio."
                )
        return targets
    targets = {}
    limit = MAX_GROWTH_FACTOR * n_majority
    for requested, total in strategy.items():
        cls = _match_class(requested, counts)
        if total > limit:
            raise InvalidParameterError(
                f"sampling_strategy[{requested!r}]={total}: a class may be asked for at most "
                f"{MAX_GROWTH_FACTOR} x the largest class ({n_majority} rows), i.e. {limit} "
                f"rows; {total} would synthesise {total - counts[cls]} rows from the "
                f"{counts[cls]} of class {cls!r}. Check the number, or ask for at most {limit}."
            )
        if total < counts[cls]:
            raise InvalidParameterError(
                f"sampling_strategy[{requested!r}]={total}: over-sampling cannot shrink a "
                f"class; class {cls!r} has {counts[cls]} rows and {total} were asked. Ask "
                f"for at least {counts[cls]}."
            )
        targets[cls] = total - counts[cls]
    return {cls: targets[cls] for cls in sorted(targets)}

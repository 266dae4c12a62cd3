"""The null-if-any-null sum of the feature checks: every value once, a shallow tree."""

from __future__ import annotations

import math
import re

import pytest

from spark_smote._features import _sum_null_if_any_null


class Term:
    """Stands for a Column: adding two gives their sum as text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __add__(self, other: Term) -> Term:
        return Term(f"({self.text}+{other.text})")


def depth(text: str) -> int:
    level = deepest = 0
    for char in text:
        level += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, level)
    return deepest


@pytest.mark.parametrize("count", [1, 2, 3, 7, 512, 3000])
def test_each_feature_is_added_once_in_a_tree_log2_deep(count: int) -> None:
    total = _sum_null_if_any_null([Term(f"x{i}") for i in range(count)]).text
    assert sorted(int(n) for n in re.findall(r"x(\d+)", total)) == list(range(count))
    # Spark's plan code recurses once or more per level: 3000 features, 12 levels.
    assert depth(total) == math.ceil(math.log2(count))

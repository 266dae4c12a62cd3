"""The sampler base validates, then hands one PreparedInput to the sampler's work.

A minimal over-sampler built on the base (no work of its own: it records what it is
given) shows what every sampler receives, and that bad input never reaches it.
"""

from __future__ import annotations

from typing import Any

import pytest

from spark_smote import InvalidInputError, SamplerBase
from spark_smote._params import GeneratorParams
from spark_smote._sampler import PreparedInput


class Recording(SamplerBase[GeneratorParams]):
    """Asks 5 more rows of class 1 and records the prepared input."""

    params_class = GeneratorParams

    def _class_targets(self, class_counts: dict[Any, int]) -> dict[Any, int]:
        return {1: 5}

    def _check_classes(self, plans: Any) -> None:
        if any(p.n_rows < 3 for p in plans):
            raise InvalidInputError("a class has fewer than 3 rows")

    def _fit_resample(self, df: Any, prepared: PreparedInput) -> Any:
        self.prepared = prepared
        return df


@pytest.mark.e2e
def test_the_work_receives_the_validated_input(spark: Any) -> None:
    rows = [(float(i), float(i % 3), i, 0) for i in range(8)]
    rows += [(float(i), 0.5, 100 + i, 1) for i in range(4)]
    df = spark.createDataFrame(rows, "a double, b double, id long, label int")
    sampler = Recording(label_col="label", id_col="id", seed=1)
    assert sampler.fit_resample(df) is df
    prepared = sampler.prepared
    assert prepared.schema == df.schema
    assert (prepared.layout.kind, prepared.layout.columns) == ("columns", ("a", "b"))
    assert (prepared.stats.class_counts, prepared.stats.dimension) == ({0: 8, 1: 4}, 2)
    assert [(p.label, p.ordinal, p.n_rows, p.n_new) for p in prepared.plans] == [
        (0, 0, 8, 0),
        (1, 1, 4, 5),
    ]
    assert [p.label for p in prepared.grown] == [1]
    assert prepared.values_deferred  # feature columns: checked by the keys pass


@pytest.mark.e2e
def test_bad_input_never_reaches_the_work(spark: Any) -> None:
    df = spark.createDataFrame([(1.0, 0)] * 5 + [(2.0, 1)] * 2, "a double, label int")
    sampler = Recording(seed=1)
    with pytest.raises(InvalidInputError, match="fewer than 3 rows"):
        sampler.fit_resample(df)
    assert not hasattr(sampler, "prepared")

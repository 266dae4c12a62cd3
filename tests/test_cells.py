"""A class too large for one task: searched in spatial cells, each held whole."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spark_smote import SMOTE
from spark_smote._plan import PlanLimits, plan_search
from spark_smote._search import nearest_neighbors
from tests.helpers import (
    assert_valid,
    clusters,
    neighbour_lists,
    points_of,
    recall_of,
    sorted_rows,
)

K = 5
ROWS, DIMENSION = 3_000, 5
# Half the class's features: cut into a few cells.
CELL_LIMITS = PlanLimits(whole_class_bytes=ROWS * DIMENSION * 8 // 2)


def test_a_class_in_cells_finds_its_neighbours_whatever_the_partitioning(spark) -> None:  # type: ignore[no-untyped-def]
    x = clusters(ROWS, DIMENSION, seed=11)
    plan = plan_search({0: ROWS}, K, DIMENSION, "lsh", CELL_LIMITS)
    assert plan.cell_classes == {0} and not plan.per_table_classes
    points = points_of(spark, x)
    found, report = nearest_neighbors(points, plan, K, DIMENSION, seed=2)
    lists = neighbour_lists(found)
    assert_valid(lists, ROWS, K)
    parameters = report.parameters[0]
    assert parameters["cells"] >= 2
    assert parameters["cell_neighbors_kept"] >= 0.97
    # The tuning counted the neighbours outside a query's cell as missed, and its
    # estimate holds on every row.
    assert recall_of(x, lists, K) >= min(0.95, parameters["estimated_recall"] - 0.02)
    shuffled, _ = nearest_neighbors(points.repartition(7), plan, K, DIMENSION, seed=2)
    assert neighbour_lists(shuffled) == lists
    # More tasks per cell answer the same rows the same way.
    more = nearest_neighbors(points, replace(plan, min_tasks_per_class=3), K, DIMENSION, seed=2)[0]
    assert neighbour_lists(more) == lists


@pytest.mark.e2e
def test_cells_draw_in_the_search_tasks_the_rows_spark_draws(spark) -> None:  # type: ignore[no-untyped-def]
    x = clusters(ROWS, DIMENSION, seed=12)
    rng = np.random.default_rng(3)
    rows = [(f"m{i}", *map(float, x[i]), "yes") for i in range(ROWS)]
    rows += [(f"M{i}", *map(float, rng.normal(0, 8, DIMENSION)), "no") for i in range(ROWS + 500)]
    names = [f"f{j}" for j in range(DIMENSION)]
    df = spark.createDataFrame(rows, ["id", *names, "label"])

    def run(limits: PlanLimits, frame=df) -> list[tuple]:  # type: ignore[no-untyped-def]
        sampler = SMOTE(
            label_col="label",
            seed=4,
            neighbor_search="lsh",
            id_col="id",
            provenance=True,
        )
        sampler._plan_limits = limits
        out = sorted_rows(sampler.fit_resample(frame))
        assert sampler.report_.neighbor_parameters["yes"]["cells"] >= 2
        return out

    in_search = run(CELL_LIMITS)
    assert len(in_search) == 2 * ROWS + 500 + 500
    in_spark = run(PlanLimits(whole_class_bytes=CELL_LIMITS.whole_class_bytes, fused_draws=False))
    assert in_search == in_spark
    assert run(CELL_LIMITS, df.repartition(5)) == in_search


def test_a_class_that_cannot_be_cut_is_searched_per_table(spark, caplog) -> None:  # type: ignore[no-untyped-def]
    # Identical rows: every cell would hold all of them, so none is made.
    x = np.ones((ROWS, DIMENSION))
    x[:60] = clusters(60, DIMENSION, seed=13)
    rows = [(i, *map(float, x[i]), 1) for i in range(ROWS)]
    rows += [(ROWS + i, *map(float, v), 0) for i, v in enumerate(clusters(ROWS + 400, DIMENSION))]
    df = spark.createDataFrame(rows, ["id", *[f"f{j}" for j in range(DIMENSION)], "label"])

    def run(limits: PlanLimits) -> tuple[list[tuple], dict]:  # type: ignore[type-arg]
        sampler = SMOTE(label_col="label", seed=6, neighbor_search="lsh", id_col="id")
        sampler._plan_limits = limits
        out = sorted_rows(sampler.fit_resample(df))
        assert sampler.report_ is not None
        return out, sampler.report_.neighbor_parameters[1]

    with caplog.at_level("WARNING", logger="spark_smote"):
        fallback, parameters = run(CELL_LIMITS)
    assert "cannot be cut into cells" in caplog.text
    assert "cells" not in parameters
    assert len(fallback) == 2 * (ROWS + 400)
    per_table, _ = run(PlanLimits(whole_class_search=False))
    assert fallback == per_table

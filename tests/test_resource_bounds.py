"""Resource bounds (issue 5, point 7): no data rows reach the driver, UDF groups bounded.

1. Every DataFrame action that returns rows to the driver (``collect``, ``toPandas``,
   ``take``, ``head``, ``first``, ``tail``, ``toLocalIterator``, ``toArrow``) is
   wrapped for the duration of a run (``fit_resample`` and the staged write), and the
   test fails if one returns more rows than the number of classes plus a small margin:
   the driver only ever sees per-class statistics. The LSH search's tuning sample is
   checked separately: its rows are distances, indices and ranks, never feature values.
2. The exact search hands Arrow UDF groups of at most ``2 * block_rows`` rows to a
   Python worker, whatever the class size or its duplicates: the group UDF is wrapped
   with a check that raises inside the worker (failing the job) if a group is larger.
   A control run with a limit one row lower must fail, proving the check is live.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import spark_smote._search.exact as exact_module
from spark_smote import SMOTE
from spark_smote._output import write_atomic
from spark_smote._plan import PlanLimits
from spark_smote._search import LSHParams

pytestmark = pytest.mark.e2e

ROW_ACTIONS = ("collect", "toPandas", "take", "head", "first", "tail", "toLocalIterator", "toArrow")
INPUT_COLUMNS = {"id", "f1", "f2", "f3", "y", "note"}


def _dataset(spark: Any, sizes: dict[str, int], *, duplicates: int = 0) -> Any:
    """Classes of the given sizes, three features; ``duplicates`` identical rows in 'b'."""
    rng = np.random.default_rng(3)
    rows = []
    for offset, (label, n) in enumerate(sizes.items()):
        x = rng.normal(loc=4.0 * offset, size=(n, 3))
        if label == "b" and duplicates:
            x[:duplicates] = 1.25
        rows += [(len(rows) + i, *map(float, x[i]), label, f"n{i}") for i in range(n)]
    return spark.createDataFrame(
        rows, "id long, f1 double, f2 double, f3 double, y string, note string"
    )


def _size(result: Any) -> int:
    if result is None:
        return 0
    if isinstance(result, pa.Table) or hasattr(result, "shape"):
        return len(result)
    if isinstance(result, list):
        return len(result)
    return 1  # a single Row


class DriverRows:
    """Wraps the row-returning actions of one DataFrame class and records their results."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, frame_class: type) -> None:
        self.calls: list[tuple[str, int, list[str]]] = []
        for name in ROW_ACTIONS:
            original = getattr(frame_class, name, None)
            if original is not None:
                monkeypatch.setattr(frame_class, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def recorded(frame: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(frame, *args, **kwargs)
            if name == "toLocalIterator":
                rows = list(result)
                self.calls.append((name, len(rows), list(frame.columns)))
                return iter(rows)
            self.calls.append((name, _size(result), list(frame.columns)))
            return result

        return recorded

    @property
    def most_rows(self) -> int:
        return max((n for _, n, _ in self.calls), default=0)


def test_driver_collects_only_per_class_statistics(
    spark: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sizes = {"a": 700, "b": 150, "c": 40}
    df = _dataset(spark, sizes)
    recorder = DriverRows(monkeypatch, type(df))
    sampler = SMOTE(label_col="y", k_neighbors=3, seed=5, id_col="id", neighbor_search="exact")
    write_atomic(sampler.fit_resample(df), str(tmp_path / "out"), "error")
    assert recorder.calls, "no action observed: the wrapper is not in place"
    bound = len(sizes) + 5
    assert recorder.most_rows <= bound, recorder.calls
    assert sampler.report_ is not None
    assert sampler.report_.class_counts_after == dict.fromkeys(sizes, 700)


def test_lsh_tuning_collects_statistics_not_rows(
    spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {"a": 900, "b": 600}
    df = _dataset(spark, sizes)
    recorder = DriverRows(monkeypatch, type(df))
    out = SMOTE(label_col="y", k_neighbors=3, seed=5, neighbor_search="lsh").fit_resample(df)
    out.write.format("noop").mode("overwrite").save()
    # The tuning collects, per class, the sample's neighbour indices and distances (one
    # row per sampled row) and the ranks of the sampled rows and their k neighbours.
    sample = LSHParams().sample_size * (3 + 1)
    for name, n_rows, columns in recorder.calls:
        assert n_rows <= len(sizes) * sample + 5, (name, n_rows)
        if n_rows > len(sizes) + 5:  # the tuning sample: no input column, no feature value
            assert not INPUT_COLUMNS & set(columns), (name, columns)
            assert not any(c.startswith("_smote_x") for c in columns), (name, columns)


def _checked_group_udf(limit: int) -> Callable[..., Callable[[pa.Table], pa.Table]]:
    """A replacement for ``_exact_group_udf`` whose UDF refuses groups above ``limit``."""
    build = exact_module._exact_group_udf

    def factory(*args: Any, **kwargs: Any) -> Callable[[pa.Table], pa.Table]:
        top_k = build(*args, **kwargs)

        def bounded(table: pa.Table) -> pa.Table:
            if table.num_rows > limit:
                raise MemoryError(f"UDF group of {table.num_rows} rows > bound {limit}")
            return top_k(table)

        return bounded

    return factory


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Exact-search blocks of 256 rows (the smallest the library uses)."""
    monkeypatch.setattr(SMOTE, "_plan_limits", PlanLimits(exact_block_rows=256))
    yield 256


@pytest.mark.parametrize("duplicates", [0, 500], ids=["distinct", "500-identical"])
def test_exact_search_groups_never_exceed_two_blocks(
    spark: Any, monkeypatch: pytest.MonkeyPatch, small_blocks: int, duplicates: int
) -> None:
    df = _dataset(spark, {"a": 800, "b": 700}, duplicates=duplicates)
    monkeypatch.setattr(exact_module, "_exact_group_udf", _checked_group_udf(2 * small_blocks))
    sampler = SMOTE(label_col="y", k_neighbors=3, seed=9, neighbor_search="exact")
    out = sampler.fit_resample(df)
    assert sorted(out.groupBy("y").count().collect()) == [("a", 800), ("b", 800)]
    assert sampler.report_ is not None
    assert sampler.report_.neighbor_parameters["b"] == {"block_rows": 256, "blocks": 3}


def test_group_bound_check_is_live(
    spark: Any, monkeypatch: pytest.MonkeyPatch, small_blocks: int
) -> None:
    df = _dataset(spark, {"a": 800, "b": 700})
    monkeypatch.setattr(exact_module, "_exact_group_udf", _checked_group_udf(2 * small_blocks - 1))
    out = SMOTE(label_col="y", k_neighbors=3, seed=9, neighbor_search="exact").fit_resample(df)
    with pytest.raises(Exception, match="UDF group of 512 rows > bound 511"):
        out.write.format("noop").mode("overwrite").save()

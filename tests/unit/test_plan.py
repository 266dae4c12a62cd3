"""The run's plan: every internal path decided once from sizes, limits and switches."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.sql import types as T

from spark_smote import InvalidParameterError
from spark_smote._plan import PlanLimits, SearchPlan, make_plan, plan_search

K = 5


def plan(sizes: dict[int, int], new_rows: dict[int, int] | None = None, **overrides):  # type: ignore[no-untyped-def]
    """The plan of growing every class (by its own size unless given), 18 features."""
    arguments = {
        "k": K,
        "dimension": 18,
        "method": "auto",
        "id_type": None,
        "carries_row_values": False,
        "limits": PlanLimits(),
    }
    arguments.update(overrides)
    return make_plan(sizes, new_rows or dict(sizes), **arguments)


def test_small_classes_are_searched_exactly_and_large_ones_whole_by_lsh() -> None:
    run = plan({0: 5_000, 1: 170_000})
    assert run.search.exact_classes == {0}
    assert run.search.whole_classes == {1}
    assert run.search.one_task_tuning == {1}
    # Not every class is searched whole: points spread, draws made in Spark.
    assert run.spread_points
    assert not run.draws_in_search
    assert not run.numbered_in_tasks


def test_the_benchmark_class_takes_the_fused_path() -> None:
    run = plan({1: 170_000})
    assert run.draws_in_search and run.numbered_in_tasks
    assert not run.spread_points
    assert run.search.statistics_on_points
    assert run.search.min_tasks_per_class == 1
    assert run.broadcast_lookups


def test_sizes_choose_cells_and_tuning_over_blocks() -> None:
    # 18 features of 8 bytes: 256 MB is 1.86M rows, 64 MB 466k rows.
    run = plan({0: 400_000, 1: 1_000_000, 2: 2_000_000}, method="lsh")
    assert run.search.whole_classes == {0, 1, 2}
    assert run.search.cell_classes == {2}
    assert run.search.cell_bytes == PlanLimits().whole_class_bytes
    assert not run.search.per_table_classes
    assert run.search.one_task_tuning == {0}
    assert run.draws_in_search and not run.numbered_in_tasks
    assert not run.broadcast_lookups
    # Beyond the limit of a class cut into cells: per-table copies.
    capped = plan(
        {0: 400_000, 2: 2_000_000}, method="lsh", limits=PlanLimits(cell_class_bytes=260 << 20)
    )
    assert capped.search.per_table_classes == {2}
    assert not capped.search.cell_classes
    assert not capped.draws_in_search


def test_only_classes_searched_whole_within_themselves_take_cells() -> None:
    with pytest.raises(ValueError, match="cut into cells"):
        SearchPlan({0: 10}, per_table_classes=frozenset({0}), cell_classes=frozenset({0}))


def test_switches_turn_each_special_case_off() -> None:
    sizes = {1: 170_000}
    assert not plan(sizes, limits=PlanLimits(fused_draws=False)).draws_in_search
    no_one_task = plan(sizes, limits=PlanLimits(one_task_tuning=False))
    assert no_one_task.draws_in_search and not no_one_task.numbered_in_tasks
    assert not no_one_task.search.one_task_tuning
    window = plan(sizes, limits=PlanLimits(numpy_numbering=False))
    assert window.draws_in_search and not window.numbered_in_tasks
    assert window.search.one_task_tuning == {1}
    per_table = plan(sizes, limits=PlanLimits(whole_class_search=False))
    assert per_table.search.per_table_classes == {1}
    assert not per_table.draws_in_search and per_table.spread_points


def test_the_environment_switches_off_what_it_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_SMOTE_DISABLE", "fused-draws, one-task-tuning")
    limits = PlanLimits.from_environment()
    assert not limits.fused_draws and not limits.one_task_tuning
    assert limits.numpy_numbering and limits.whole_class_search


def test_carried_values_unsortable_ids_and_many_draws_leave_the_fused_path() -> None:
    sizes = {1: 170_000}
    assert not plan(sizes, carries_row_values=True).draws_in_search
    decimal_ids = plan(sizes, id_type=T.DecimalType(12, 0))
    assert decimal_ids.draws_in_search and not decimal_ids.numbered_in_tasks
    assert plan(sizes, id_type=T.StringType()).numbered_in_tasks
    assert not plan(sizes, {1: 40_000_000}, method="lsh").draws_in_search
    some = plan(sizes, {1: 20_000_000}, method="lsh")
    assert some.draws_in_search and some.search.min_tasks_per_class == 3


def test_exact_blocks_shrink_for_wide_rows_and_follow_the_limit() -> None:
    assert plan_search({0: 10}, K, 18, "exact").exact_block_rows == 2048
    assert plan_search({0: 10}, K, 500, "exact").exact_block_rows == 285
    assert (
        plan_search({0: 10}, K, 18, "exact", PlanLimits(exact_block_rows=16)).exact_block_rows == 16
    )


def test_a_plan_built_by_hand_must_give_every_class_one_search() -> None:
    with pytest.raises(ValueError, match="exactly one search"):
        SearchPlan({0: 10, 1: 20}, exact_classes=frozenset({0}))
    with pytest.raises(ValueError, match="only classes searched whole"):
        SearchPlan({0: 10}, per_table_classes=frozenset({0}), one_task_tuning=frozenset({0}))


def test_a_search_among_all_classes_takes_one_method_by_the_total_rows() -> None:
    small = plan_search({0: 50, 1: 20}, K, 2, "auto", reference="all", query_classes=[1])
    assert small.reference == "all" and small.reference_sizes == {0: 50, 1: 20}
    assert small.class_sizes == {1: 20} and small.exact_classes == {1}
    assert "70 rows <= 10000" in small.reason
    sizes = {0: 6_000, 1: 3_000, 2: 2_000}
    large = plan_search(sizes, K, 2, "auto", reference="all")
    assert large.whole_classes == set(sizes) and not large.exact_classes
    assert "11000 rows > 10000" in large.reason
    # LSH holds every row in its tasks while their features fit whole_class_bytes,
    # in shards of that size up to max_reference_shards; else in spatial cells of that
    # size up to cell_class_bytes of rows, else it copies per table. Shards need every
    # task to hold every query: only when the queries are few.
    assert large.reference_shards == 1 and not large.cell_classes
    tight = PlanLimits(whole_class_bytes=11_000 * 2 * 8 - 1)
    sharded = plan_search(sizes, K, 2, "auto", tight, reference="all", query_classes=[2])
    assert sharded.whole_classes == {2} and sharded.reference_shards == 2
    assert not sharded.cell_classes
    many_queries = PlanLimits(whole_class_bytes=11_000 * 2 * 8 - 1, shard_query_bytes=100)
    for limits in (many_queries, replace(tight, max_reference_shards=1)):
        cut = plan_search(sizes, K, 2, "auto", limits, reference="all", query_classes=[2])
        assert cut.whole_classes == cut.cell_classes == {2} and cut.reference_shards == 1
        assert cut.cell_bytes == limits.whole_class_bytes
        limits = replace(limits, cell_class_bytes=11_000 * 2 * 8 - 1)
        per_table = plan_search(sizes, K, 2, "auto", limits, reference="all", query_classes=[2])
        assert per_table.per_table_classes == {2} and not per_table.whole_classes
        assert per_table.reference_shards == 1 and not per_table.cell_classes
    switched = PlanLimits(whole_class_search=False)
    assert plan_search(sizes, K, 2, "lsh", switched, reference="all").per_table_classes
    raised = PlanLimits(auto_exact_max_rows=20_000)
    assert plan_search(sizes, K, 2, "auto", raised, reference="all").exact_classes == set(sizes)
    assert plan_search(sizes, K, 2, "exact", reference="all").reason == (
        "asked: neighbor_search='exact'"
    )


def test_a_search_among_all_classes_refuses_bad_arguments() -> None:
    sizes = {0: 5, 1: 3}
    with pytest.raises(InvalidParameterError, match=r"k=8: .* 8 rows .* at most 7"):
        plan_search(sizes, 8, 2, "exact", reference="all")
    with pytest.raises(InvalidParameterError, match="neighbor_search='fast'"):
        plan_search(sizes, 2, 2, "fast", reference="all")
    with pytest.raises(InvalidParameterError, match=r"query_classes=\[5\]"):
        plan_search(sizes, 2, 2, "exact", reference="all", query_classes=[1, 5])
    with pytest.raises(ValueError, match="one search for every query class"):
        SearchPlan(
            sizes,
            exact_classes=frozenset({0}),
            per_table_classes=frozenset({1}),
            reference="all",
            reference_sizes=sizes,
        )


def test_an_unknown_switch_is_refused() -> None:
    from spark_smote._plan import disabled

    assert not disabled("python-daemon")
    with pytest.raises(ValueError, match="unknown switch 'fused'"):
        disabled("fused")

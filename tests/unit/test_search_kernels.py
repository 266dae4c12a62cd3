"""Numpy kernels of the neighbour search: chunks, sort keys, ranking, merging, tuning rules.

No JVM: these tests import no Spark session and run in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from spark_smote._errors import InvalidParameterError
from spark_smote._order import ordered_bits
from spark_smote._search.hashing import (
    bucket_order,
    coarse_keys,
    key_order,
    refs_before,
    sort_keys,
)
from spark_smote._search.kernels import (
    QUERY_GROUPS,
    block_top_k,
    chunk_ranges,
    chunk_top_k,
    merge_tables,
)
from spark_smote._search.tuning_rules import (
    CAP_CHOICES,
    LARGE_CAP_CHOICES,
    LSHParams,
    candidate_curves,
    choose_parameters,
)

K = 5


def clusters(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (10, dimension))
    return centres[rng.integers(0, 10, n)] + rng.normal(0.0, 1.0, (n, dimension))


def test_chunks_bound_groups_and_give_each_row_one_query_slot() -> None:
    step = 16
    for n in (5, 32, 33, 47, 48, 49, 500, 1001):
        ranks = np.arange(n)
        lo, hi = chunk_ranges(ranks, n, step)
        assert (hi - lo <= 2 * step).all()
        assert ((lo <= ranks) & (ranks < hi)).all()
        # Chunks start on the stride grid; a query sees step // 2 rows on each side
        # unless the run ends first.
        assert (lo % step == 0).all()
        assert ((ranks - lo >= step // 2) | (lo == 0)).all()
        assert ((hi - 1 - ranks >= step // 2 - 1) | (hi == n)).all()


def test_sort_keys_bytes_follow_the_numeric_order() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    codes = rng.integers(-3, 3, (n, 1, 2)).astype(np.int64)
    codes[:5] = np.array([[-(2**62)], [2**62], [0], [-1], [1]])[:, :, None].repeat(2, axis=2)
    splits = rng.choice([-2.5, -1e-300, 0.0, 1e-300, 3.0, -7e10], (n, 1))
    idx = rng.permutation(n).astype(np.int64)
    keys = sort_keys(codes, splits, idx)[:, 0, :]
    by_bytes = sorted(range(n), key=lambda i: keys[i].tobytes())
    by_numbers = np.lexsort((idx, splits[:, 0], codes[:, 0, 1], codes[:, 0, 0]))
    assert by_bytes == list(by_numbers)


def test_key_order_is_the_lexsort_order() -> None:
    # Packed keys with ties broken by the full key; codes whose ranges need more than 64
    # bits fall back to np.lexsort. -0.0 goes before 0.0 (ordered bits). A bucket
    # starts wherever the ordered codes change, in both cases.
    rng = np.random.default_rng(11)
    for scale in (0, 1, 3, 1000, 2**40, 2**62):
        for n, m in ((0, 4), (1, 1), (700, 1), (2500, 4)):
            codes = rng.integers(-scale, scale, (n, m), endpoint=True).astype(np.int64)
            if scale == 2**62 and n:
                codes[0] = -(2**62)
                codes[-1] = 2**62
            splits = rng.choice([-2.5, -1e-300, -0.0, 0.0, 1e-300, 1.5, 1.5 + 2**-40], n)
            split_bits = ordered_bits(splits)
            idx = rng.permutation(n).astype(np.int64)
            full = np.lexsort([idx, split_bits, *[codes[:, j] for j in reversed(range(m))]])
            assert np.array_equal(key_order(codes, split_bits, idx), full), (scale, n, m)
            order, starts = bucket_order(codes, split_bits, idx)
            ordered = codes[full]
            changed = (ordered[1:] != ordered[:-1]).any(axis=1)
            assert np.array_equal(order, full)
            assert np.array_equal(starts, np.concatenate([[True], changed])[:n]), (scale, n)


def test_coarse_keys_never_contradict_the_full_order() -> None:
    # Codes beyond the coarse field, equal codes with different splits, and two runs:
    # sorting by (coarse key, sort key) must give exactly the (run, sort key) order.
    rng = np.random.default_rng(8)
    n, tables = 3000, 3
    codes = rng.integers(-600, 600, (n, tables, 4)).astype(np.int64)
    codes[: n // 2] //= 300  # many rows share buckets
    codes[:10, :, 0] = [[-(2**62)], [2**62], [511], [512], [-511], [-512], [0], [0], [1], [1]]
    splits = rng.choice([-2.5, -1e-300, 0.0, 1e-300, 3.0, -7e10, 1.5], (n, tables))
    idx = rng.permutation(n).astype(np.int64)
    keys = sort_keys(codes, splits, idx)
    runs = np.array([5, 6, 7], np.int64)
    coarse = coarse_keys(codes, splits, runs, 4)
    assert (coarse >= 0).all()
    pairs = [(t, i) for t in range(tables) for i in range(n)]
    full = sorted(pairs, key=lambda p: (runs[p[0]], keys[p[1], p[0]].tobytes()))
    fast = sorted(pairs, key=lambda p: (coarse[p[1], p[0]], keys[p[1], p[0]].tobytes()))
    assert fast == full
    # On codes within the field and continuous splits it decides almost every pair.
    typical = coarse_keys(codes // 30, rng.normal(size=(n, tables)), runs, 4)
    assert len(np.unique(typical)) > 0.95 * n * tables


def test_refs_before_counts_the_full_order() -> None:
    # Probes are copies of some references (their own copy must not count) plus
    # outsiders; codes beyond the coarse field and shared buckets force tie-breaks.
    rng = np.random.default_rng(9)
    n_ref, m = 4000, 4
    codes = rng.integers(-3, 3, (n_ref, m)).astype(np.int64)
    codes[:50, 0] = rng.choice([-(2**40), 700, -700, 2**40], 50)
    splits = rng.choice([-1.0, 0.0, 0.5, 2.0], n_ref) + (rng.random(n_ref) < 0.5) * rng.random(
        n_ref
    )
    idx = rng.permutation(n_ref).astype(np.int64)
    copies = rng.choice(n_ref, 300, replace=False)
    outsiders = 50
    p_codes = np.concatenate([codes[copies], rng.integers(-3, 3, (outsiders, m))])
    p_splits = np.concatenate([splits[copies], rng.choice([0.0, 0.5], outsiders)])
    p_idx = np.concatenate([idx[copies], n_ref + np.arange(outsiders)])
    all_codes = np.concatenate([p_codes, codes])
    all_splits = np.concatenate([p_splits, splits])
    all_idx = np.concatenate([p_idx, idx])
    is_ref = np.arange(len(all_idx)) >= len(p_idx)
    coarse = coarse_keys(all_codes[:, None, :], all_splits[:, None], np.zeros(1, np.int64), 1)
    got = refs_before(coarse[:, 0], all_codes, all_splits, all_idx, is_ref, len(p_idx))
    keys = sort_keys(all_codes[:, None, :], all_splits[:, None], all_idx)[:, 0, :]
    ref_keys = sorted(keys[i].tobytes() for i in np.flatnonzero(is_ref))
    expected = [
        np.searchsorted(np.array(ref_keys, dtype=object), keys[i].tobytes(), side="left")
        for i in range(len(p_idx))
    ]
    assert got.tolist() == [int(e) for e in expected]


@pytest.mark.parametrize("rows", [600, 3000, 5000])
def test_chunk_ranking_on_packed_keys_finds_the_exact_neighbours(rows: int) -> None:
    # The float32 ranking packs each candidate's column into the low bits of its
    # distance; the result must still be the exact k nearest, ties by index.
    rng = np.random.default_rng(rows)
    centres = rng.normal(0, 50, (8, 12))
    x = centres[rng.integers(0, 8, rows)] + rng.normal(0, 1, (rows, 12))
    x[: rows // 10] = x[rows // 10 : 2 * (rows // 10)]  # exact duplicates
    idx = rng.permutation(10 * rows)[:rows].astype(np.int64)
    queries = np.arange(0, rows, 3)
    neighbors, distances = chunk_top_k(x, idx, queries, 5)
    expected_neighbors, expected_distances = block_top_k(x[queries], idx[queries], x, idx, 5)
    assert np.array_equal(neighbors, expected_neighbors)
    assert np.array_equal(distances, expected_distances)


def test_chunk_ranking_of_one_index_group_matches_the_whole_chunk() -> None:
    # The whole-class search ranks only its tasks' index groups of a chunk's queries;
    # each query's result must be the one the full chunk's ranking gives, bit for bit.
    x = clusters(2048, 7, seed=11)
    idx = np.random.default_rng(3).permutation(5000)[:2048].astype(np.int64)
    queries = np.arange(512, 1536)
    everything = chunk_top_k(x, idx, queries, K)
    for groups in ({0}, {1, 5}, set(range(1, QUERY_GROUPS))):
        mine = np.isin(idx[queries] % QUERY_GROUPS, list(groups))
        neighbors, distances = chunk_top_k(x, idx, queries[mine], K)
        assert np.array_equal(neighbors, everything[0][mine])
        assert np.array_equal(distances.view(np.int64), everything[1][mine].view(np.int64))


@pytest.mark.parametrize("seed", [0, 1])
def test_chunk_limits_keep_every_row_within_them(seed: int) -> None:
    # The whole-class search bounds each table by the running list's k-th distance.
    # With each query's own k-th distance as its limit, the rows at exactly that
    # distance must pass the float32 screen: without its rounding slack, about one
    # chunk in eight of these (wide rows, small chunks, scales far from 1) loses one.
    rng = np.random.default_rng(seed)
    for trial in range(60):
        n, d, k = int(rng.integers(20, 300)), int(rng.integers(8, 64)), int(rng.integers(1, 6))
        scale = (1e-150, 1e150)[trial % 2] if trial < 4 else 10.0 ** rng.uniform(-20, 20)
        x = rng.standard_normal((n, d)) * scale
        idx = rng.permutation(4 * n)[:n].astype(np.int64)
        queries = np.arange(n)
        neighbors, distances = chunk_top_k(x, idx, queries, k)
        limits = distances[:, k - 1].copy()
        limits[::7] = np.inf  # ranked as without a limit
        bounded = chunk_top_k(x, idx, queries, k, limits)
        assert np.array_equal(bounded[0], neighbors)
        assert np.array_equal(bounded[1].view(np.int64), distances.view(np.int64))
    # Below the k-th distance, the slots past the limit may stay empty.
    x = clusters(2048, 7, seed=seed)
    idx = np.arange(2048, dtype=np.int64)
    neighbors, distances = chunk_top_k(x, idx, idx, K)
    tight = chunk_top_k(x, idx, idx, K, distances[:, 1])
    kept = tight[1] <= distances[:, 1:2]
    assert np.array_equal(tight[1][:, :2], distances[:, :2])
    assert (tight[0][~np.isfinite(tight[1])] == -1).all()
    assert np.isfinite(tight[1]).sum() >= kept.sum() >= 2 * 2048


def test_merge_keeps_distinct_nearest_ties_by_index() -> None:
    neighbors = np.array([[7, 3, 9, 3, 2, 8]])
    distances = np.array([[1.0, 0.5, 2.0, 0.5, 1.0, 0.1]])
    assert merge_tables(neighbors, distances, 4).tolist() == [[8, 3, 2, 7]]


def test_tuner_picks_the_cheapest_width_cap_and_tables_reaching_the_target() -> None:
    curves = {
        (1.0, 1024): np.array([0.5, 0.8, 0.9, 0.97]),  # 4 x (1024 + 3000) = 16096
        (1.0, 2048): np.array([0.6, 0.97, 0.99, 1.0]),  # 2 x (2048 + 3000) = 10096
        (2.0, 4096): np.array([0.7, 0.98, 0.99, 1.0]),  # 2 x (4096 + 3000) = 14192
    }
    params = LSHParams(target_recall=0.97).checked(K)
    assert choose_parameters(curves, params) == (1.0, 2048, 2)
    # Nothing reaches the target: the best recall with every table, cheapest on a tie.
    below = {key: curve * 0.9 for key, curve in curves.items()}
    assert choose_parameters(below, params) == (1.0, 2048, 4)
    # Fixed tables: the best recall at that count.
    assert choose_parameters(curves, LSHParams(tables=1).checked(K)) == (2.0, 4096, 1)


def test_lsh_params_errors_name_field_and_fix() -> None:
    with pytest.raises(InvalidParameterError, match=r"bucket_cap=10: must be an integer >= 4"):
        LSHParams(bucket_cap=10).checked(5)
    with pytest.raises(InvalidParameterError, match=r"bucket_width=-1.0"):
        LSHParams(bucket_width=-1.0).checked(5)
    with pytest.raises(InvalidParameterError, match=r"target_recall=1.5"):
        LSHParams(target_recall=1.5).checked(5)
    with pytest.raises(InvalidParameterError, match=r"hashes_per_table=0.*or None"):
        LSHParams(hashes_per_table=0).checked(5)


def test_same_class_hashes_per_table_follow_the_class_size() -> None:
    from spark_smote._search.tuning import class_hashes, lsh_report
    from spark_smote._search.tuning_rules import MANY_CLASS_ROWS, TunedClasses, Tuning

    sizes = {0: MANY_CLASS_ROWS, 1: MANY_CLASS_ROWS + 1}
    params = LSHParams(max_tables=2).checked(K)
    drawn = class_hashes(sizes, 3, 7, params)
    assert (drawn[0].hashes, drawn[1].hashes) == (4, 8)
    # Table t's hashes and split direction: hashes + 1 columns per table.
    assert drawn[1].directions.shape == (3, 2 * 9)
    tuning = Tuning(1.0, 2048, 2, 0.99, 1.0)
    report = lsh_report(TunedClasses(sizes, dict.fromkeys(sizes, tuning), drawn), K, params)
    assert [report.parameters[o]["hashes_per_table"] for o in sizes] == [4, 8]
    given = class_hashes(sizes, 3, 7, LSHParams(hashes_per_table=5, max_tables=2).checked(K))
    assert {h.hashes for h in given.values()} == {5}


def test_larger_chunks_are_tried_only_when_no_usual_one_reaches_the_target() -> None:
    # Wide rows: recall grows with the chunk, and only 8192 rows reach 0.97 here.
    def recall_of(width: int, cap: int) -> np.ndarray:
        return np.minimum(np.linspace(0.5, 0.9, 16) * cap / 4096, 1.0 - width / 100)

    params = LSHParams()
    curves = candidate_curves(recall_of, [1.0, 2.0], CAP_CHOICES, params)
    assert {cap for _, cap in curves} == {*CAP_CHOICES, *LARGE_CAP_CHOICES}
    width, cap, tables = choose_parameters(curves, params)
    assert (width, cap) == (1.0, 8192) and curves[width, cap][tables - 1] >= 0.97
    # A usual chunk reaching the target: the larger ones are not candidates.
    usual = candidate_curves(lambda w, cap: np.full(16, 0.98), [1.0], CAP_CHOICES, params)
    assert {cap for _, cap in usual} == set(CAP_CHOICES)
    # A cap given: nothing else is tried.
    given = LSHParams(bucket_cap=1024)
    assert set(candidate_curves(recall_of, [1.0], (1024,), given)) == {(1.0, 1024)}

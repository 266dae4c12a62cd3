"""The numpy kernels of the cross-class neighbour search, without a JVM."""

from __future__ import annotations

import numpy as np
import pytest

from spark_smote._search.cross_kernels import (
    PAD,
    SortedRun,
    block_top_k,
    lsh_codes,
    merge_candidates,
    merge_runs,
    neighbor_distances,
    recall_at_k,
)
from spark_smote._search.hashing import sort_keys


def brute_force(classes, idx, x, k):
    """Each row's k nearest other rows by (distance, class, index), by sorting everything."""
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    out = []
    for i in range(len(x)):
        order = sorted((dist[i, j], classes[j], idx[j]) for j in range(len(x)) if j != i)
        out.append(order[:k])
    return out


def tied_rows(n=120, seed=0):
    """Rows on a small integer grid: many exact duplicates and equal distances."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(n, 2)).astype(np.float64)
    classes = rng.integers(0, 3, n).astype(np.int32)
    idx = np.zeros(n, np.int64)
    for c in range(3):
        at = np.flatnonzero(classes == c)
        idx[at] = np.arange(len(at))
    return classes, idx, x


def test_block_top_k_matches_brute_force_with_ties_and_duplicates():
    classes, idx, x = tied_rows()
    k = 7
    nbr_class, nbr, dist = block_top_k(classes, idx, x, classes, idx, x, k)
    expected = brute_force(classes, idx, x, k)
    for i in range(len(x)):
        got = list(zip(dist[i], nbr_class[i], nbr[i], strict=True))
        assert got == [(float(d), int(c), int(j)) for d, c, j in expected[i]]


@pytest.mark.parametrize(
    ("offset", "k", "scale"),
    [(0.0, 1, 1.0), (1e4, 5, 1.0), (-3e6, 12, 1.0), (0.0, 5, 1e-30), (2.0, 5, 1e30)],
)
def test_block_top_k_equals_all_distances_sorted(offset, k, scale):
    # The float32 matrix-product screen never changes the result: the same neighbours,
    # distances and tie-breaks as computing every distance, far from the origin too,
    # and at scales float32 could not hold unscaled (1e-30 is subnormal, 1e30 squared
    # overflows).
    rng = np.random.default_rng(int(abs(offset)) + k)
    n, dimension = 900, 18
    x = (offset + np.round(rng.normal(size=(n, dimension)), 1)) * scale
    x[100:160] = x[160]
    x[200:230, :] = x[230] + 1e-9 * np.arange(30)[:, None]
    classes = rng.integers(0, 3, n).astype(np.int32)
    idx = np.arange(n, dtype=np.int64)
    queries = rng.choice(n, 300, replace=False)
    nbr_class, nbr, dist = block_top_k(
        classes[queries], idx[queries], x[queries], classes, idx, x, k
    )
    full = neighbor_distances(x[queries], x)
    full[np.arange(len(queries)), queries] = np.inf
    for row in range(len(queries)):
        expected = sorted(zip(full[row], classes, idx, strict=True))[:k]
        got = list(zip(dist[row], nbr_class[row], nbr[row], strict=True))
        assert got == [(float(d), int(c), int(i)) for d, c, i in expected]


def test_block_top_k_excludes_the_query_but_keeps_its_duplicates():
    x = np.zeros((4, 3))
    classes = np.array([0, 0, 1, 1], np.int32)
    idx = np.array([0, 1, 0, 1], np.int64)
    nbr_class, nbr, dist = block_top_k(classes, idx, x, classes, idx, x, 3)
    for i in range(4):
        found = set(zip(nbr_class[i], nbr[i], strict=True))
        assert (classes[i], idx[i]) not in found
        assert len(found) == 3
    assert (dist == 0).all()
    # Ties at distance 0 go to the smaller (class, index).
    assert list(zip(nbr_class[3], nbr[3], strict=True)) == [(0, 0), (0, 1), (1, 0)]


def test_block_top_k_excludes_the_query_whatever_the_key_range():
    # Keys far beyond int32 (the index near 2**61): the same neighbours as small keys, the
    # query itself excluded either way.
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(400, 6)), 1)
    classes = rng.integers(0, 3, 400).astype(np.int32)
    small = np.arange(400, dtype=np.int64)
    large = small + (1 << 61)
    queries = rng.choice(400, 150, replace=False)
    found = [
        block_top_k(classes[queries], idx[queries], x[queries], classes, idx, x, 6)
        for idx in (small, large)
    ]
    assert np.array_equal(found[0][0], found[1][0])
    assert np.array_equal(found[0][1], found[1][1] - (1 << 61))
    assert np.array_equal(found[0][2], found[1][2])
    itself = (found[0][0] == classes[queries][:, None]) & (found[0][1] == queries[:, None])
    assert not itself.any()


def test_block_top_k_pads_when_the_block_has_too_few_references():
    classes, idx, x = tied_rows(10)
    nbr_class, nbr, dist = block_top_k(classes[:2], idx[:2], x[:2], classes, idx, x, 12)
    assert (nbr[:, 9:] == PAD).all() and (nbr_class[:, 9:] == PAD).all()
    assert np.isinf(dist[:, 9:]).all() and np.isfinite(dist[:, :9]).all()


def test_result_does_not_depend_on_reference_order_or_block_split():
    classes, idx, x = tied_rows(200, seed=3)
    whole = block_top_k(classes, idx, x, classes, idx, x, 5)
    shuffled = np.random.default_rng(1).permutation(len(x))
    halves = [shuffled[:90], shuffled[90:]]
    parts = [block_top_k(classes, idx, x, classes[h], idx[h], x[h], 5) for h in halves]
    merged = merge_candidates(
        *[np.hstack([p[i] for p in parts]) for i in range(3)],
        5,
    )
    for a, b in zip(whole, merged, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("n_query", [3, 60])
def test_limits_change_nothing_once_merged(n_query):
    # A second block ranked under each query's k-th distance from the first: merged,
    # the same lists as without the limits, ties at the limit included (3 queries take
    # the unscreened path, 60 the screen).
    # Coarsely rounded rows: equal distances, but not every neighbour at distance 0.
    classes, idx, _ = tied_rows(300, seed=5)
    x = np.round(np.random.default_rng(5).normal(size=(300, 2)) * 2) / 2
    k = 6
    queries = np.random.default_rng(2).choice(len(x), n_query, replace=False)
    # The second block holds the smaller keys, so a tie at the limit displaces.
    first, second = np.arange(150, 300), np.arange(0, 150)

    def ranked(refs, limits=None):
        q = (classes[queries], idx[queries], x[queries])
        return block_top_k(*q, classes[refs], idx[refs], x[refs], k, limits=limits)

    earlier = ranked(first)
    plain, limited = ranked(second), ranked(second, limits=earlier[2][:, -1])
    assert np.isinf(limited[2]).sum() > np.isinf(plain[2]).sum()
    merged = [
        merge_candidates(*[np.hstack([earlier[i], found[i]]) for i in range(3)], k)
        for found in (plain, limited)
    ]
    for a, b in zip(*merged, strict=True):
        assert np.array_equal(a, b)


def test_distances_have_the_same_bits_in_any_block():
    rng = np.random.default_rng(2)
    q, r = rng.normal(size=(50, 13)), rng.normal(size=(70, 13))
    full = neighbor_distances(q, r)
    assert np.array_equal(full[7:9, 30:31], neighbor_distances(q[7:9], r[30:31]))


def test_merge_candidates_drops_repeats_and_pads():
    classes = np.array([[0, 1, 0, PAD]], np.int32)
    indices = np.array([[3, 2, 3, PAD]], np.int64)
    distances = np.array([[1.0, 1.0, 1.0, np.inf]])
    c, i, d = merge_candidates(classes, indices, distances, 3)
    assert c.tolist() == [[0, 1, PAD]]
    assert i.tolist() == [[3, 2, PAD]]
    assert d[0, :2].tolist() == [1.0, 1.0] and np.isinf(d[0, 2])


def test_merge_runs_equals_merging_each_query_on_its_own():
    # Queries with 1 to 4 lists each, lists of 3 candidates with repeats and pads.
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 5, size=40)
    n = int(lengths.sum())
    classes = rng.integers(0, 3, size=(n, 3)).astype(np.int32)
    indices = rng.integers(0, 6, size=(n, 3)).astype(np.int64)
    distances = (classes * 10 + indices).astype(np.float64) / 7.0
    empty = rng.random((n, 3)) < 0.1
    classes[empty], indices[empty], distances[empty] = PAD, PAD, np.inf
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    merged = merge_runs(starts, classes, indices, distances, 4)
    for q, (start, length) in enumerate(zip(starts, lengths, strict=True)):
        rows = slice(start, start + length)
        alone = merge_candidates(
            classes[rows].reshape(1, -1),
            indices[rows].reshape(1, -1),
            distances[rows].reshape(1, -1),
            4,
        )
        for got, want in zip(merged, alone, strict=True):
            assert np.array_equal(got[q], want[0])


def test_lsh_codes_of_a_row_do_not_depend_on_its_batch():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 9)) * 10
    directions = rng.normal(size=(9, 3 * 5))
    shifts = rng.uniform(size=(3, 4))
    codes, splits = lsh_codes(x, directions, shifts, 2.5)
    one_codes, one_splits = lsh_codes(x[123:124], directions, shifts, 2.5)
    assert np.array_equal(codes[123:124], one_codes)
    assert np.array_equal(splits[123:124], one_splits)


def test_sort_keys_order_rows_by_codes_split_class_index():
    rng = np.random.default_rng(5)
    n = 400
    codes = rng.integers(-3, 3, size=(n, 1, 2))
    splits = rng.choice([-1.5, -0.0, 0.0, 2.0], size=(n, 1))
    classes = rng.integers(0, 3, n)
    idx = rng.integers(0, 50, n)
    keys = sort_keys(codes, splits, classes, idx)[:, 0, :]
    by_bytes = sorted(range(n), key=lambda i: keys[i].tobytes())

    def row_order(i):
        # -0.0 sorts before 0.0 (the keys order the split's bits, not only its value).
        split = splits[i, 0]
        return (codes[i, 0, 0], codes[i, 0, 1], split, not np.signbit(split), classes[i], idx[i])

    assert by_bytes == sorted(range(n), key=row_order)


def run_chunks(n, step, batch, queries):
    run = SortedRun(step, 1)
    chunks = []
    idx = np.arange(n)
    for start in range(0, n, batch):
        part = slice(start, min(n, start + batch))
        chunks += run.add(
            np.zeros(len(idx[part]), np.int32), idx[part], idx[part, None] * 1.0, queries[part]
        )
    return chunks + run.finish()


@pytest.mark.parametrize("n", [1, 5, 40, 41, 100, 333])
def test_sorted_run_answers_every_query_once_in_a_bounded_chunk(n):
    step = 20
    queries = np.arange(n) % 3 != 0
    chunks = run_chunks(n, step, 7, queries)
    answered = np.concatenate([c.idx[c.queries] for c in chunks]) if chunks else []
    assert sorted(answered) == list(np.flatnonzero(queries))
    for chunk in chunks:
        assert len(chunk.idx) <= 2 * step
        assert len(chunk.idx) > step or len(chunk.idx) == n
        # Consecutive ranks: the chunk is a stretch of the sorted run.
        assert np.array_equal(chunk.idx, np.arange(chunk.idx[0], chunk.idx[0] + len(chunk.idx)))


def test_sorted_run_chunks_do_not_depend_on_batches_and_skip_query_free_chunks():
    n, step = 500, 16
    queries = np.zeros(n, bool)
    queries[[3, 250, 499]] = True
    small = run_chunks(n, step, 3, queries)
    large = run_chunks(n, step, 1000, queries)
    assert len(small) == 3
    assert [c.idx.tolist() for c in small] == [c.idx.tolist() for c in large]


def test_recall_counts_ties_at_the_kth_distance_as_found():
    true = np.array([[0.0, 1.0, 2.0]])
    assert recall_at_k(np.array([[0.0, 1.0, 2.0]]), true) == 1.0
    assert recall_at_k(np.array([[0.0, 2.0, 3.0]]), true) == pytest.approx(2 / 3)


def test_choose_tuning_takes_the_cheapest_choice_reaching_the_target():
    from spark_smote._search.cross_choice import choose_tuning
    from spark_smote._search.cross_lsh import CrossLSHParams

    curves = [
        ((1.0, 1024), np.array([0.5, 0.8, 0.95, 0.97])),
        ((1.0, 4096), np.array([0.8, 0.97, 0.99, 0.99])),
        ((2.0, 1024), np.array([0.6, 0.9, 0.97, 0.98])),
    ]
    params = CrossLSHParams(target_recall=0.97)
    # Few queries: ranking is cheap, ordering the rows dominates, fewest tables win.
    assert choose_tuning(curves, params, rows=10**6, queries=10)[:3] == (1.0, 4096, 2)
    # Every row a query: ranking dominates, the small chunks win (the earlier on a tie).
    assert choose_tuning(curves, params, rows=10**6, queries=10**6)[:3] == (2.0, 1024, 3)
    # Nothing reaches the target: the best recall with every table.
    strict = CrossLSHParams(target_recall=0.999)
    assert choose_tuning(curves, strict, rows=100, queries=100)[:3] == (1.0, 4096, 4)
    # Tables given: the best recall with that many.
    fixed = CrossLSHParams(tables=1)
    assert choose_tuning(curves, fixed, rows=100, queries=100)[:3] == (1.0, 4096, 1)


def test_a_wider_bucket_is_tuned_only_when_it_can_pay_for_its_tuning():
    from spark_smote._search.cross_choice import search_cost, width_settled

    caps = [1024, 8192]
    only_large = [[0.6, 0.9], [0.8, 0.99]]  # 2 tables of 8192 reach 0.97
    search = search_cost(8192, 2, rows=10**6, queries=10**6)

    def settled(curves: list[list[float]], tuning_pass: int) -> bool:
        return width_settled(curves, caps, 0.97, rows=10**6, queries=10**6, tuning_pass=tuning_pass)

    # The smallest chunk reached: a wider bucket could not make a smaller chunk.
    assert settled([[0.6, 0.97], [0.8, 0.99]], tuning_pass=1)
    # Only a larger chunk reached (Tomek links at 2.88M: 8192-row chunks): tuned when
    # the search costs many tuning passes, not when it costs a few.
    assert not settled(only_large, tuning_pass=search // 50)
    assert settled(only_large, tuning_pass=search // 5)
    # Nothing reached: always tuned.
    assert not settled([[0.6, 0.9], [0.8, 0.9]], tuning_pass=10**15)


def test_the_cheapest_choice_reaching_the_target_is_costed_at_its_first_table():
    from spark_smote._search.cross_choice import cheapest_reaching, search_cost, tables_reaching

    assert tables_reaching([0.5, 0.97, 0.99], 0.97) == 2
    assert tables_reaching(np.array([0.5, 0.9]), 0.97) is None
    caps = [1024, 4096]
    curves = [[0.5, 0.8, 0.9, 0.97], [0.9, 0.98]]
    costs = {
        1024: search_cost(1024, 4, rows=10**5, queries=10**6),
        4096: search_cost(4096, 2, rows=10**5, queries=10**6),
    }
    assert cheapest_reaching(curves, caps, 0.97, rows=10**5, queries=10**6) == min(costs.values())
    assert cheapest_reaching(curves, caps, 0.999, rows=10**5, queries=10**6) is None


def test_hash_count_follows_the_reference_size_unless_given() -> None:
    from spark_smote import InvalidParameterError
    from spark_smote._search.cross_lsh import CrossLSHParams
    from spark_smote._search.cross_whole import shard_costs
    from spark_smote._search.tuning_rules import MANY_ROWS, hashes_for

    assert hashes_for(MANY_ROWS, None) == 4
    assert hashes_for(MANY_ROWS + 1, None) == 8
    assert hashes_for(10 * MANY_ROWS, 3) == 3
    with pytest.raises(InvalidParameterError, match=r"hashes_per_table=0.*or None"):
        CrossLSHParams(hashes_per_table=0).checked(5)
    # Shards: each orders the queries of the others and ranks every query.
    assert shard_costs(1000, 100, 1) == (1000, 100)
    assert shard_costs(1000, 100, 3) == (1200, 300)

"""LSH neighbour search: recall, bounded buckets, completion, determinism, dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F

import spark_smote._lsh as lsh
from spark_smote import InvalidParameterError, LSHParams, neighbor_recall, smote
from spark_smote._keys import CLASS, IDX, SIZE, X, deal
from spark_smote._lsh import lsh_neighbors
from spark_smote._neighbors import NBR, block_top_k, exact_neighbors
from tests.helpers import sorted_rows

K = 5
POINTS_SCHEMA = f"{CLASS} int, {SIZE} long, {IDX} long, {X} array<double>"


def clusters(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, (10, dimension))
    return centres[rng.integers(0, 10, n)] + rng.normal(0.0, 1.0, (n, dimension))


def points_of(spark, x: np.ndarray, ordinal: int = 0):  # type: ignore[no-untyped-def]
    rows = [(ordinal, len(x), i, [float(v) for v in x[i]]) for i in range(len(x))]
    return spark.createDataFrame(rows, POINTS_SCHEMA)


def neighbour_lists(neighbors) -> dict[int, list[int]]:  # type: ignore[no-untyped-def]
    return {row[IDX]: list(row[NBR]) for row in neighbors.select(IDX, NBR).collect()}


def exact_kth(x: np.ndarray, k: int) -> np.ndarray:
    squared = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(squared, np.inf)
    return np.sqrt(np.sort(squared, axis=1)[:, k - 1])


def recall_of(x: np.ndarray, found: dict[int, list[int]], k: int) -> float:
    kth = exact_kth(x, k)
    hits = [
        np.sum(np.linalg.norm(x[nbrs] - x[i], axis=1) <= kth[i] * (1 + 1e-9))
        for i, nbrs in found.items()
    ]
    return float(np.sum(hits) / (k * len(found)))


def assert_valid(found: dict[int, list[int]], n: int, k: int) -> None:
    assert sorted(found) == list(range(n))
    for i, nbrs in found.items():
        assert len(nbrs) == k, (i, nbrs)
        assert len(set(nbrs)) == k, (i, nbrs)
        assert i not in nbrs


@pytest.fixture(params=["whole class", "per table"])
def search_path(request, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """Run a test through each LSH search path (small classes are searched whole)."""
    if request.param == "per table":
        monkeypatch.setattr(lsh, "_WHOLE_CLASS_BYTES", -1)
    return str(request.param)


def test_lsh_recall_and_schema_match_exact(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(800, 8)
    points = points_of(spark, x)
    neighbors, report = lsh_neighbors(points, {0: len(x)}, K, 8, seed=3)
    exact, _ = exact_neighbors(points, {0: len(x)}, K, 8)
    assert neighbors.schema == exact.schema
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9
    parameters = report.parameters[0]
    assert report.method[0] == "lsh"
    assert {"bucket_width", "hashes_per_table", "tables", "bucket_cap"} <= set(parameters)
    assert parameters["estimated_recall"] >= 0.9


def test_chunks_bound_groups_and_give_each_row_one_query_slot() -> None:
    step = 16
    for n in (5, 32, 33, 47, 48, 49, 500, 1001):
        ranks = np.arange(n)
        lo, hi = lsh.chunk_ranges(ranks, n, step)
        assert (hi - lo <= 2 * step).all()
        assert ((lo <= ranks) & (ranks < hi)).all()
        # Chunks start on the stride grid; a query sees step // 2 rows on each side
        # unless the run ends first.
        assert (lo % step == 0).all()
        assert ((ranks - lo >= step // 2) | (lo == 0)).all()
        assert ((hi - 1 - ranks >= step // 2 - 1) | (hi == n)).all()


def _sorted_run(x: np.ndarray, width: float, seed: int = 0):  # type: ignore[no-untyped-def]
    """One (class, table) run in key order, as the search receives it."""
    import pyarrow as pa

    spec = lsh._draw_hash(seed, 0, x.shape[1], 4, 1)
    codes, splits = lsh.table_keys(lsh.table_projections(x, spec, 1), spec, width)
    idx = np.arange(len(x))
    order = np.lexsort([idx, splits[:, 0], *[codes[:, 0, j] for j in reversed(range(4))]])
    return pa.table(
        {
            CLASS: pa.array(np.zeros(len(x), np.int32)),
            lsh._TABLE: pa.array(np.zeros(len(x), np.int32)),
            IDX: pa.array(idx[order]),
            lsh._XBYTES: lsh.binary_rows(x[order]),
        }
    )


def test_search_holds_at_most_one_chunk_whatever_the_skew(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql.pandas.types import to_arrow_schema

    seen: list[int] = []
    solve = lsh.chunk_top_k

    def bounded(x, idx, queries, k):  # type: ignore[no-untyped-def]
        seen.append(len(x))
        return solve(x, idx, queries, k)

    monkeypatch.setattr(lsh, "chunk_top_k", bounded)
    schema = to_arrow_schema(
        lsh.T.StructType(
            [
                lsh.T.StructField(CLASS, lsh.T.IntegerType()),
                lsh.T.StructField(IDX, lsh.T.LongType()),
                lsh.T.StructField(lsh._CANDIDATES, lsh.T.BinaryType()),
            ]
        )
    )
    for x in (np.ones((3000, 3)), clusters(3000, 3)):
        seen.clear()
        run = _sorted_run(x, width=1.0)
        search = lsh._search_udf(K, 3, {0: 64}, {0: len(x)}, schema)
        out = pa_concat(search(iter(run.to_batches(max_chunksize=700))))
        assert max(seen) <= 64
        assert sorted(out.column(IDX).to_pylist()) == list(range(len(x)))
        neighbors, distances = lsh.blobs_to_candidates(out.column(lsh._CANDIDATES), K)
        assert neighbors.shape == (len(x), K)
        assert (neighbors != out.column(IDX).to_numpy()[:, None]).all()
        assert (np.diff(distances, axis=1) >= 0).all()


def pa_concat(batches):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.Table.from_batches(list(batches))


def test_sort_keys_bytes_follow_the_numeric_order() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    codes = rng.integers(-3, 3, (n, 1, 2)).astype(np.int64)
    codes[:5] = np.array([[-(2**62)], [2**62], [0], [-1], [1]])[:, :, None].repeat(2, axis=2)
    splits = rng.choice([-2.5, -1e-300, 0.0, 1e-300, 3.0, -7e10], (n, 1))
    idx = rng.permutation(n).astype(np.int64)
    keys = lsh.sort_keys(codes, splits, idx)[:, 0, :]
    by_bytes = sorted(range(n), key=lambda i: keys[i].tobytes())
    by_numbers = np.lexsort((idx, splits[:, 0], codes[:, 0, 1], codes[:, 0, 0]))
    assert by_bytes == list(by_numbers)


def test_key_order_is_the_lexsort_order() -> None:
    # Packed keys with ties broken by the full key; codes whose ranges need more than 64
    # bits fall back to np.lexsort. -0.0 goes before 0.0 (ordered bits).
    from spark_smote._keys import ordered_bits

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
            assert np.array_equal(lsh.key_order(codes, split_bits, idx), full), (scale, n, m)


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
    keys = lsh.sort_keys(codes, splits, idx)
    runs = np.array([5, 6, 7], np.int64)
    coarse = lsh.coarse_keys(codes, splits, runs, 4)
    assert (coarse >= 0).all()
    pairs = [(t, i) for t in range(tables) for i in range(n)]
    full = sorted(pairs, key=lambda p: (runs[p[0]], keys[p[1], p[0]].tobytes()))
    fast = sorted(pairs, key=lambda p: (coarse[p[1], p[0]], keys[p[1], p[0]].tobytes()))
    assert fast == full
    # On codes within the field and continuous splits it decides almost every pair.
    typical = lsh.coarse_keys(codes // 30, rng.normal(size=(n, tables)), runs, 4)
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
    coarse = lsh.coarse_keys(all_codes[:, None, :], all_splits[:, None], np.zeros(1, np.int64), 1)
    got = lsh.refs_before(coarse[:, 0], all_codes, all_splits, all_idx, is_ref, len(p_idx))
    keys = lsh.sort_keys(all_codes[:, None, :], all_splits[:, None], all_idx)[:, 0, :]
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
    neighbors, distances = lsh.chunk_top_k(x, idx, queries, 5)
    expected_neighbors, expected_distances = block_top_k(x[queries], idx[queries], x, idx, 5)
    assert np.array_equal(neighbors, expected_neighbors)
    assert np.array_equal(distances, expected_distances)


def test_chunk_ranking_of_one_index_group_matches_the_whole_chunk() -> None:
    # The whole-class search ranks only its tasks' index groups of a chunk's queries;
    # each query's result must be the one the full chunk's ranking gives, bit for bit.
    x = clusters(2048, 7, seed=11)
    idx = np.random.default_rng(3).permutation(5000)[:2048].astype(np.int64)
    queries = np.arange(512, 1536)
    everything = lsh.chunk_top_k(x, idx, queries, K)
    for groups in ({0}, {1, 5}, set(range(1, lsh._QUERY_GROUPS))):
        mine = np.isin(idx[queries] % lsh._QUERY_GROUPS, list(groups))
        neighbors, distances = lsh.chunk_top_k(x, idx, queries[mine], K)
        assert np.array_equal(neighbors, everything[0][mine])
        assert np.array_equal(distances.view(np.int64), everything[1][mine].view(np.int64))


def test_class_search_answers_every_row_once_whatever_the_task_count() -> None:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    x = np.concatenate([clusters(1500, 4, seed=5), np.ones((400, 4))])
    n = len(x)
    spec = lsh._draw_hash(2, 0, 4, 4, 3)
    tuning = lsh._Tuning(width=2.0, cap=64, tables=3, sample_recall=-1.0, kth_distance_median=-1.0)
    schema = to_arrow_schema(
        lsh.T.StructType(
            [
                lsh.T.StructField(CLASS, lsh.T.IntegerType()),
                lsh.T.StructField(IDX, lsh.T.LongType()),
                lsh.T.StructField(X, lsh.T.ArrayType(lsh.T.DoubleType())),
                lsh.T.StructField(NBR, lsh.T.ArrayType(lsh.T.LongType())),
            ]
        )
    )
    shuffled = np.random.default_rng(0).permutation(n)
    answers = []
    for parts in (1, 2, 3, 8):
        search = lsh._class_search_udf(K, 4, {0: spec}, {0: tuning}, {0: n}, parts, schema)
        found: dict[int, list[int]] = {}
        for part in range(parts):
            group = pa.table(
                {
                    CLASS: pa.array(np.zeros(n, np.int32)),
                    IDX: pa.array(shuffled),
                    X: pa.array(x[shuffled].tolist(), pa.list_(pa.float64())),
                    lsh._PART: pa.array(np.full(n, part, np.int32)),
                }
            )
            out = pa_concat(search(iter(group.to_batches(max_chunksize=700))))
            pairs = zip(out.column(IDX).to_pylist(), out.column(NBR).to_pylist(), strict=True)
            for i, nbrs in pairs:
                assert i not in found
                found[i] = nbrs
        assert_valid(found, n, K)
        answers.append(found)
        assert list(search(iter([]))) == []  # a task dealt no rows answers nothing
    assert all(a == answers[0] for a in answers[1:])
    # A task missing a row of its class (a lost shuffle block would look like this)
    # fails loudly instead of ranking uninitialised features.
    search = lsh._class_search_udf(K, 4, {0: spec}, {0: tuning}, {0: n + 1}, 1, schema)
    short = group.set_column(3, lsh._PART, pa.array(np.zeros(n, np.int32)))
    with pytest.raises(RuntimeError, match=r"got 1900 of the 1901 rows of class ordinal 0"):
        list(search(iter(short.to_batches(max_chunksize=700))))


@pytest.mark.e2e
def test_whole_class_search_gives_the_per_table_result_and_report(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Three classes: two searched whole and one per table, against all three per table.
    xs = {0: clusters(900, 5, seed=1), 1: np.ones((700, 5)), 3: clusters(1200, 5, seed=2)}
    rows = [
        (o, len(x), i, [float(v) for v in x[i]], f"id-{o}-{i}")
        for o, x in xs.items()
        for i in range(len(x))
    ]
    points = spark.createDataFrame(rows, f"{POINTS_SCHEMA}, _smote_id string")
    sizes = {o: len(x) for o, x in xs.items()}
    params = LSHParams(bucket_cap=128, sample_size=50)

    searched: dict[str, list[int]] = {}

    def recorded(path: str):  # type: ignore[no-untyped-def]
        search = getattr(lsh, path)

        def record(rows, subset, *args):  # type: ignore[no-untyped-def]
            searched.setdefault(path, []).extend(sorted(subset))
            return search(rows, subset, *args)

        return record

    for path in ("_whole_class_search", "_per_table_search"):
        monkeypatch.setattr(lsh, path, recorded(path))

    def run():  # type: ignore[no-untyped-def]
        searched.clear()
        neighbors, report = lsh_neighbors(points, sizes, K, 5, seed=4, params=params)
        return sorted(tuple(r) for r in neighbors.collect()), report.parameters, neighbors.schema

    monkeypatch.setattr(lsh, "_WHOLE_CLASS_BYTES", -1)
    per_table = run()
    assert searched == {"_per_table_search": [0, 1, 3]}
    monkeypatch.setattr(lsh, "_WHOLE_CLASS_BYTES", 1000 * 5 * 8)
    mixed = run()
    assert searched == {"_whole_class_search": [0, 1], "_per_table_search": [3]}
    assert mixed == per_table
    # Class 0 searched whole but too large to tune in one task: tuned over blocks, as
    # the per-table class is, with the same statistics.
    monkeypatch.setattr(lsh, "_ONE_TASK_TUNING_BYTES", 800 * 5 * 8)
    blocked: list[int] = []
    sample_search = lsh.sample_exact_neighbors

    def recorded_sample(rows, indices, *args):  # type: ignore[no-untyped-def]
        blocked.extend(sorted(indices))
        return sample_search(rows, indices, *args)

    monkeypatch.setattr(lsh, "sample_exact_neighbors", recorded_sample)
    tuned_apart = run()
    assert searched == {"_whole_class_search": [0, 1], "_per_table_search": [3]}
    assert blocked == [0, 3]
    assert tuned_apart == per_table


@pytest.mark.e2e
def test_search_deals_runs_round_robin_over_its_tasks(spark) -> None:  # type: ignore[no-untyped-def]
    tables, sizes, tasks = {0: 3, 2: 5}, {0: 100, 2: 900}, 4
    runs = spark.createDataFrame(
        [(o, t) for o, n in tables.items() for t in range(n)], f"{CLASS} int, {lsh._TABLE} int"
    )
    if not hasattr(runs, "repartitionById"):
        pytest.skip("Spark 4.0 has no repartitionById: runs are hash-partitioned there")
    placed = (
        deal(runs, tasks, lsh._run_order(tables, sizes))
        .select(CLASS, lsh._TABLE, F.spark_partition_id().alias("task"))
        .collect()
    )
    # The larger class first: its tables are runs 0..4, the other class's runs 5..7.
    expected = {(2, t): t % tasks for t in range(5)} | {(0, t): (5 + t) % tasks for t in range(3)}
    assert {(r[CLASS], r[lsh._TABLE]): r["task"] for r in placed} == expected


def test_merge_keeps_distinct_nearest_ties_by_index() -> None:
    neighbors = np.array([[7, 3, 9, 3, 2, 8]])
    distances = np.array([[1.0, 0.5, 2.0, 0.5, 1.0, 0.1]])
    assert lsh.merge_tables(neighbors, distances, 4).tolist() == [[8, 3, 2, 7]]


def test_tuner_picks_the_cheapest_width_cap_and_tables_reaching_the_target() -> None:
    curves = {
        (1.0, 1024): np.array([0.5, 0.8, 0.9, 0.97]),  # 4 x (1024 + 3000) = 16096
        (1.0, 2048): np.array([0.6, 0.97, 0.99, 1.0]),  # 2 x (2048 + 3000) = 10096
        (2.0, 4096): np.array([0.7, 0.98, 0.99, 1.0]),  # 2 x (4096 + 3000) = 14192
    }
    params = LSHParams(target_recall=0.97).checked(K)
    assert lsh._choose(curves, params) == (1.0, 2048, 2)
    # Nothing reaches the target: the best recall with every table, cheapest on a tie.
    below = {key: curve * 0.9 for key, curve in curves.items()}
    assert lsh._choose(below, params) == (1.0, 2048, 4)
    # Fixed tables: the best recall at that count.
    assert lsh._choose(curves, LSHParams(tables=1).checked(K)) == (2.0, 4096, 1)


def test_tuning_recall_is_the_recall_of_the_search_on_its_sample(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(3000, 6, seed=7)
    points = points_of(spark, x)
    params = LSHParams(bucket_cap=64, sample_size=60)
    neighbors, report = lsh_neighbors(points, {0: len(x)}, K, 6, seed=3, params=params)
    found = neighbour_lists(neighbors)
    sample = lsh.sample_indices({0: len(x)}, 60, 3, purpose=0)[0]
    estimated = report.parameters[0]["estimated_recall"]
    measured = recall_of(x, {i: found[i] for i in sample}, K)
    assert abs(estimated - measured) < 1e-3, (estimated, measured)
    assert 0.0 < estimated < 1.0


def test_identical_rows_split_into_bounded_buckets(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((400, 3))
    params = LSHParams(bucket_cap=48)
    neighbors, report = lsh_neighbors(points_of(spark, x), {0: 400}, K, 3, seed=1, params=params)
    found = neighbour_lists(neighbors)
    assert_valid(found, 400, K)
    assert report.parameters[0]["bucket_cap"] == 48


def test_rows_in_tiny_buckets_are_completed_to_k(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    x = clusters(300, 4, seed=2)
    params = LSHParams(bucket_width=1e-6, hashes_per_table=4, tables=1, bucket_cap=48)
    neighbors, _ = lsh_neighbors(points_of(spark, x), {0: 300}, K, 4, seed=1, params=params)
    assert_valid(neighbour_lists(neighbors), 300, K)


def test_duplicates_are_neighbours_at_distance_zero(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    base = clusters(200, 3, seed=4)
    x = np.concatenate([base, base[:50]])
    neighbors, _ = lsh_neighbors(points_of(spark, x), {0: len(x)}, K, 3, seed=5)
    found = neighbour_lists(neighbors)
    assert_valid(found, len(x), K)
    assert recall_of(x, found, K) >= 0.9


def test_lsh_params_errors_name_field_and_fix() -> None:
    with pytest.raises(InvalidParameterError, match=r"bucket_cap=10: must be an integer >= 4"):
        LSHParams(bucket_cap=10).checked(5)
    with pytest.raises(InvalidParameterError, match=r"bucket_width=-1.0"):
        LSHParams(bucket_width=-1.0).checked(5)
    with pytest.raises(InvalidParameterError, match=r"target_recall=1.5"):
        LSHParams(target_recall=1.5).checked(5)


def _labelled(spark, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    minority = clusters(300, 4, seed=seed)
    majority = rng.normal(0.0, 8.0, (400, 4))
    rows = [(i, *map(float, r), 1) for i, r in enumerate(minority)]
    rows += [(1000 + i, *map(float, r), 0) for i, r in enumerate(majority)]
    return spark.createDataFrame(rows, ["id", "a", "b", "c", "d", "label"])


@pytest.mark.e2e
def test_lsh_output_is_bit_identical_across_partitionings(spark, search_path) -> None:  # type: ignore[no-untyped-def]
    df = _labelled(spark)
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    results = []
    try:
        for partitions, layout in ((3, lambda d: d.repartition(5)), (11, lambda d: d.coalesce(1))):
            spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
            shuffled = layout(df.orderBy(F.xxhash64("id", F.lit(partitions))))
            out = smote(shuffled, label_col="label", seed=9, neighbor_search="lsh", provenance=True)
            results.append(sorted(tuple(r) for r in out.collect()))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)
    assert results[0] == results[1]
    assert len(results[0]) == 800


@pytest.mark.e2e
def test_auto_uses_exact_up_to_threshold_and_lsh_above(spark, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(lsh, "AUTO_EXACT_MAX_ROWS", 60)
    rng = np.random.default_rng(1)
    rows = [(float(v), 0) for v in rng.normal(size=300)]
    rows += [(float(v), 1) for v in rng.normal(size=100)]
    rows += [(float(v), 2) for v in rng.normal(size=40)]
    from spark_smote import SMOTE

    sampler = SMOTE(label_col="label", seed=2)
    out = sampler.fit_resample(spark.createDataFrame(rows, ["x", "label"]))
    assert sampler.report_ is not None
    assert sampler.report_.neighbor_method == {1: "lsh", 2: "exact"}
    assert sorted(out.groupBy("label").count().collect()) == [(0, 300), (1, 300), (2, 300)]


@pytest.mark.e2e
def test_neighbor_recall_reports_per_class_recall(spark) -> None:  # type: ignore[no-untyped-def]
    report = neighbor_recall(
        _labelled(spark, seed=3), label_col="label", features=["a", "b", "c", "d"], sample_size=40
    )
    assert report.k == 5
    assert set(report.per_class) == {1}
    assert report.sample_sizes == {1: 40}
    assert report.class_sizes == {1: 300}
    assert report.recall >= 0.9
    assert "recall@5" in str(report)
    with pytest.raises(InvalidParameterError, match=r"sample_size=0"):
        neighbor_recall(_labelled(spark), label_col="label", sample_size=0)


@pytest.mark.e2e
@pytest.mark.parametrize("layout", ["columns", "vector"])
@pytest.mark.parametrize("draws_per_task", [2_000_000, 200], ids=["one task", "several tasks"])
@pytest.mark.parametrize("id_col", ["id", None], ids=["id keys", "content keys"])
def test_rows_drawn_in_the_search_tasks_are_the_rows_drawn_in_spark(
    spark, monkeypatch, layout, draws_per_task, id_col
) -> None:  # type: ignore[no-untyped-def]
    # The fused path also numbers and tunes each class in one task (numbered_and_tuned);
    # the other numbers it with Spark's window and tunes in a job of its own.
    from pyspark.ml.functions import array_to_vector

    import spark_smote._smote as smote_module
    import spark_smote._synthesis as synthesis

    rng = np.random.default_rng(5)
    rows = [
        (f"m{i}", *map(float, clusters(1, 3, seed=i)[0]), int(rng.integers(-50, 50)), "yes")
        for i in range(240)
    ]
    rows += [(f"M{i}", *map(float, rng.normal(0, 8, 3)), int(i), "no") for i in range(900)]
    df = spark.createDataFrame(rows, "id string, a double, b double, c double, n int, label string")
    features: str | list[str] = ["a", "b", "c", "n"]
    if layout == "vector":
        df = df.select("id", array_to_vector(F.array("a", "b", "c")).alias("v"), "label")
        features = "v"
    monkeypatch.setattr(synthesis, "DRAWS_PER_SEARCH_TASK", draws_per_task)
    drawn = []
    monkeypatch.setattr(
        smote_module,
        "draw_while_searching",
        lambda *args, **kwargs: drawn.append(1) or synthesis.draw_while_searching(*args, **kwargs),
    )

    def run() -> list[tuple]:
        out = smote(
            df,
            label_col="label",
            features=features,
            seed=8,
            neighbor_search="lsh",
            id_col=id_col,
            synthetic_col="synthetic",
            provenance=True,
        )
        return sorted_rows(out)

    in_search = run()
    assert drawn == [1]
    # A class too large to number and tune in one task: numbered by Spark's window and
    # tuned over blocks, still drawn in the search's tasks.
    import spark_smote._lsh as lsh_module

    monkeypatch.setattr(lsh_module, "_ONE_TASK_TUNING_BYTES", -1)
    assert run() == in_search
    assert drawn == [1, 1]
    drawn.clear()
    monkeypatch.setattr(smote_module, "drawn_while_searching", lambda plans: False)
    in_spark = run()
    assert drawn == []
    assert in_search == in_spark
    assert len(in_search) == 1800


def test_numpy_interpolation_is_sparks_bit_for_bit(spark) -> None:  # type: ignore[no-untyped-def]
    from spark_smote._synthesis import _interpolate, interpolate_numpy

    rng = np.random.default_rng(2)
    base = np.concatenate([rng.normal(0, 1e3, (200, 3)), [[-1.7e308, 1.0, 0.0]]])
    neighbor = np.concatenate([rng.normal(0, 1e3, (200, 3)), [[1.7e308, -1.0, 0.0]]])
    lam = rng.random(len(base))
    rows = [
        ([float(v) for v in b], [float(v) for v in n], float(t))
        for b, n, t in zip(base, neighbor, lam, strict=True)
    ]
    df = spark.createDataFrame(rows, "b array<double>, n array<double>, t double")
    between = _interpolate(F.col("t"), overflow_safe=True)
    got = np.array(
        [r[0] for r in df.select(F.zip_with("b", "n", between)).collect()], dtype=np.float64
    )
    expected = interpolate_numpy(base, neighbor, lam)
    assert np.isfinite(expected).all()
    assert got.tobytes() == expected.tobytes()

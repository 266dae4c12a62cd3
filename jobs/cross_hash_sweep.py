"""Sweep the cross-class LSH's hash count, width and chunk size on one task's numpy work.

    python jobs/cross_hash_sweep.py INPUT.parquet --hashes 4,8 --chunks 1024,4096 --k 10

Holds every row of a benchmark set (``jobs/bench_data.py``) in this process as one
search task would (:class:`spark_smote._search.held_rows.HeldRows`), takes a seeded
sample of minority rows (label 1) as queries, computes their exact k nearest rows of all
classes, then for each (hashes per table, width factor, chunk size) adds tables one at a
time with the search's own ordering and ranking kernels, printing the recall@k, the
share of queries Borderline-SMOTE classifies (in danger or not) as exact search does,
and the candidates per query. No Spark: it measures what the parameters buy, not time.
"""

from __future__ import annotations

import argparse

import numpy as np
import pyarrow.parquet as pq

from spark_smote._search import cross_whole
from spark_smote._search.cross_kernels import block_top_k, recall_at_k
from spark_smote._search.cross_lsh import _draw_hash
from spark_smote._search.held_rows import HeldRows


def _held(path: str) -> HeldRows:
    """Every row of the set, classes in ordinal order, every row a reference."""
    table = pq.read_table(path)
    features = [c for c in table.column_names if c != "label"]
    x = np.column_stack([table[c].to_numpy() for c in features]).astype(np.float64)
    y = table["label"].to_numpy().astype(np.int32)
    order = np.argsort(y, kind="stable")
    x, y = x[order], y[order]
    idx = np.concatenate([np.arange((y == c).sum()) for c in np.unique(y)])
    rows = len(y)
    return HeldRows(
        x=x,
        classes=y,
        idx=idx,
        position=np.arange(rows),
        query=y == 1,
        reference=np.ones(rows, bool),
    )


def _in_danger(classes: np.ndarray, k: int) -> np.ndarray:
    """Borderline-SMOTE's rule for a minority row from its k neighbours' classes."""
    other = (classes != 1).sum(axis=1)
    return (other >= k / 2) & (other < k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("--hashes", default="4,8")
    parser.add_argument("--factors", default="4")
    parser.add_argument("--chunks", default="1024,4096")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--tables", type=int, default=24)
    args = parser.parse_args()
    held, k = _held(args.input), args.k
    rng = np.random.default_rng(0)
    at = np.sort(rng.choice(np.flatnonzero(held.query), args.queries, replace=False))
    true_classes, _, truth = block_top_k(
        held.classes[at], held.idx[at], held.x[at], held.classes, held.idx, held.x, k
    )
    base = float(np.median(truth[:, -1]))
    print(f"median k-th distance {base:.4f}, {len(held)} rows, {len(at)} queries")
    kept = cross_whole.anchors(held, k, sharded=False)
    for hashes in map(int, args.hashes.split(",")):
        directions, shifts = _draw_hash(1, held.x.shape[1], hashes, args.tables)
        for factor in map(float, args.factors.split(",")):
            for chunk in map(int, args.chunks.split(",")):
                best = None
                for table in range(args.tables):
                    order, rank = cross_whole._table_order(
                        held,
                        (directions, shifts),
                        base * factor,
                        table,
                        kept=kept,
                        restricted=True,
                    )
                    found = cross_whole._chunk_lists(held, order, rank, at, k=k, step=chunk // 2)
                    best = found if best is None else cross_whole._merged([best, found], k)
                    agree = float((_in_danger(best[0], k) == _in_danger(true_classes, k)).mean())
                    print(
                        f"hashes={hashes} width={factor}x chunk={chunk} tables={table + 1} "
                        f"recall={recall_at_k(best[2], truth):.3f} danger_agreement={agree:.4f} "
                        f"candidates={(table + 1) * chunk}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()

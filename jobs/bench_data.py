"""Benchmark inputs: make_classification-shaped data, generated in chunks and cached.

The shape of the SUSY benchmark used by published Spark SMOTE work: 18 features, binary
label, 5.9 % minority. The generator follows scikit-learn's make_classification (each
class is two Gaussian clusters around vertices of a hypercube in the informative
subspace, covariance mixed by a random matrix; redundant features are linear
combinations of the informative ones; the rest is noise), but draws rows chunk by chunk
from a seeded numpy Generator so 30 million rows never sit in memory at once. The
Parquet file is written once per (rows, features, minority, seed) and reused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SIZES = {"0.3M": 300_000, "2.88M": 2_880_000, "30M": 30_000_000}
CHUNK_ROWS = 500_000


def dataset_path(cache: Path, n_rows: int, n_features: int, minority: float, seed: int) -> Path:
    return cache / f"classif_n{n_rows}_d{n_features}_m{minority}_s{seed}.parquet"


def _structure(n_features: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_informative = max(2, n_features * 10 // 18)
    n_redundant = max(0, min(n_features - n_informative, n_features * 4 // 18))
    vertices = rng.integers(0, 2, size=(4, n_informative)) * 2.0 - 1.0  # 2 classes x 2 clusters
    mixing = rng.uniform(-1, 1, size=(4, n_informative, n_informative))
    redundant = rng.uniform(-1, 1, size=(n_informative, n_redundant))
    return {"vertices": vertices, "mixing": mixing, "redundant": redundant}


def make_dataset(
    path: Path, n_rows: int, n_features: int = 18, minority: float = 0.059, seed: int = 0
) -> Path:
    """Write the dataset to ``path`` (Parquet, columns f0..f{d-1} and int label)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = _structure(n_features, seed)
    n_informative = parts["vertices"].shape[1]
    n_redundant = parts["redundant"].shape[1]
    n_noise = n_features - n_informative - n_redundant
    names = [f"f{i}" for i in range(n_features)]
    schema = pa.schema([*(pa.field(n, pa.float64()) for n in names), pa.field("label", pa.int32())])
    staging = path.with_suffix(".tmp")
    with pq.ParquetWriter(staging, schema) as writer:
        for chunk, start in enumerate(range(0, n_rows, CHUNK_ROWS)):
            rows = min(CHUNK_ROWS, n_rows - start)
            rng = np.random.default_rng([seed, chunk])
            label = (rng.random(rows) < minority).astype(np.int32)
            cluster = label * 2 + rng.integers(0, 2, size=rows)
            informative = rng.standard_normal((rows, n_informative))
            informative = np.einsum("ij,ijk->ik", informative, parts["mixing"][cluster])
            informative += parts["vertices"][cluster]
            columns = [informative, informative @ parts["redundant"]]
            columns.append(rng.standard_normal((rows, n_noise)))
            features = np.hstack(columns)
            table = pa.table(
                {**{n: features[:, i] for i, n in enumerate(names)}, "label": label}, schema=schema
            )
            writer.write_table(table, row_group_size=CHUNK_ROWS)
    staging.rename(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=list(SIZES), default="2.88M")
    parser.add_argument("--cache", default="bench/data")
    args = parser.parse_args()
    n = SIZES[args.size]
    print(make_dataset(dataset_path(Path(args.cache), n, 18, 0.059, 0), n))

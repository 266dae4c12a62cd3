"""Benchmark inputs: make_classification-shaped data, generated in chunks and cached.

The default shape is the SUSY benchmark's, used by published Spark SMOTE work: 18
features, binary label, 5.9 % minority; ``PRESETS`` adds a large minority (12M rows at
25 %, so 3M minority rows) and 30M rows, and any (rows, features, minority, classes) can
be asked for: with ``--classes C`` labels 1 .. C-1 each take the minority share and
label 0 the rest (several large classes at once). The generator follows scikit-learn's
make_classification (each class is two Gaussian clusters around vertices of a hypercube
in the informative subspace, covariance mixed by a random matrix; redundant features are
linear combinations of the informative ones; the rest is noise), but draws rows chunk by
chunk from a seeded numpy Generator so 30 million rows never sit in memory at once. The
Parquet file is written once per (rows, features, minority, classes, seed, chunk size:
each chunk has its own generator, so the chunk size is part of what the data is) and
reused.

    python jobs/bench_data.py --size 12M                 # a preset
    python jobs/bench_data.py --rows 200000 --minority 0.25 --features 40
    python jobs/bench_data.py --rows 2000000 --features 64 --classes 4 --minority 0.2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Preset shapes: name -> (rows, minority share). 2.88M is SUSY's size; 12M at 25 % has
# a 3M-row minority class (beyond the whole-class search); 30M is the scale test.
PRESETS: dict[str, tuple[int, float]] = {
    "0.3M": (300_000, 0.059),
    "2.88M": (2_880_000, 0.059),
    "12M": (12_000_000, 0.25),
    "30M": (30_000_000, 0.059),
}
DEFAULT_FEATURES = 18
CHUNK_ROWS = 500_000


def dataset_path(
    cache: Path, n_rows: int, n_features: int, minority: float, seed: int, classes: int = 2
) -> Path:
    """The cache file of one dataset: every input of the generator is in its name."""
    shape = f"n{n_rows}_d{n_features}_m{minority}" + (f"_k{classes}" if classes != 2 else "")
    return cache / f"classif_{shape}_s{seed}_c{CHUNK_ROWS}.parquet"


def _structure(n_features: int, seed: int, classes: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_informative = max(2, n_features * 10 // 18)
    n_redundant = max(0, min(n_features - n_informative, n_features * 4 // 18))
    clusters = 2 * classes  # two Gaussian clusters per class, as make_classification's default
    vertices = rng.integers(0, 2, size=(clusters, n_informative)) * 2.0 - 1.0
    mixing = rng.uniform(-1, 1, size=(clusters, n_informative, n_informative))
    redundant = rng.uniform(-1, 1, size=(n_informative, n_redundant))
    return {"vertices": vertices, "mixing": mixing, "redundant": redundant}


def make_dataset(
    path: Path,
    n_rows: int,
    n_features: int = 18,
    minority: float = 0.059,
    seed: int = 0,
    classes: int = 2,
) -> Path:
    """Write the dataset to ``path`` (Parquet, columns f0..f{d-1} and int label).

    Labels 1 .. ``classes`` - 1 each take a ``minority`` share of the rows, label 0 the
    rest; with two classes the draws are those of a binary dataset.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = _structure(n_features, seed, classes)
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
            share = rng.random(rows)
            minor = share < minority * (classes - 1)
            label = np.where(minor, 1 + np.floor(share / minority), 0).astype(np.int32)
            cluster = label * 2 + rng.integers(0, 2, size=rows)
            informative = rng.standard_normal((rows, n_informative))
            # Mixed cluster by cluster: one matrix product each, no per-row matrices
            # (rows x informative^2 doubles: 12 GB a chunk at 100 features).
            for c in range(len(parts["mixing"])):
                members = cluster == c
                informative[members] = informative[members] @ parts["mixing"][c]
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


def cached_dataset(
    cache: Path,
    n_rows: int,
    n_features: int = DEFAULT_FEATURES,
    minority: float = 0.059,
    classes: int = 2,
) -> Path:
    """The dataset of this shape (seed 0), generated on first use."""
    path = dataset_path(cache, n_rows, n_features, minority, 0, classes)
    return make_dataset(path, n_rows, n_features, minority, 0, classes)


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """``--size PRESET`` or ``--rows N``; ``--minority F``, ``--features D``, ``--classes C``."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--size", choices=list(PRESETS), help="a preset shape (default 2.88M)")
    size.add_argument("--rows", type=int, help="input rows (instead of --size)")
    parser.add_argument(
        "--minority",
        type=float,
        help="minority share of the rows, e.g. 0.25 (default: the preset's, else 0.059)",
    )
    parser.add_argument(
        "--features", type=int, default=DEFAULT_FEATURES, help="feature columns (default 18)"
    )
    parser.add_argument(
        "--classes",
        type=int,
        default=2,
        help="labels 0 .. C-1; each of 1 .. C-1 takes the minority share (default 2)",
    )


def resolve_shape(args: argparse.Namespace) -> tuple[int, float, int]:
    """(rows, minority share, features) from the arguments of ``add_shape_arguments``."""
    if args.rows is not None:
        rows, minority = args.rows, 0.059
    else:
        rows, minority = PRESETS[args.size or "2.88M"]
    if args.minority is not None:
        minority = args.minority
    if rows < 1 or not 0.0 < minority < 1.0 or args.features < 2:
        raise SystemExit(
            f"bench_data: need --rows >= 1, 0 < --minority < 1 and --features >= 2; got "
            f"{rows}, {minority}, {args.features}"
        )
    if args.classes < 2 or minority * (args.classes - 1) >= 1.0:
        raise SystemExit(
            f"bench_data: --classes {args.classes} with --minority {minority} leaves no "
            f"majority; need --classes >= 2 and (classes - 1) * minority < 1"
        )
    return rows, minority, args.features


def shape_label(args: argparse.Namespace) -> str:
    """A short name of the shape for result files: the preset's, else its numbers."""
    rows, minority, features = resolve_shape(args)
    preset = args.rows is None and args.minority is None and features == DEFAULT_FEATURES
    if preset and args.classes == 2:
        return args.size or "2.88M"
    classes = f"_k{args.classes}" if args.classes != 2 else ""
    return f"n{rows}_d{features}_m{minority}{classes}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shape_arguments(parser)
    parser.add_argument("--cache", default="bench/data")
    args = parser.parse_args()
    rows, minority, features = resolve_shape(args)
    print(cached_dataset(Path(args.cache), rows, features, minority, args.classes))

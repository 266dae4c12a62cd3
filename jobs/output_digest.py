"""Order-free digest of a Parquet output: the same rows, bit for bit, give the same digest.

    python jobs/output_digest.py OUT.parquet [OTHER.parquet ...]

Every cell is hashed by its bits (floats by their IEEE-754 pattern, so -0.0 and 0.0
differ and NaN payloads count), a row's hash combines its cells in column order, and
the rows are combined by two commutative sums modulo 2**64, so neither the row order
nor the number of files matters. It reads one row group at a time (bounded memory), and
prints the row count and the two sums. A restructure that must not change results is
checked by the same digest before and after.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
# splitmix64's constants: a cheap, well-mixed 64-bit finaliser.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = values + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def _cell_hashes(column: pa.ChunkedArray) -> np.ndarray:
    """One uint64 per row, from the cell's bits (nested and string cells via their text)."""
    kind = column.type
    if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        values = column.to_numpy(zero_copy_only=False)
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        if values.dtype == object:  # integers with nulls
            values = np.array([0 if v is None else v for v in values], dtype=np.int64)
        if values.dtype.kind == "f":
            bits = values.astype(np.float64).view(np.uint64)
        else:
            bits = values.astype(np.int64).view(np.uint64)
        return np.where(nulls, np.uint64(0x5A5A5A5A5A5A5A5A), _mix(bits))
    # Strings, lists, structs: hash their canonical text (rare in benchmark outputs).
    text = [repr(v) for v in column.to_pylist()]
    return np.array([hash_text(t) for t in text], dtype=np.uint64)


def hash_text(text: str) -> int:
    """A stable 64-bit hash of a string (FNV-1a; Python's hash() is salted per process)."""
    value = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def digest(path: Path) -> tuple[int, int, int]:
    """(rows, sum of row hashes, sum of squared-mixed row hashes), modulo 2**64."""
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    rows, first, second = 0, np.uint64(0), np.uint64(0)
    for file in files:
        parquet = pq.ParquetFile(file)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group)
            row_hash = np.zeros(table.num_rows, dtype=np.uint64)
            with np.errstate(over="ignore"):
                for position, name in enumerate(sorted(table.column_names)):
                    cells = _cell_hashes(table.column(name))
                    row_hash = _mix(row_hash * np.uint64(31) + cells + np.uint64(position))
                first = first + np.add.reduce(row_hash, dtype=np.uint64)
                second = second + np.add.reduce(_mix(row_hash ^ _MIX1), dtype=np.uint64)
            rows += table.num_rows
    return rows, int(first), int(second)


def main() -> None:
    for name in sys.argv[1:]:
        rows, first, second = digest(Path(name))
        print(f"{name}: {rows} rows, digest {first} {second}")


if __name__ == "__main__":
    main()

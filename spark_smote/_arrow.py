"""Numpy matrices to and from Arrow columns, for every phase's Arrow UDFs.

Features travel through Spark as ``array<double>`` (``list<double>`` in Arrow) or, where
a task hands them to another, as one binary value per row: a binary value is copied as
one block, where an ``array<double>`` is converted element by element. No Spark here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["binary_rows", "list_column", "matrix_from_binary_column", "matrix_from_list_column"]


def matrix_from_list_column(column: pa.ChunkedArray | pa.Array, dimension: int) -> np.ndarray:
    """View an Arrow ``list<double>`` column of equal-length rows as an (n, d) matrix."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = array.flatten().to_numpy(zero_copy_only=False)
    return values.reshape(len(array), dimension).astype(np.float64, copy=False)


def list_column(matrix: np.ndarray, value_type: pa.DataType) -> pa.ListArray:
    """Turn an (n, m) numpy matrix into an Arrow ``list`` column of n rows of length m."""
    n, m = matrix.shape
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(m))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=value_type))


def binary_rows(x: np.ndarray) -> pa.Array:
    """An (n, w) matrix of 8-byte values as n binary values of 8 w bytes (native order).

    The features (float64) and the candidate lists (indices and distances) cross the
    shuffles this way: a binary value is copied as one block, where an ``array<double>``
    is converted element by element.
    """
    if x.dtype.itemsize != 8:
        raise TypeError(f"binary_rows needs 8-byte values, got {x.dtype}")
    n = len(x)
    width = 8 * x.shape[1]
    data = pa.py_buffer(np.ascontiguousarray(x).tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.Array.from_buffers(pa.binary(), n, [None, offsets, data])


def matrix_from_binary_column(
    column: pa.Array | pa.ChunkedArray, dimension: int, dtype: type = np.float64
) -> np.ndarray:
    """Inverse of :func:`binary_rows`: the (n, d) matrix of a binary column."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    if n == 0:
        return np.empty((0, dimension), dtype)
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset : array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.view(dtype).reshape(n, dimension)

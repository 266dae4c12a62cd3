"""LSH hash functions in numpy: projections, bucket codes, sort keys and ranks.

Part of the neighbour search (phase 4, :mod:`spark_smote._search`); no Spark here. A
class's ``L`` tables each AND ``m`` p-stable hashes ``h(x) = floor((a.x + b) / w)``
(Gaussian ``a``, ``b ~ U[0, w)``; Datar et al. 2004) into a bucket code, plus one
Gaussian split direction ``s`` that orders rows inside a bucket. A table's search order
is (codes, ``s.x``, index): bucket after bucket in lexicographic order of their codes,
so adjacent buckets are neighbouring cells of the grid.

- :func:`draw_hash`: a class's hash functions, from its own seeded stream;
- :func:`table_projections`, :func:`table_keys`: codes and split values, computed the
  same way (bit for bit) whatever batch a row arrives in;
- :func:`table_order`, :func:`key_order`: a class's rows in one table's order (the
  whole-class search, in numpy);
- :func:`sort_keys`, :func:`coarse_keys`: byte keys and leading ``long`` keys in which
  Spark sorts the per-table copies in the same order;
- :func:`refs_before`, :func:`probe_ranks`: the rank of sampled rows in every order,
  counted for the tuning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spark_smote._order import order_ties, ordered_bits

__all__ = [
    "ClassHash",
    "bucket_order",
    "coarse_keys",
    "draw_hash",
    "key_order",
    "probe_ranks",
    "project",
    "refs_before",
    "sort_keys",
    "table_keys",
    "table_order",
    "table_projections",
]

# The feature-by-feature projection runs over this many directions at a time, in
# blocks of this many values (directions x rows): 4096 rows of 8 directions.
_PROJECT_DIRECTIONS = 8
_PROJECT_BLOCK_VALUES = 8 * 4096
# Bits per bucket code in the coarse sort key (:func:`coarse_keys`); a code outside its
# field only cuts the coarse key short (the full key then decides), never misorders it.
_COARSE_CODE_BITS = 10


@dataclass(frozen=True)
class ClassHash:
    """The drawn hash functions of one class (immutable numpy arrays).

    ``directions`` has ``max_tables * (m + 1)`` columns: table t uses columns
    ``t * (m + 1) .. t * (m + 1) + m - 1`` as hashes and the next one as its split
    direction. ``shifts`` are the offsets ``b / w``, uniform in [0, 1), so one draw
    serves every candidate width and the first L tables of a draw are a search with L.
    """

    hashes: int
    directions: np.ndarray
    shifts: np.ndarray  # (max_tables, m)

    @property
    def max_tables(self) -> int:
        return int(self.shifts.shape[0])


def draw_hash(
    generator: np.random.Generator, dimension: int, hashes: int, tables: int
) -> ClassHash:
    """Draw the hash functions of one class from ``generator`` (the class's own stream)."""
    directions = np.ascontiguousarray(
        generator.standard_normal((tables * (hashes + 1), dimension)).T
    )
    shifts = generator.uniform(0.0, 1.0, (tables, hashes))
    directions.setflags(write=False)
    shifts.setflags(write=False)
    return ClassHash(hashes, directions, shifts)


# Rows per block of :func:`table_order`'s keys: their projections take a few MB.
_ORDER_BLOCK_ROWS = 1 << 16


def project(x: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """``x @ projections`` accumulated feature by feature (row-wise reproducible).

    A BLAS product may round a row differently depending on the other rows of the
    batch; this sum has the same order for every row, so a row's projection does not
    depend on how the rows were batched.
    """
    n, dimension = x.shape
    width = projections.shape[1]
    # Computed transposed, a few directions at a time over blocks of rows: every
    # operation then runs along a contiguous row of values (2.5x faster than the
    # row-major sum for one table's 5 directions), and only one block of the features
    # is transposed at a time. The sums are the same, in the same order, from 0.
    out = np.zeros((width, n), dtype=np.float64)
    group = min(width, _PROJECT_DIRECTIONS)
    block_rows = max(1, _PROJECT_BLOCK_VALUES // max(group, 1))
    term = np.empty((group, min(n, block_rows)), dtype=np.float64)
    for start in range(0, n, block_rows):
        features = np.ascontiguousarray(x[start : start + block_rows].T)
        for first in range(0, width, _PROJECT_DIRECTIONS):
            directions = projections[:, first : first + _PROJECT_DIRECTIONS]
            block = out[first : first + _PROJECT_DIRECTIONS, start : start + block_rows]
            part = term[: directions.shape[1], : block.shape[1]]
            for j in range(dimension):
                np.multiply(directions[j][:, None], features[j], out=part)
                block += part
    return out.T


def table_projections(x: np.ndarray, spec: ClassHash, tables: int, first: int = 0) -> np.ndarray:
    """Projections ``(n, tables, m + 1)`` of rows on tables ``first ... first + tables - 1``.

    Each column is summed alone, so its bits do not depend on which tables are
    projected together.
    """
    m = spec.hashes
    projected = project(x, spec.directions[:, first * (m + 1) : (first + tables) * (m + 1)])
    return projected.reshape(len(x), tables, m + 1)


def table_keys(
    projected: np.ndarray, spec: ClassHash, width: float, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Bucket codes ``(n, tables, m)`` (int64) and split values ``(n, tables)``.

    ``projected`` comes from :func:`table_projections` (with the same ``first``); the
    codes are ``floor(a.x / w + b / w)``, clipped far outside any real range so they
    fit int64.
    """
    m, tables = spec.hashes, projected.shape[1]
    # In place: the same operations as floor(p / w + b), in the same order, without a
    # temporary array per step.
    codes = projected[:, :, :m] / width
    codes += spec.shifts[first : first + tables]
    np.floor(codes, out=codes)
    np.clip(codes, -(2.0**62), 2.0**62, out=codes)
    return codes.astype(np.int64), np.ascontiguousarray(projected[:, :, m])


def table_order(
    x: np.ndarray, idx: np.ndarray, spec: ClassHash, width: float, table: int
) -> np.ndarray:
    """Positions of a class's rows in one table's search order.

    The order is (codes, split, index), the one Spark's sort gives the per-table
    search (:func:`sort_keys`): codes as signed integers, the split by its
    order-preserving bits (-0.0 before 0.0), the index last. The keys are computed
    over blocks of rows (a row's keys do not depend on its block), so only the codes
    of every row are held, not their projections.
    """
    n, m = len(x), spec.hashes
    codes = np.empty((n, m), np.int64)
    split_bits = np.empty(n, np.uint64)
    for start in range(0, n, _ORDER_BLOCK_ROWS):
        end = min(n, start + _ORDER_BLOCK_ROWS)
        block = table_projections(x[start:end], spec, 1, table)
        block_codes, splits = table_keys(block, spec, width, table)
        codes[start:end] = block_codes[:, 0, :]
        split_bits[start:end] = ordered_bits(splits[:, 0])
    return key_order(codes, split_bits, idx)


def key_order(codes: np.ndarray, split_bits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The order of rows by (codes, split bits, index): :func:`bucket_order`'s."""
    return bucket_order(codes, split_bits, idx)[0]


def bucket_order(
    codes: np.ndarray, split_bits: np.ndarray, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The order of rows by (codes, split bits, index), and where its buckets start.

    The order is ``np.lexsort``'s, found faster: the codes, each shifted to start at
    0 and given just the bits its range needs, and the split's leading bits are
    packed into one uint64 per row, sorted once; only rows whose packed keys tie
    (equal codes, splits equal in their leading bits) are then ordered by their full
    split and index. When the codes' ranges need more than 64 bits the full keys are
    sorted instead.

    Parameters
    ----------
    codes : ndarray (n, m) of int64
        Bucket codes, most significant first.
    split_bits : ndarray (n,) of uint64
        The split values' order-preserving bits (:func:`ordered_bits`).
    idx : ndarray (n,) of int64
        Row indices, the last key.

    Returns
    -------
    order : ndarray (n,) of int64
        Positions in key order.
    starts : ndarray (n,) of bool
        Whether the row at each place of the order is the first of its bucket (its
        codes differ from the previous row's), read off the packed codes when they
        fit.

    """
    n, m = codes.shape
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, bool)
    key, used = np.zeros(n, np.uint64), 0
    for j in range(m):
        low = int(codes[:, j].min())
        bits = (int(codes[:, j].max()) - low).bit_length()
        if used + bits > 64:
            order = np.lexsort([idx, split_bits, *[codes[:, j] for j in reversed(range(m))]])
            starts = np.zeros(n, bool)
            starts[0] = True
            for j in range(m):
                ordered = codes[order, j]
                starts[1:] |= ordered[1:] != ordered[:-1]
            return order, starts
        if bits:
            # Wrapping int64 subtraction, read as uint64, is the exact offset (< 2**64).
            offset = (codes[:, j] - np.int64(low)).view(np.uint64)
            key = (key << np.uint64(bits)) | offset if used else offset
            used += bits
    rest = 64 - used
    if rest:
        top = split_bits >> np.uint64(64 - rest)
        key = (key << np.uint64(rest)) | top if used else top
    order = np.argsort(key).astype(np.int64, copy=False)
    order = order_ties(key, order, lambda rows: [idx[rows], split_bits[rows]])
    # The codes are the key's leading ``used`` bits (none: every row in one bucket).
    bucket = key[order] >> np.uint64(rest) if used else np.zeros(n, np.uint64)
    starts = np.empty(n, bool)
    starts[0] = True
    np.not_equal(bucket[1:], bucket[:-1], out=starts[1:])
    return order, starts


def sort_keys(codes: np.ndarray, splits: np.ndarray, *row_keys: np.ndarray) -> np.ndarray:
    """Byte strings whose unsigned byte order is the order ``(codes..., split, *row_keys)``.

    Parameters
    ----------
    codes : ndarray (n, tables, m) of int64
        Bucket codes of each row in each table.
    splits : ndarray (n, tables) of float64
        Split values (the order inside a bucket).
    *row_keys : ndarray (n,) of int
        The final tie-breaks, most significant first: the row index within a class,
        or (class, index) in the search among all classes; the order is total.

    Returns
    -------
    ndarray (n, tables, 8 * (m + 1 + len(row_keys))) of uint8
        Big-endian, sign-flipped integers and order-preserving float bits, so Spark
        sorts the keys as binary (``memcmp``) in the order :func:`np.lexsort` gives.
        The first ``8 m`` bytes are the row's bucket.

    """
    n, tables, m = codes.shape
    sign = np.uint64(1 << 63)
    words = np.empty((n, tables, m + 1 + len(row_keys)), np.uint64)
    words[:, :, :m] = codes.view(np.uint64) ^ sign
    words[:, :, m] = ordered_bits(splits)
    for position, key in enumerate(row_keys, start=m + 1):
        words[:, :, position] = (key.astype(np.int64).view(np.uint64) ^ sign)[:, None]
    return words.astype(">u8").view(np.uint8).reshape(n, tables, 8 * words.shape[2])


def coarse_keys(
    codes: np.ndarray, splits: np.ndarray, runs: np.ndarray, run_bits: int
) -> np.ndarray:
    """One int64 per row and table that orders like ``(run, sort key)`` wherever it differs.

    Spark sorts on a leading ``long`` by its value alone (the binary sort key needs a
    byte-wise comparison of every pair), so the search sorts by (coarse key, sort
    key): the coarse key decides almost every comparison and the sort key breaks its
    ties, which keeps the order exactly that of :func:`sort_keys` within a run.

    Parameters
    ----------
    codes : ndarray (n, tables, m) of int64
        Bucket codes.
    splits : ndarray (n, tables) of float64
        Split values.
    runs : ndarray (tables,) of int64
        The run number (class and table) of each table, below ``2**run_bits``.
    run_bits : int
        Bits taken by the run number, at the top.

    Returns
    -------
    ndarray (n, tables) of int64
        Non-negative: the run, then each code in ``_COARSE_CODE_BITS`` bits, then the
        top bits of the split's order-preserving bits. Codes are offset to the middle
        of their field; one outside it takes the field's lowest or highest value and
        zeroes every field after it, so the key never contradicts the full order.

    """
    n, tables, m = codes.shape
    bits = _COARSE_CODE_BITS
    shift = 63 - run_bits
    packed = min(m, shift // bits)
    out = np.broadcast_to(runs.astype(np.int64) << shift, (n, tables)).copy()
    cut = np.zeros((n, tables), dtype=bool)
    top = (1 << bits) - 1
    for j in range(packed):
        shift -= bits
        field = codes[:, :, j] + (1 << (bits - 1))
        low, high = field < 1, field > top - 1
        field = np.where(low, 0, np.where(high, top, field))
        out |= np.where(cut, 0, field) << shift
        cut |= low | high
    if packed == m and shift > 0:
        top_bits = (ordered_bits(splits) >> np.uint64(64 - shift)).astype(np.int64)
        out |= np.where(cut, 0, top_bits)
    return out


def refs_before(
    coarse: np.ndarray,
    codes: np.ndarray,
    splits: np.ndarray,
    idx: np.ndarray,
    is_ref: np.ndarray,
    n_probe: int,
) -> np.ndarray:
    """For each probe row, the reference rows before it in one table's order.

    Parameters
    ----------
    coarse : ndarray (n,) of int64
        The rows' coarse keys (:func:`coarse_keys`) in this table.
    codes, splits : ndarray (n, m) and (n,)
        Their bucket codes and split values: the full order is (codes, split, index).
    idx : ndarray (n,) of int64
        Row indices.
    is_ref : ndarray (n,) of bool
        Reference rows; the first ``n_probe`` rows are the probes (none of them a
        reference). A probe's own reference copy, with the same key, is not before it.
    n_probe : int
        Number of probes.

    Returns
    -------
    ndarray (n_probe,) of int64

    Notes
    -----
    The references' coarse keys are sorted once and each probe is placed by binary
    search; only the probes that share a coarse key with some reference (their own
    copy, or a rare tie) are placed among those references by the full order.

    """
    ref_rows = np.flatnonzero(is_ref)
    by_key = np.argsort(coarse[ref_rows])
    refs = coarse[ref_rows[by_key]]
    probes = coarse[:n_probe]
    before = np.searchsorted(refs, probes, side="left")
    after = np.searchsorted(refs, probes, side="right")
    tied = np.flatnonzero(after > before)
    if not tied.size:
        return before
    # The references sharing a tied probe's key: each key's run of sorted references once.
    starts, first = np.unique(before[tied], return_index=True)
    lengths = after[tied][first] - starts
    runs = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
    rows = np.concatenate([tied, ref_rows[by_key[runs]]])
    full = [idx[rows], splits[rows], *[codes[rows, j] for j in reversed(range(codes.shape[1]))]]
    ordered = rows[np.lexsort([*full, coarse[rows]])]  # stable: a probe before its copy
    ref_flags = is_ref[ordered].astype(np.int64)
    refs_so_far = np.cumsum(ref_flags) - ref_flags
    values = coarse[ordered]
    new_group = np.concatenate([[True], values[1:] != values[:-1]])
    in_group = refs_so_far - refs_so_far[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    is_probe = ~is_ref[ordered]
    before[ordered[is_probe]] += in_group[is_probe]
    return before


def probe_ranks(
    x: np.ndarray,
    idx: np.ndarray,
    is_ref: np.ndarray,
    spec: ClassHash,
    widths: list[float],
    tables: Sequence[int] | None = None,
) -> np.ndarray:
    """Reference rows before each probe row in every (width, table) order.

    Parameters
    ----------
    x, idx : ndarray (n, d) and (n,)
        Probe rows first, then reference rows (a probe may also be a reference).
    is_ref : ndarray (n,) of bool
        False for the probes, True for the references.
    spec : ClassHash
        The class's hash functions.
    widths : list of float
        Candidate bucket widths.
    tables : sequence of int, optional
        The tables counted (default: all of ``spec``'s).

    Returns
    -------
    ndarray (probes, len(widths) * len(tables)) of int64
        Column ``c * len(tables) + i`` counts, for width c and the i-th table.

    """
    n_probe = int((~is_ref).sum())
    counted = list(range(spec.max_tables)) if tables is None else list(tables)
    counts = np.zeros((n_probe, len(widths) * len(counted)), np.int64)
    for i, table in enumerate(counted):
        projected = table_projections(x, spec, 1, table)
        for c, width in enumerate(widths):
            codes, splits = table_keys(projected, spec, width, table)
            coarse = coarse_keys(codes, splits, np.zeros(1, np.int64), 1)
            counts[:, c * len(counted) + i] = refs_before(
                coarse[:, 0], codes[:, 0], splits[:, 0], idx, is_ref, n_probe
            )
    return counts

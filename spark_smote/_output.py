"""Phase 6: check output paths and write the result so it appears all at once.

Before any work: the output must not be the input, inside it, or contain it, and an
existing output needs ``mode='overwrite'``. Writing: for local paths (no scheme or
``file:``) the data is written to a hidden folder beside the destination and renamed
into place only when Spark has finished; an existing output (mode overwrite) is moved
aside first and deleted only after the new one is in place, so a failure at any point
leaves either the old output or none, never a partial one. For other file systems
(HDFS, object stores) the library cannot rename without JVM access, so it relies on
Spark's own commit protocol (output committed at job end, ``_SUCCESS`` marker).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame, DataFrameWriter
from pyspark.sql import types as T

from spark_smote._errors import OutputPathError
from spark_smote._faults import inject

__all__ = [
    "check_format",
    "check_paths",
    "local_path",
    "plain_encoding_options",
    "write_atomic",
    "write_table",
]


def local_path(path: str) -> Path | None:
    """The local filesystem path of ``path``, or None for another file system."""
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        raw = parsed.path if parsed.scheme == "file" else path
        return Path(raw).expanduser().resolve()
    return None


def plain_encoding_options(
    schema: T.StructType, columns: Sequence[str], file_format: str | None
) -> dict[str, str]:
    """Parquet writer options that skip dictionary encoding for interpolated columns.

    Parameters
    ----------
    schema : StructType
        The output's schema.
    columns : sequence of str
        The feature columns SMOTE interpolates.
    file_format : str or None
        The output format; other formats, and None (a catalog table's default
        format), get no option.

    Returns
    -------
    dict
        ``{"parquet.enable.dictionary#<column>": "false"}`` for each of ``columns``
        of type float or double.

    Notes
    -----
    Interpolated values are nearly all distinct, so Parquet's writer fills a
    dictionary for the first megabyte of every such column chunk and then abandons it:
    work for nothing. Written plain, the files hold the same values at the same size
    (751 MB either way for the 2.88M benchmark's output), and sooner.
    Label, id and other columns keep the default encoding.

    """
    if (file_format or "").lower() != "parquet":
        return {}
    types = {f.name: f.dataType for f in schema.fields}
    return {
        f"parquet.enable.dictionary#{name}": "false"
        for name in columns
        if isinstance(types.get(name), T.DoubleType | T.FloatType)
    }


def _normalised(path: str) -> str:
    return path.rstrip("/")


def check_paths(input_path: str | None, output_path: str, mode: str) -> None:
    """Refuse an output that overlaps the input, lies under a file, or exists already.

    An existing output is accepted only with ``mode='overwrite'``. ``input_path`` None:
    the input is a table (nothing to overlap).

    Raises
    ------
    OutputPathError
        Naming both paths and what to do instead.

    """
    target = local_path(output_path)
    source = local_path(input_path) if input_path is not None else None
    if input_path is None:
        exists = target is not None and target.exists()
    elif source is not None and target is not None:
        if target == source or source in target.parents:
            raise OutputPathError(
                f"--output {output_path!r} is the input path or inside it ({input_path!r}); "
                "writing there would mix results into (or destroy) the input. Choose an "
                "output path outside the input."
            )
        if target in source.parents:
            raise OutputPathError(
                f"--output {output_path!r} contains the input {input_path!r}; overwriting it "
                "would delete the input. Choose an output path that does not contain it."
            )
        blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise OutputPathError(
                f"--output {output_path!r}: {str(blocking)!r} is a file, so no folder can be "
                "created under it. Choose an output path whose parents are folders."
            )
        exists = target.exists()
    else:
        a, b = _normalised(input_path), _normalised(output_path)
        if a == b or b.startswith(a + "/") or a.startswith(b + "/"):
            raise OutputPathError(
                f"--output {output_path!r} overlaps the input {input_path!r}. Choose a "
                "separate output path."
            )
        exists = False
    if exists and mode != "overwrite":
        raise OutputPathError(
            f"--output {output_path!r} already exists. Pass --mode overwrite to replace it "
            "(it is kept until the new output is complete) or choose another path."
        )


def _writer(
    df: DataFrame,
    mode: str,
    file_format: str | None,
    partition_by: Sequence[str],
    options: Mapping[str, str] | None,
) -> DataFrameWriter:
    """``df.write`` with its save mode, format (None: the default), options and partitioning."""
    writer = df.write.mode("overwrite" if mode == "overwrite" else "error")
    writer = writer.options(**dict(options or {}))
    if file_format is not None:
        writer = writer.format(file_format)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    return writer


def write_atomic(
    df: DataFrame,
    output_path: str,
    mode: str,
    file_format: str = "parquet",
    *,
    partition_by: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
    before_publish: Callable[[Path], None] | None = None,
) -> None:
    """Write ``df`` so the destination shows either the complete new output or nothing new.

    Parameters
    ----------
    df : DataFrame
        What to write.
    output_path : str
        Destination folder.
    mode : {'error', 'overwrite'}
        What to do when the destination exists.
    file_format : str, default 'parquet'
        Spark data source name.
    partition_by : sequence of str, default ()
        Columns to partition the output folders by (``DataFrameWriter.partitionBy``).
    options : mapping, optional
        Writer options (``DataFrameWriter.options``), e.g. from
        :func:`plain_encoding_options`.
    before_publish : callable, optional
        Called with the local staging folder once Spark has finished and before it is
        renamed into place (e.g. to add a run report that appears with the data). Not
        called for non-local outputs.

    """
    df = inject(df, "write")
    target = local_path(output_path)
    if target is None:
        _writer(df, mode, file_format, partition_by, options).save(output_path)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = target.parent / f".{target.name}.spark-smote-{token}.tmp"
    try:
        _writer(df, "error", file_format, partition_by, options).save(str(staging))
        if before_publish is not None:
            before_publish(staging)
        if target.exists():
            if mode != "overwrite":
                raise OutputPathError(
                    f"--output {output_path!r} appeared while the job ran; the result is left "
                    f"in {str(staging)!r}. Move it yourself or rerun with --mode overwrite."
                )
            retired = target.parent / f".{target.name}.spark-smote-{token}.old"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    except OutputPathError:
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_table(
    df: DataFrame,
    table: str,
    mode: str,
    file_format: str | None = None,
    *,
    partition_by: Sequence[str] = (),
    options: Mapping[str, str] | None = None,
) -> None:
    """Write ``df`` as the catalog table ``table`` (``DataFrameWriter.saveAsTable``).

    Atomicity is the catalog's and the table format's: Delta and Iceberg tables commit
    a write as one transaction; a Hive/file-source table written by Spark is committed
    at job end by Spark's output committer. ``mode='error'`` refuses an existing table.
    ``options`` are writer options, as for :func:`write_atomic`.
    """
    df = inject(df, "write")
    _writer(df, mode, file_format, partition_by, options).saveAsTable(table)


# Text formats that hold only flat columns (no vectors, arrays, structs or maps).
FLAT_FORMATS = ("csv", "text")


def check_format(schema: T.StructType, file_format: str, partition_by: Sequence[str]) -> None:
    """Refuse a format that cannot hold the schema, or unknown partition columns.

    Raises
    ------
    OutputPathError
        Naming the format, the columns at fault and what to do instead.

    """
    names = [f.name for f in schema.fields]
    missing = [name for name in partition_by if name not in names]
    if missing:
        raise OutputPathError(
            f"--partition-by {','.join(partition_by)!r}: no such column(s) {missing} in the "
            f"output. Present columns: {names}."
        )
    if file_format.lower() in FLAT_FORMATS:
        nested = [
            f"{f.name} ({f.dataType.simpleString()})"
            for f in schema.fields
            if isinstance(f.dataType, T.ArrayType | T.MapType | T.StructType | T.UserDefinedType)
        ]
        if nested:
            raise OutputPathError(
                f"--format {file_format!r} cannot hold vector, array, struct or map columns, "
                f"but the output has {nested}. Use --format parquet, orc or json, or pass "
                "the features as separate numeric columns."
            )

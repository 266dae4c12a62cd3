"""Command line: where the job reads its input and how it writes its output.

The source options of ``spark-smote`` (and ``jobs/smote_job.py``): ``--input PATH`` or
``--input-table NAME``, ``--input-format`` (any Spark data source: parquet, csv, json,
orc, delta...), repeatable ``--input-option key=value`` and ``--output-option
key=value``. Everything here that can be checked without Spark is checked before the
session starts; reading the input is the job's first Spark step, and a source Spark
cannot open is reported in one line naming the option. Used by :mod:`spark_smote.cli`
only; the library itself takes any DataFrame.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from spark_smote._errors import InvalidParameterError
from spark_smote._output import local_path

__all__ = [
    "DEFAULT_INPUT_FORMAT",
    "add_input_arguments",
    "add_output_option_argument",
    "check_input_arguments",
    "describe_input",
    "parse_key_values",
    "read_input",
]

DEFAULT_INPUT_FORMAT = "parquet"


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--input``/``--input-table``, ``--input-format`` and ``--input-option``."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", help="input path (file or folder); Parquet unless --input-format says"
    )
    source.add_argument(
        "--input-table", help="read a catalog table instead of a path, e.g. main.db.train"
    )
    parser.add_argument(
        "--input-format",
        help="Spark data source of --input: parquet (default), csv, json, orc, delta, ...",
    )
    parser.add_argument(
        "--input-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option of the input source, repeatable: --input-option header=true "
        "--input-option inferSchema=true",
    )


def add_output_option_argument(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--output-option``."""
    parser.add_argument(
        "--output-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option of the output writer, repeatable, e.g. --output-option header=true "
        "for CSV or --output-option compression=zstd",
    )


def parse_key_values(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``["header=true", ...]`` as a dict; a pair without ``=`` or a key names ``flag``.

    Raises
    ------
    InvalidParameterError
        A pair that is not ``key=value`` with a non-empty key.

    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise InvalidParameterError(
                f"{flag} {pair!r}: expected key=value, e.g. {flag} header=true."
            )
        options[key.strip()] = value
    return options


def check_input_arguments(args: argparse.Namespace) -> dict[str, str]:
    """Check the input options without Spark; return the parsed ``--input-option``.

    Raises
    ------
    InvalidParameterError
        ``--input-format`` with ``--input-table``, a malformed format or option, or a
        local ``--input`` path that does not exist.

    """
    options = parse_key_values(args.input_option, "--input-option")
    if args.input_format is not None:
        if args.input_table is not None:
            raise InvalidParameterError(
                f"--input-format {args.input_format!r}: a table is read in its own format; "
                "drop --input-format, or read a path with --input."
            )
        if not args.input_format.strip() or any(c.isspace() for c in args.input_format):
            raise InvalidParameterError(
                f"--input-format {args.input_format!r}: not a data source name. Use one such "
                "as parquet, csv, json, orc or delta."
            )
    if args.input is not None:
        source = local_path(args.input)
        if source is not None and not source.exists():
            raise InvalidParameterError(
                f"--input {args.input!r}: no such file or folder. Pass an existing path "
                "(a file or a folder of files)."
            )
    return options


def describe_input(args: argparse.Namespace) -> str:
    """The input as one phrase for messages: ``table t`` or ``csv path p``."""
    if args.input_table is not None:
        return f"table {args.input_table}"
    return f"{args.input_format or DEFAULT_INPUT_FORMAT} {args.input}"


def read_input(spark: Any, args: argparse.Namespace, options: dict[str, str]) -> tuple[Any, Any]:
    """Open the input (path or table) and read its schema.

    Returns
    -------
    (DataFrame, StructType)

    Raises
    ------
    InvalidParameterError
        Spark cannot open the input: the message names the option and Spark's reason in
        one line.

    """
    reader = spark.read.options(**options)
    try:
        if args.input_table is not None:
            df = reader.table(args.input_table)
        else:
            df = reader.format(args.input_format or DEFAULT_INPUT_FORMAT).load(args.input)
        schema = df.schema  # analysis: a missing source or table fails here
    except Exception as error:  # any failure to open the input: the JVM's, py4j's or gRPC's
        reason = _first_line(error)
        if args.input_table is not None:
            raise InvalidParameterError(
                f"--input-table {args.input_table!r}: cannot be read ({reason}). Check the "
                "table name (catalog.schema.table) and your access to it."
            ) from None
        if args.input_format is None:
            raise InvalidParameterError(
                f"--input {args.input!r}: cannot be read as Parquet ({reason}). Pass a "
                "Parquet file or folder, or name the data's format with --input-format "
                "(csv, json, orc, delta, ...)."
            ) from None
        raise InvalidParameterError(
            f"--input {args.input!r} (--input-format {args.input_format}): cannot be read "
            f"({reason}). Check the path, --input-format and --input-option (e.g. "
            "header=true for CSV)."
        ) from None
    return df, schema


def _first_line(error: BaseException) -> str:
    """The first line of a Spark error's message (py4j, Connect or Python)."""
    java_exception = getattr(error, "java_exception", None)  # py4j's Py4JJavaError
    text = str(java_exception.getMessage() if java_exception is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__

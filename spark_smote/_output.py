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
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame

from spark_smote._errors import OutputPathError
from spark_smote._faults import inject

__all__ = ["check_paths", "local_path", "write_atomic"]


def local_path(path: str) -> Path | None:
    """The local filesystem path of ``path``, or None for another file system."""
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        raw = parsed.path if parsed.scheme == "file" else path
        return Path(raw).expanduser().resolve()
    return None


def _normalised(path: str) -> str:
    return path.rstrip("/")


def check_paths(input_path: str, output_path: str, mode: str) -> None:
    """Refuse an output that overlaps the input or exists without ``mode='overwrite'``.

    Raises
    ------
    OutputPathError
        Naming both paths and what to do instead.

    """
    source, target = local_path(input_path), local_path(output_path)
    if source is not None and target is not None:
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


def write_atomic(df: DataFrame, output_path: str, mode: str, file_format: str = "parquet") -> None:
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

    """
    df = inject(df, "write")
    target = local_path(output_path)
    if target is None:
        df.write.mode("overwrite" if mode == "overwrite" else "error").format(file_format).save(
            output_path
        )
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    staging = target.parent / f".{target.name}.spark-smote-{token}.tmp"
    try:
        df.write.mode("error").format(file_format).save(str(staging))
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

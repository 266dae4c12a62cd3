"""Python worker start-up: the daemon of conf/*.toml and the package's lazy imports.

1. ``spark_smote._daemon`` drops from the path only the ``pyspark.zip`` bundled in the
   installed pyspark package, so the workers of the test session (conf/test.toml sets
   the daemon) import pyspark from the installed, compiled package.
2. ``import spark_smote`` imports nothing, and the modules whose UDFs run in the workers
   do not import pandas (0.2 s per worker otherwise), nor does the command line's
   driver (0.2 s of its start-up).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from spark_smote._daemon import bundled_pyspark_zips


def fake_install(root: Path) -> tuple[Path, Path]:
    """A site directory holding a pyspark package with its bundled zip."""
    site = root / "site"
    lib = site / "pyspark" / "python" / "lib"
    lib.mkdir(parents=True)
    (site / "pyspark" / "__init__.py").write_text("", encoding="utf-8")
    bundled = lib / "pyspark.zip"
    with zipfile.ZipFile(bundled, "w") as archive:
        archive.writestr("pyspark/__init__.py", "")
    return site, bundled


def test_only_the_zip_bundled_in_the_installed_pyspark_is_dropped(tmp_path: Path) -> None:
    site, bundled = fake_install(tmp_path)
    other = tmp_path / "spark-4.1" / "python" / "lib" / "pyspark.zip"
    other.parent.mkdir(parents=True)
    other.write_bytes(bundled.read_bytes())  # same content, another distribution
    py4j = tmp_path / "py4j-src.zip"
    assert bundled_pyspark_zips([str(bundled), str(py4j), str(site)]) == [str(bundled)]
    assert bundled_pyspark_zips([str(other), str(site)]) == []
    # No installed pyspark on the other entries: nothing to prefer, nothing dropped.
    assert bundled_pyspark_zips([str(bundled), str(tmp_path)]) == []
    assert bundled_pyspark_zips([str(site)]) == []


def test_workers_import_the_installed_pyspark(spark) -> None:  # type: ignore[no-untyped-def]
    import pyspark

    installed = Path(pyspark.__file__).resolve()
    if not (installed.parent / "python" / "lib" / "pyspark.zip").is_file():
        pytest.skip("pyspark is not a pip install with a bundled zip here")

    def where(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyspark as worker_pyspark

        for batch in batches:
            origin = [str(Path(worker_pyspark.__file__).resolve())] * batch.num_rows
            yield pa.RecordBatch.from_arrays([pa.array(origin)], names=["origin"])

    rows = spark.range(4).repartition(2).mapInArrow(where, "origin string").collect()
    assert {row["origin"] for row in rows} == {str(installed)}


def test_package_and_udf_modules_import_no_third_party_data_library() -> None:
    code = (
        "import sys\n"
        "import spark_smote\n"
        "assert not {'numpy', 'pyarrow', 'pandas', 'pyspark'} & set(sys.modules), sys.modules\n"
        "import spark_smote._search, spark_smote._synthesis\n"
        "import spark_smote._categorical, spark_smote._keys, spark_smote.cli\n"
        "assert 'pandas' not in sys.modules\n"
        "from spark_smote import SMOTE, InvalidInputError, neighbor_recall\n"
        "assert SMOTE.__module__ == 'spark_smote._smote'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""Python worker daemon that imports pyspark from its installed, compiled copy.

Spark starts the Python daemon, which forks the workers, with
``$SPARK_HOME/python/lib/pyspark.zip`` first on ``PYTHONPATH``. With a pip-installed
pyspark, ``SPARK_HOME`` is the installed package and the zip is a copy of it; but Python
keeps no compiled bytecode for modules imported from a zip, so every worker compiles
pyspark's worker modules afresh, several times slower than importing them from the
installed package. A session started with::

    spark.python.daemon.module = spark_smote._daemon

(``conf/local.toml`` and ``conf/test.toml`` set it; the setting exists for custom daemons,
SPARK-22959) runs this module instead of ``pyspark.daemon``. It removes from the path
only the zip bundled inside the very pyspark package this interpreter has installed, so
the code is the same and only where it is read from changes, then hands over to pyspark's
own daemon. A zip of a separate Spark distribution is left in place. Nothing but the
standard library is imported before pyspark's daemon forks: it requires that no thread
exists at the fork, and numpy or pyarrow may start threads on import. The package's
``__init__`` imports nothing either.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

__all__ = ["bundled_pyspark_zips", "main"]


def bundled_pyspark_zips(path: list[str]) -> list[str]:
    """The entries of ``path`` that are the zip bundled in the installed pyspark.

    Parameters
    ----------
    path : list of str
        A module search path (``sys.path``).

    Returns
    -------
    list of str
        The ``pyspark.zip`` entries that are the same file as
        ``<installed pyspark>/python/lib/pyspark.zip``, where the installed pyspark is the
        one found on the path's other (non-zip) entries; empty when there is none.

    """
    zips = [entry for entry in path if os.path.basename(entry) == "pyspark.zip"]
    if not zips:
        return []
    directories = [entry for entry in path if not entry.endswith(".zip")]
    spec = importlib.machinery.PathFinder.find_spec("pyspark", directories)
    if spec is None or spec.origin is None:
        return []
    bundled = os.path.join(os.path.dirname(spec.origin), "python", "lib", "pyspark.zip")
    if not os.path.isfile(bundled):
        return []
    return [entry for entry in zips if os.path.isfile(entry) and os.path.samefile(entry, bundled)]


def main() -> None:
    """Drop the bundled zip from ``sys.path`` and run pyspark's daemon (never returns).

    With ``python-daemon`` listed in ``SPARK_SMOTE_DISABLE`` (see
    :mod:`spark_smote._plan`) the path is left as it is: pyspark's own daemon, as
    without the setting, for measuring what this module buys.
    """
    listed = {part.strip() for part in os.environ.get("SPARK_SMOTE_DISABLE", "").split(",")}
    if "python-daemon" not in listed:
        for entry in bundled_pyspark_zips(sys.path):
            sys.path.remove(entry)
    from pyspark import daemon

    daemon.manager()


if __name__ == "__main__":
    main()

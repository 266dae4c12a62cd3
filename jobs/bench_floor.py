"""The benchmark's floor: the cheapest Spark job that writes what an oversampler writes.

    python jobs/bench_floor.py INPUT OUTPUT [--kind noise|copies] [--master local[2]]

Run by jobs/benchmark.py in its own process, timed from process start (session start
included, as for the ``spark-smote`` command it is compared with). It builds its session
from conf/local.toml exactly as ``spark-smote`` does, reads the input, counts the rows of
each class, grows every class to the majority's count (the ``auto`` strategy) and writes
Parquet with the writer options spark_smote uses (dictionary encoding off for the
floating-point features). Two kinds:

``noise`` (the headline floor, ``floor`` in the results): a smoothed bootstrap. For each
class to grow, ``sample(withReplacement=True, fraction=n_new / n_c, seed)`` of its rows,
Gaussian noise (``F.randn``) added to every feature, the result unioned with the input.
The added rows are new values with full-precision mantissas, as SMOTE's interpolated rows
are, so Parquet cannot compress them away and the floor writes as many bytes as a
resampler does. Sampling with replacement is Poisson draws per row, so each class gets
about n_new rows, not exactly n_new (within a fraction of a percent at benchmark sizes):
close enough for a floor, which measures cost, not counts.

``copies`` (``floor_copies``, for context): each row of a class to grow repeated in a row
(plus the class's first rows once more), exact counts, no search, no randomness. The
copies sit side by side and Parquet compresses them away, so it writes fewer bytes than
any resampler does (the results' "written" column): a floor below the floor.

Neither is an algorithm of the library, and neither is seeded in the library's sense
(``F.randn`` and ``sample`` depend on partitioning): the floor is a yardstick only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 1
# Standard deviation of the floor's noise, in feature units. Its value changes nothing
# of the cost (any non-zero noise fills the mantissas); 0.1 keeps the rows near their
# class on the benchmark data, whose features vary by about 1.
NOISE_STD = 0.1


def _grown_rows(df: Any, label_col: str, label: Any, n_rows: int, n_new: int, kind: str) -> Any:
    """The rows added to one class: a noisy bootstrap sample or plain copies."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    rows = df.where(F.col(label_col) == F.lit(label))
    if kind == "copies":
        copies, remainder = divmod(n_new, n_rows)
        parts = []
        if copies:
            repeated = rows.withColumn("_copy", F.explode(F.sequence(F.lit(1), F.lit(copies))))
            parts.append(repeated.drop("_copy"))
        if remainder:
            parts.append(rows.limit(remainder))
        out = parts[0]
        for part in parts[1:]:
            out = out.unionByName(part)
        return out
    sample = rows.sample(withReplacement=True, fraction=n_new / n_rows, seed=SEED)
    noisy = []
    for position, field in enumerate(df.schema.fields):
        column = F.col(field.name)
        if field.name != label_col and isinstance(field.dataType, T.NumericType):
            # One generator per column: the same seed would add the same draw to each.
            noise = F.randn(SEED + 1 + position) * F.lit(NOISE_STD)
            column = (column + noise).cast(field.dataType)
        noisy.append(column.alias(field.name))
    return sample.select(*noisy)


def run_floor(
    input_path: str, output_path: str, master: str, kind: str = "noise", label_col: str = "label"
) -> None:
    """Read, grow every class to the majority's count, write Parquet (see the module)."""
    from spark_smote._output import plain_encoding_options
    from spark_smote.cli import build_session, load_job_config

    spark = build_session(load_job_config(ROOT / "conf" / "local.toml"), master, None)
    df = spark.read.parquet(input_path)
    counts = {r[label_col]: r["count"] for r in df.groupBy(label_col).count().collect()}
    target = max(counts.values())
    out = df
    for label, n_rows in sorted(counts.items()):
        if n_rows < target:
            out = out.unionByName(_grown_rows(df, label_col, label, n_rows, target - n_rows, kind))
    features = [name for name in df.columns if name != label_col]
    options = plain_encoding_options(out.schema, features, "parquet")
    out.write.mode("overwrite").options(**options).parquet(output_path)
    spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--kind", choices=["noise", "copies"], default="noise")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--label-col", default="label")
    args = parser.parse_args()
    run_floor(args.input, args.output, args.master, args.kind, args.label_col)


if __name__ == "__main__":
    main()

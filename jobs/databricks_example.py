# Databricks notebook source
# MAGIC %md
# MAGIC # spark_smote on Databricks
# MAGIC
# MAGIC Balance a training set with SMOTE, using the notebook's `spark` session (classic,
# MAGIC shared or serverless compute). Install the wheel on the cluster or with
# MAGIC `%pip install spark-smote`. Run locally too: `python jobs/databricks_example.py`
# MAGIC creates a local session when there is no `spark`.

# COMMAND ----------

import time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

# Databricks notebooks define `spark` (and `display`); elsewhere a local session is made.
notebook_spark: SparkSession | None = globals().get("spark")
created_here = notebook_spark is None
spark: SparkSession = (
    notebook_spark
    if notebook_spark is not None
    else SparkSession.builder.master("local[2]")
    .appName("spark_smote-databricks-example")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.shuffle.partitions", "4")
    .getOrCreate()
)


def show(df: DataFrame) -> None:
    """``display`` in a notebook, ``show`` elsewhere."""
    notebook_display: Any = globals().get("display")
    if notebook_display is not None:
        notebook_display(df)
    else:
        df.show(truncate=False)


# COMMAND ----------

# MAGIC %md
# MAGIC ## An imbalanced table
# MAGIC Replace this cell with `spark.table("catalog.schema.train")`.

# COMMAND ----------

rows = spark.range(0, 400).select(
    F.col("id"),
    (F.col("id") % 17).cast("double").alias("amount"),
    (F.col("id") % 13 / 3).cast("double").alias("age"),
    F.when(F.col("id") % 3 == 0, "web").otherwise("store").alias("channel"),
    F.when(F.col("id") % 10 == 1, 1).otherwise(0).alias("is_fraud"),
)
show(rows.groupBy("is_fraud").count().orderBy("is_fraud"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Split first, then resample the training part only
# MAGIC The test set keeps the real class balance: never resample data you evaluate on.

# COMMAND ----------

train = rows.where(F.col("id") % 5 != 0)
test = rows.where(F.col("id") % 5 == 0)

from spark_smote import SMOTE  # noqa: E402

sampler = SMOTE(
    labelCol="is_fraud",
    features=["amount", "age"],
    categorical=["channel"],
    id_col="id",
    synthetic_col="is_synthetic",
    seed=7,
    k_neighbors=3,
)
started = time.monotonic()
balanced = sampler.fit_resample(train)
counts = {r["is_fraud"]: r["count"] for r in balanced.groupBy("is_fraud").count().collect()}
print(f"balanced training set: {counts} in {time.monotonic() - started:.1f} s")
report = sampler.report_
assert report is not None  # set by fit_resample
print(f"seed {report.seed}, neighbours: {report.neighbor_method}")
show(balanced.where("is_synthetic").limit(5))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Keep the configuration with the training code
# MAGIC On Databricks, write to a Volume or workspace file, e.g. `/Volumes/main/ml/cfg/smote.json`.

# COMMAND ----------

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

config_path = Path(tempfile.mkdtemp()) / "smote.json"
sampler.save(config_path)
assert SMOTE.load(config_path).get_params() == sampler.get_params()
print(f"saved configuration to {config_path}; test rows kept as they are: {test.count()}")

# COMMAND ----------

if created_here:
    spark.stop()

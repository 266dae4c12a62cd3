# Databricks notebook source
# MAGIC %md
# MAGIC # spark_smote on Databricks: train and tune with resampling inside the fit
# MAGIC
# MAGIC Reads a table, holds out an untouched test split, tunes a logistic regression
# MAGIC whose training folds are balanced with SMOTE (`ResampledEstimator`), and compares it
# MAGIC on the test split with the same model trained without resampling. Uses the
# MAGIC notebook's `spark` session (classic, shared or serverless compute). Install the
# MAGIC wheel on the cluster or with `%pip install spark-smote`.
# MAGIC
# MAGIC Locally, `python jobs/databricks_example.py` creates a session with a temporary
# MAGIC warehouse, saves the bundled example data set as a table there, and removes the
# MAGIC temporary folder at the end.

# COMMAND ----------

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

# On Databricks: your table (label column `diagnosis`, an `id` column, numeric features)
# and where to keep the fitted model (a Unity Catalog Volume).
TABLE = "main.default.wdbc"
MODEL_PATH = "/Volumes/main/default/models/wdbc_resampled_lr"
SEED = 7

# Databricks notebooks define `spark` (and `display`); elsewhere a local session is made
# over a temporary folder (warehouse and saved model), removed when the script ends.
notebook_spark: SparkSession | None = globals().get("spark")
created_here = notebook_spark is None
if notebook_spark is not None:
    spark: SparkSession = notebook_spark
else:
    workdir = Path(tempfile.mkdtemp(prefix="spark_smote_example_"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)  # also after a failure
    print(f"temporary folder: {workdir}")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("spark_smote-databricks-example")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.warehouse.dir", str(workdir / "warehouse"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    # The bundled example (UCI breast cancer data) as a table, malignant cases thinned to
    # one in three so that the classes are imbalanced (357 benign, about 70 malignant).
    bundled = Path(__file__).resolve().parent / "data" / "wdbc.parquet"
    TABLE = "spark_smote_example.wdbc"
    MODEL_PATH = str(workdir / "model")
    spark.sql("CREATE DATABASE IF NOT EXISTS spark_smote_example")
    spark.read.parquet(str(bundled)).where(
        (F.col("diagnosis") == "benign") | (F.pmod(F.xxhash64("id"), F.lit(3)) == 0)
    ).write.mode("overwrite").saveAsTable(TABLE)


def show(df: DataFrame) -> None:
    """``display`` in a notebook, ``show`` elsewhere."""
    notebook_display: Any = globals().get("display")
    if notebook_display is not None:
        notebook_display(df)
    else:
        df.show(truncate=False)


# COMMAND ----------

# MAGIC %md
# MAGIC ## Read the table; hold out a test split that nothing resamples
# MAGIC The split is a hash of the id, so it is the same on every run. Spark ML takes the
# MAGIC label as a double and the features as one vector column.

# COMMAND ----------

from pyspark.ml.feature import VectorAssembler  # noqa: E402

table = spark.table(TABLE)
feature_columns = [c for c, kind in table.dtypes if kind == "double"]
data = (
    VectorAssembler(inputCols=feature_columns, outputCol="features")
    .transform(table.withColumn("label", (F.col("diagnosis") == "malignant").cast("double")))
    .select("id", "features", "label")
)
is_test = F.pmod(F.xxhash64("id"), F.lit(4)) == 0
train, test = data.where(~is_test), data.where(is_test)
show(train.groupBy("label").count().orderBy("label"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Tune with SMOTE inside each training fold
# MAGIC `ResampledEstimator` resamples only the data it is fitted on: every fold of the
# MAGIC cross-validation balances its own training part and is scored on its validation
# MAGIC part as it is. The grid covers the sampler and the inner model's own parameters.

# COMMAND ----------

from pyspark.ml.classification import LogisticRegression  # noqa: E402
from pyspark.ml.evaluation import BinaryClassificationEvaluator  # noqa: E402
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder  # noqa: E402

from spark_smote import SMOTE, ResampledEstimator, ResampledModel  # noqa: E402

pr_auc = BinaryClassificationEvaluator(metricName="areaUnderPR")
lr = LogisticRegression(maxIter=50, standardization=True)
resampled = ResampledEstimator(
    estimator=lr, sampler=SMOTE(id_col="id", synthetic_col="is_synthetic", seed=SEED)
)
grid = (
    ParamGridBuilder()
    .addGrid(resampled.sampler, [SMOTE(k_neighbors=k, id_col="id", seed=SEED) for k in (3, 5)])
    .addGrid(lr.regParam, [0.01, 0.1])
    .build()
)
tuned = CrossValidator(
    estimator=resampled, estimatorParamMaps=grid, evaluator=pr_auc, numFolds=2, seed=SEED
).fit(train)
best = cast(ResampledModel, tuned.bestModel)
print(
    f"best: k_neighbors={best.getSampler().get_params()['k_neighbors']}, "
    f"regParam={best.model.getRegParam()}; trained on {best.resample_report.class_counts_after}"
)

# The same model trained without resampling, tuned over the same regParam values.
plain_grid = ParamGridBuilder().addGrid(lr.regParam, [0.01, 0.1]).build()
plain = CrossValidator(
    estimator=lr, estimatorParamMaps=plain_grid, evaluator=pr_auc, numFolds=2, seed=SEED
).fit(train)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Compare on the untouched test split
# MAGIC Whether resampling helps depends on the data and the model: measure it, as here,
# MAGIC on rows no sampler has touched.

# COMMAND ----------

roc_auc = BinaryClassificationEvaluator(metricName="areaUnderROC")
results = {
    name: (pr_auc.evaluate(model.transform(test)), roc_auc.evaluate(model.transform(test)))
    for name, model in (("with SMOTE", best), ("without resampling", plain.bestModel))
}
print(f"test split: {test.count()} rows, as they are")
for name, (pr, roc) in results.items():
    print(f"{name:>20}: areaUnderPR {pr:.4f}  areaUnderROC {roc:.4f}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Keep the fitted model
# MAGIC A `ResampledModel` saves and loads with Spark ML's writers (alone, in a
# MAGIC `PipelineModel` or in a `CrossValidatorModel`) and scores as it did.

# COMMAND ----------

best.write().overwrite().save(MODEL_PATH)
reloaded = ResampledModel.load(MODEL_PATH)
assert pr_auc.evaluate(reloaded.transform(test)) == results["with SMOTE"][0]
print(f"saved the model to {MODEL_PATH}; it scores the test split as before")

# COMMAND ----------

if created_here:
    spark.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"removed {workdir}")

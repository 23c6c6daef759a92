"""A PySpark backend for the feature builder, for histories that outgrow one machine.

The feature definitions are Ibis expressions, so the same code runs on DuckDB and on Spark; this
module only produces the Ibis connection. ``pyspark`` (and a Java runtime, ≥ 17) is needed only
when ``features.engine`` is ``spark``: it is imported here, lazily, never by the DuckDB path.

In production a Spark session usually exists already (a cluster notebook, ``spark-submit``): it is
reused as it is, whatever its master, and ``SparkConfig.master`` / ``app_name`` are ignored for it.
Without one, a session is built from ``SparkConfig``.
"""

from __future__ import annotations

import os
import shutil
import sys
from types import ModuleType
from typing import TYPE_CHECKING

import ibis

from core.config import SparkConfig
from core.logging import first_line, get_logger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_log = get_logger(__name__)

SESSION_TIME_ZONE = "UTC"
"""Raw timestamps are naive UTC (the data contract) and cutoffs are 00:00 UTC: Spark must agree."""

DEFAULT_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": SESSION_TIME_ZONE,
    "spark.ui.showConsoleProgress": "false",
}
"""Applied to a new session before ``SparkConfig.conf``, which may override them (unlike
:data:`REQUIRED_CONF`)."""

REQUIRED_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": SESSION_TIME_ZONE,
    "spark.sql.ansi.enabled": "true",
}
"""Settings no ``SparkConfig.conf`` may change. Without ANSI mode Spark casts a value it cannot
read (``15/06/2024`` as a timestamp, ``abc`` as an amount) to NULL without a word, so bad rows
would quietly become missing values; with it the cast fails and the stage exits 1 saying which
value (:func:`unreadable_value`), as it does on DuckDB."""

DATA_EXCEPTION_SQLSTATE_CLASS = "22"
"""SQL's class of data exceptions: invalid casts (22018), overflow (22003), bad dates (22007)."""


class SparkUnavailableError(RuntimeError):
    """``features.engine`` is ``spark`` but PySpark or its Java runtime is missing."""


def connect_spark(config: SparkConfig) -> ibis.BaseBackend:
    """An Ibis PySpark backend on the active Spark session, or on a new one built from ``config``.

    The session time zone is always UTC: a timestamp compared with a cutoff must mean the same
    instant on every engine, otherwise a row an hour before a cutoff could count as after it.
    ANSI mode is always on, so a value the contract type cannot hold fails instead of turning NULL.
    """
    session = _active_session()
    if session is None:
        session = build_session(config)
    else:
        _apply_runtime_conf(session, config.conf)
    return ibis.pyspark.connect(session)


def build_session(config: SparkConfig) -> SparkSession:
    """A new session on ``config.master`` with :data:`DEFAULT_CONF` then ``config.conf`` applied."""
    spark_sql = _import_pyspark_sql()
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailableError(
            "features.engine is 'spark' but no Java runtime was found (java not on PATH, "
            "JAVA_HOME unset); Spark needs Java >= 17: `make setup` installs it on Debian"
        )
    builder = spark_sql.SparkSession.builder.master(config.master).appName(config.app_name)
    for key, value in {**DEFAULT_CONF, **config.conf, **REQUIRED_CONF}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def unreadable_value(error: BaseException) -> bool:
    """Whether ``error`` is Spark failing on a raw value (an SQL data exception), not on the plan
    or the cluster. Never imports PySpark: on the DuckDB path it is not loaded and this is False.
    """
    errors = sys.modules.get("pyspark.errors")
    if errors is None or not isinstance(error, errors.PySparkException):
        return False
    sql_state = error.getSqlState() or ""
    return sql_state.startswith(DATA_EXCEPTION_SQLSTATE_CLASS)


def _active_session() -> SparkSession | None:
    return _import_pyspark_sql().SparkSession.getActiveSession()


def _apply_runtime_conf(session: SparkSession, conf: dict[str, str]) -> None:
    """Set ``conf`` on a running session; static settings (memory, master) cannot change: warn."""
    for key, value in {**conf, **REQUIRED_CONF}.items():
        try:
            session.conf.set(key, value)
        except Exception as error:  # Spark raises AnalysisException, or Py4J errors on old versions
            _log.warning(
                "spark setting ignored on the existing session",
                key=key,
                value=value,
                reason=first_line(error),
            )


def _import_pyspark_sql() -> ModuleType:
    try:
        import pyspark.sql as spark_sql
    except ImportError as error:
        raise SparkUnavailableError(
            "features.engine is 'spark' but pyspark is not installed; install the project "
            "(pip install -e .) or set features.engine: duckdb in params.yaml"
        ) from error
    return spark_sql

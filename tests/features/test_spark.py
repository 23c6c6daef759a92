from __future__ import annotations

import ibis
import pytest
from structlog.testing import capture_logs

from core.config import SparkConfig
from features import spark
from features.spark import SparkUnavailableError, build_session, connect_spark


@pytest.mark.spark
def test_a_new_session_gets_the_configured_master_name_settings_and_utc(
    spark_backend: ibis.BaseBackend,
) -> None:
    session = spark_backend._session
    assert spark_backend.name == "pyspark"
    assert session.sparkContext.master == "local[2]"
    assert session.sparkContext.appName == "churn-tests"
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert session.conf.get("spark.sql.shuffle.partitions") == "2"
    assert session.sparkContext.getConf().get("spark.ui.enabled") == "false"


@pytest.mark.spark
def test_an_existing_session_is_reused_with_runtime_settings_applied(
    spark_backend: ibis.BaseBackend,
) -> None:
    session = spark_backend._session
    config = SparkConfig(
        master="local[1]",
        app_name="someone-else",
        conf={"spark.sql.shuffle.partitions": "3", "spark.driver.memory": "9g"},
    )
    try:
        with capture_logs() as logs:
            backend = connect_spark(config)
        assert backend._session is session
        assert session.sparkContext.master == "local[2]"
        assert session.conf.get("spark.sql.shuffle.partitions") == "3"
        assert session.conf.get("spark.sql.session.timeZone") == "UTC"
        ignored = [log for log in logs if log["event"].startswith("spark setting ignored")]
        assert [log["key"] for log in ignored] == ["spark.driver.memory"]
    finally:
        session.conf.set("spark.sql.shuffle.partitions", "2")


@pytest.mark.spark
def test_the_session_time_zone_cannot_be_configured_away_from_utc(
    spark_backend: ibis.BaseBackend,
) -> None:
    session = spark_backend._session
    connect_spark(SparkConfig(conf={"spark.sql.session.timeZone": "Europe/Berlin"}))
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"


@pytest.mark.spark
def test_ansi_mode_cannot_be_configured_off(spark_backend: ibis.BaseBackend) -> None:
    """Without it Spark would read ``abc`` as a NULL amount and the build would go on."""
    session = spark_backend._session
    connect_spark(SparkConfig(conf={"spark.sql.ansi.enabled": "false"}))
    assert session.conf.get("spark.sql.ansi.enabled") == "true"


@pytest.mark.spark
def test_a_failed_cast_is_an_unreadable_value_and_a_bad_query_is_not(
    spark_backend: ibis.BaseBackend,
) -> None:
    session = spark_backend._session
    failures = []
    for query in (
        "SELECT CAST('abc' AS INT)",
        "SELECT CAST('15/06/2024' AS TIMESTAMP)",
        "SELECT no_such_column",
    ):
        with pytest.raises(Exception) as failed:
            session.sql(query).collect()
        failures.append(failed.value)
    assert [spark.unreadable_value(error) for error in failures] == [True, True, False]


def test_an_error_is_not_a_spark_value_error_without_spark_loaded() -> None:
    assert not spark.unreadable_value(ValueError("invalid literal for int()"))


def test_a_missing_java_is_named_before_spark_tries_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spark.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)

    with pytest.raises(SparkUnavailableError, match=r"Java >= 17.*make setup"):
        build_session(SparkConfig())

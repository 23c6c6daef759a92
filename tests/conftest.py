"""Fixtures shared across test packages."""

from __future__ import annotations

from collections.abc import Iterator

from core.numerics import pin_numerics

# Before anything below loads NumPy: tests compute with the kernels the `churn` command uses.
pin_numerics()

import ibis  # noqa: E402
import pytest  # noqa: E402

from core.config import FeaturesConfig, SparkConfig  # noqa: E402
from core.logging import configure_logging  # noqa: E402

SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "2g",
    # Adaptive re-planning costs more than it saves on test-sized data. With whole-stage code
    # generation off and a 1g driver, hash aggregates failed with UNABLE_TO_ACQUIRE_MEMORY in a
    # fresh-clone CI run; codegen on and 2g pass.
    "spark.sql.adaptive.enabled": "false",
}
"""Small and quiet: two cores, no web UI, partitions sized for test data, modest memory."""


@pytest.fixture(scope="session")
def spark_backend() -> Iterator[ibis.BaseBackend]:
    """One local Spark (``local[2]``) for the whole run, through ``features.engine.connect``.

    Starting a JVM takes seconds, so every Spark test shares it; it stops at the end of the run.
    """
    from features.engine import connect

    config = FeaturesConfig(
        engine="spark",
        spark=SparkConfig(master="local[2]", app_name="churn-tests", conf=SPARK_TEST_CONF),
    )
    backend = connect(config)
    backend._session.sparkContext.setLogLevel("ERROR")
    yield backend
    backend.disconnect()


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Log at INFO for one test (to assert on a log line), then back to the quiet default."""
    configure_logging("INFO")
    yield
    configure_logging()

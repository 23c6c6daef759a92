"""One tiny world, built by the real batch stages, shared by every service test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import mlflow
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.config import Config
from models import tracking
from tests.serving.world import build_world

API_KEY = "crm-key-0b7e4f1d"
OTHER_KEY = "crm-key-second-55aa"
ADMIN_KEY = "admin-key-9c21e6"


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The config of a tiny world that went through generate … offers (tmp MLflow store)."""
    root = tmp_path_factory.mktemp("world")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        return build_world(root)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURN_API_KEYS", f"{API_KEY}, {OTHER_KEY}")
    monkeypatch.setenv("CHURN_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def app(world: Config, keys: None) -> FastAPI:
    from serving.app import create_app

    return create_app(world)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """In-process client with the lifespan running, once the service says it is ready."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        wait_ready(test_client)
        yield test_client


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout} s: {client.get('/ready').json()}")


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"X-API-Key": key}


# --- registry edits for the reload tests (always restored by the caller) -----------------------


def champion_version(config: Config) -> str:
    tracking.connect(config.mlflow)
    version = tracking.version_by_alias(config.mlflow.registered_model, config.serve.alias)
    assert version is not None
    return str(version.version)


def register_copy(config: Config, version: str) -> str:
    """A new registry version of the very same logged model (and run) as ``version``: what a
    retrain that changes nothing registers."""
    tracking.connect(config.mlflow)
    source = tracking.MlflowClient().get_model_version(config.mlflow.registered_model, version)
    return tracking.register(
        source.source, config.mlflow.registered_model, {"copy_of": str(source.version)}
    )


def register_incompatible(config: Config) -> str:
    """A version trained on columns the snapshot does not have: it loads, but cannot score."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    tracking.connect(config.mlflow)
    inputs = pd.DataFrame({"no_such_feature": np.arange(20, dtype=float)})
    model = LogisticRegression().fit(inputs, np.arange(20) % 2)
    experiment = mlflow.set_experiment(experiment_name="serving-tests")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=mlflow.models.infer_signature(inputs, model.predict_proba(inputs)),
            serialization_format=tracking.SERIALIZATION,
            pip_requirements=tracking.pip_requirements(),
        )
    return tracking.register(info.model_uri, config.mlflow.registered_model, {"broken": "yes"})


def set_champion(config: Config, version: str) -> None:
    tracking.connect(config.mlflow)
    tracking.set_alias(config.mlflow.registered_model, config.serve.alias, version)

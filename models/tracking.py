"""Every MLflow call of the project: runs, nested candidate runs, the registry and its aliases.

The rest of ``models/`` is plain functions of DataFrames; this module is the edge where results
become MLflow runs and registered versions. The tracking URI comes from ``MLFLOW_TRACKING_URI``
when set (a team server), else from params (an SQLite file in the project by default).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: DVC stages and CI have no display

import cloudpickle
import matplotlib.pyplot as plt
import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from core.config import EconomicsConfig, MlflowConfig
from models import curves

# cloudpickle: the pipelines hold XGBoost boosters, which skops cannot load without listing
# trusted types by hand. Models are only ever loaded from this project's own registry.
SERIALIZATION = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
MAX_PARAM_LENGTH = 500
PICKLE_WARNING = "Saving scikit-learn models in the pickle or cloudpickle format"


class _KnownPickleWarning(logging.Filter):
    """Drops MLflow's warning that a pickled model runs code when it is loaded. The format is
    chosen once, above, and the README says so; repeated for every model saved (seven per
    ``churn train``), the warning buried the stage's own output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(PICKLE_WARNING)


logging.getLogger("mlflow.sklearn").addFilter(_KnownPickleWarning())


def pip_requirements() -> list[str]:
    """The installed versions the models need, pinned: given explicitly, MLflow skips inferring
    them, which loads every model in a subprocess (tens of seconds per model)."""
    return [
        f"{name}=={metadata.version(name)}"
        for name in ("mlflow", "scikit-learn", "xgboost", "cloudpickle", "pandas", "numpy")
    ]


class TrackingError(RuntimeError):
    """The tracking server or registry refused an operation."""


@dataclass(frozen=True)
class LoggedCandidate:
    """Where a candidate's run and model landed."""

    name: str
    run_id: str
    model_uri: str


SQLITE_PREFIX = "sqlite:///"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
_uris_from_params: set[str] = set()
"""Params URIs this module handed to ``mlflow.set_tracking_uri``, which also writes each into
``MLFLOW_TRACKING_URI`` (and a test's monkeypatch may later restore an older one): finding one
of those in the environment is MLflow's echo, not the user's override."""


def tracking_uri(config: MlflowConfig) -> str:
    """``MLFLOW_TRACKING_URI`` if the user set it, else ``mlflow.tracking_uri`` from params.

    A relative SQLite path is made absolute against the working directory now: MLflow caches
    one database engine per URI string, so the same relative URI used from another folder in
    the same process (tests, notebooks) would otherwise keep writing to the first folder's file.
    """
    from_env = os.environ.get(TRACKING_URI_ENV)
    if from_env and from_env not in _uris_from_params:
        return from_env
    uri = config.tracking_uri
    if uri.startswith(SQLITE_PREFIX):
        path = Path(uri.removeprefix(SQLITE_PREFIX))
        if not path.is_absolute() and str(path) != ":memory:":
            uri = f"{SQLITE_PREFIX}{(store_folder() / path).resolve()}"
    _uris_from_params.add(uri)
    return uri


DVC_EXPERIMENT_COPIES = (".dvc", "tmp", "exps")
"""Where ``dvc exp run --temp`` and queued experiments copy the project to run it."""


def store_folder(cwd: Path | None = None) -> Path:
    """The folder a relative store path (``mlflow.db``, ``mlruns``) means: the working directory,
    or the project itself when a stage runs in a DVC experiment's copy of it. The copy is deleted
    after the run, and with it a store inside it: the gate would compare with a registry holding
    nothing, and the experiment's version numbers would name other models in the project's."""
    cwd = (cwd or Path.cwd()).resolve()
    parts, marker = cwd.parts, DVC_EXPERIMENT_COPIES
    for start in range(len(parts) - len(marker)):
        if parts[start : start + len(marker)] == marker:
            return Path(*parts[:start])
    return cwd


def configure(config: MlflowConfig) -> str:
    """Point MLflow at the tracking store and the experiment; return the experiment id.

    A new experiment stores artefacts under ``artifact_location`` (a local folder unless it is a
    URI); an existing one keeps its own.
    """
    uri = tracking_uri(config)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is not None:
        mlflow.set_experiment(experiment_id=experiment.experiment_id)
        return experiment.experiment_id
    location = config.artifact_location
    if "://" not in location:
        location = (store_folder() / location).resolve().as_uri()
    experiment_id = client.create_experiment(config.experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


@contextmanager
def parent_run(run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
    """One run per ``churn train``; candidate runs nest inside. Yields the run id."""
    with mlflow.start_run(run_name=run_name, tags=dict(tags)) as run:
        yield run.info.run_id


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` → ``{"a.b": "1"}``, values cut to MLflow's length limit.

    A list of mappings (``train.candidates``) is flattened per item, keyed by the item's
    ``name`` (else its position): as one string it was cut at the limit, and the later
    candidates' settings were lost from the run.
    """
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flat_params(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            items = {str(item.get("name", i)): item for i, item in enumerate(value)}
            flat |= flat_params(items, f"{name}.")
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params(flat_params(params))


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    mlflow.log_metrics(
        {f"{prefix}{k}": float(v) for k, v in metrics.items() if np.isfinite(float(v))}
    )


def log_json(payload: Any, artifact_file: str) -> None:
    mlflow.log_text(json.dumps(payload, indent=2, sort_keys=True, default=str), artifact_file)


def log_candidate(
    name: str,
    model: Any,
    params: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, float]],
    details: Mapping[str, Any],
    inputs: pd.DataFrame,
    labels: np.ndarray,
    economics: EconomicsConfig,
    input_example_rows: int = 5,
) -> LoggedCandidate:
    """A nested run for one candidate: params, metrics per split, details, plots and the model.

    The model is logged with a signature inferred from ``inputs`` (the test rows, as the model
    takes them) and its churn probabilities, and a few rows as input example; its pyfunc flavour
    returns probabilities (``predict_proba``), which is what scoring needs.
    """
    with mlflow.start_run(run_name=name, nested=True) as run:
        mlflow.set_tag("candidate", name)
        log_params(params)
        for split, values in metrics.items():
            log_metrics(values, prefix=f"{split}_")
        log_json(details, "details.json")
        probabilities = model.predict_proba(inputs)
        mlflow.log_figure(curve_figure(labels, probabilities[:, 1], economics), "plots/test.png")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(inputs, probabilities),
            input_example=inputs.head(input_example_rows),
            serialization_format=SERIALIZATION,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=pip_requirements(),
        )
        return LoggedCandidate(name=name, run_id=run.info.run_id, model_uri=info.model_uri)


def curve_figure(labels: np.ndarray, scores: np.ndarray, economics: EconomicsConfig) -> Any:
    """ROC, reliability, gains and profit curves of one model on one set of rows."""
    figure, axes = plt.subplots(2, 2, figsize=(10, 9))
    roc = curves.roc(labels, scores)
    axes[0, 0].plot(roc["fpr"], roc["tpr"])
    axes[0, 0].plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes[0, 0].set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")
    reliability = curves.reliability(labels, scores)
    axes[0, 1].plot(reliability["predicted"], reliability["observed"], marker="o")
    axes[0, 1].plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes[0, 1].set(title="Reliability", xlabel="predicted", ylabel="observed churn rate")
    gains = curves.gains(labels, scores)
    axes[1, 0].plot(gains["targeted_share"], gains["churners_found"])
    axes[1, 0].set(title="Cumulative gains", xlabel="share targeted", ylabel="churners found")
    profit = curves.profit(labels, scores, economics)
    axes[1, 1].plot(profit["targeted_share"], profit["profit_per_customer"])
    axes[1, 1].set(title="Profit", xlabel="share targeted", ylabel="profit per customer")
    figure.tight_layout()
    plt.close(figure)
    return figure


def register(model_uri: str, registered_model: str, tags: Mapping[str, str]) -> str:
    """A new version of ``registered_model`` from ``model_uri``; returns the version number."""
    try:
        version = mlflow.register_model(model_uri, registered_model, tags=dict(tags))
    except MlflowException as error:
        raise TrackingError(f"registering {model_uri} as {registered_model}: {error}") from None
    return str(version.version)


def version_by_alias(registered_model: str, alias: str) -> ModelVersion | None:
    """The version ``alias`` points at, or ``None`` when the model or alias does not exist."""
    try:
        return MlflowClient().get_model_version_by_alias(registered_model, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def set_alias(registered_model: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(registered_model, alias, version)


def load_model(registered_model: str, alias: str | None = None, version: str | None = None) -> Any:
    """The scikit-learn model behind ``models:/<name>@<alias>`` or ``models:/<name>/<version>``."""
    if (alias is None) == (version is None):
        raise ValueError("give exactly one of alias or version")
    suffix = f"@{alias}" if alias is not None else f"/{version}"
    return mlflow.sklearn.load_model(f"models:/{registered_model}{suffix}")


def save_model(model: Any, path: Path, inputs: pd.DataFrame, created: dt.datetime) -> None:
    """The model in MLflow's folder format outside the tracking store (a DVC output).

    MLflow stamps a saved model with a random uuid and the wall-clock time, so every run of an
    unchanged stage would give the DVC output new bytes and ``dvc.lock`` a new hash. Here the
    uuid is a digest of the pickled model and the time is ``created`` (the caller passes a time
    taken from the data): same model, same bytes. The run's real time is on its MLflow run.
    """
    digest = hashlib.sha256(cloudpickle.dumps(model)).hexdigest()[:32]
    mlflow.sklearn.save_model(
        model,
        path,
        mlflow_model=Model(model_uuid=digest, utc_time_created=created),
        signature=infer_signature(inputs, model.predict_proba(inputs)),
        serialization_format=SERIALIZATION,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=pip_requirements(),
    )


def load_saved_model(path: Path) -> Any:
    return mlflow.sklearn.load_model(str(path))


# --- read side for the scoring service (issue 7): connect without creating anything, describe a
# registered version --------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionCard:
    """What a served model answers to "what produced this score": its run, date, metrics, inputs.

    ``numeric`` and ``categorical`` are the model's input columns from its logged signature
    (``double`` vs ``string``), in the order the model takes them.
    """

    registered_model: str
    version: str
    run_id: str
    trained_at: str
    test_metrics: dict[str, float]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    candidate: str | None


def connect(config: MlflowConfig) -> str:
    """Point MLflow at the tracking store (read side: no experiment is created); return the URI."""
    uri = tracking_uri(config)
    mlflow.set_tracking_uri(uri)
    return uri


def version_card(registered_model: str, version: str) -> VersionCard:
    """The card of ``registered_model`` version ``version``: raises :class:`TrackingError` when the
    version, its run or its signature cannot be read."""
    client = MlflowClient()
    try:
        model_version = client.get_model_version(registered_model, version)
        run = client.get_run(model_version.run_id) if model_version.run_id else None
        info = mlflow.models.get_model_info(f"models:/{registered_model}/{version}")
    except (MlflowException, OSError) as error:
        raise TrackingError(f"reading {registered_model} v{version}: {error}") from None
    if info.signature is None or info.signature.inputs is None:
        raise TrackingError(f"{registered_model} v{version} has no input signature")
    inputs = info.signature.inputs.to_dict()
    # a version registered outside a run (by hand) has no run: its registration time stands in
    stamp = run.info.start_time if run is not None else model_version.creation_timestamp
    started = dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)
    metrics = run.data.metrics if run is not None else {}
    return VersionCard(
        registered_model=registered_model,
        version=str(version),
        run_id=model_version.run_id or "",
        trained_at=started.isoformat(timespec="seconds"),
        test_metrics={
            key.removeprefix("test_"): float(value)
            for key, value in sorted(metrics.items())
            if key.startswith("test_")
        },
        numeric=tuple(item["name"] for item in inputs if item["type"] != "string"),
        categorical=tuple(item["name"] for item in inputs if item["type"] == "string"),
        candidate=(model_version.tags or {}).get("candidate"),
    )


def require_store(config: MlflowConfig) -> str:
    """The tracking URI, after checking that a local SQLite store exists: opening one that does
    not creates an empty store, which then answers "no such version" (or, to the service, "no
    champion") about a store that was only moved or misnamed. Other stores are not checked."""
    uri = tracking_uri(config)
    if uri.startswith(SQLITE_PREFIX):
        path = Path(uri.removeprefix(SQLITE_PREFIX))
        if str(path) != ":memory:" and not path.is_file():
            raise TrackingError(
                f"no MLflow store at {path} (tracking URI {uri}): run `churn train` to create "
                f"one, restore the file, or set {TRACKING_URI_ENV} to the store in use"
            )
    return uri


def version_run_id(registered_model: str, version: str) -> str:
    """The id of the run that logged registered version ``version`` (e.g. the champion's)."""
    try:
        return str(MlflowClient().get_model_version(registered_model, version).run_id)
    except MlflowException as error:
        raise TrackingError(
            f"{registered_model} version {version} not found in the registry at "
            f"{mlflow.get_tracking_uri()}: {error}"
        ) from None


def replace_folder_on_run(run_id: str, folder: Path, artifact_path: str) -> None:
    """Make ``artifact_path`` of the finished run ``run_id`` hold exactly the files of ``folder``.

    Logging only adds files, so plots an earlier run wrote and this one no longer makes (fewer
    dependence plots, other features) would stay beside the new report. Stores whose artefact
    repository cannot delete keep them (MLflow's base repository ignores the request).
    """
    client = MlflowClient()
    artifact_uri = client.get_run(run_id).info.artifact_uri
    get_artifact_repository(artifact_uri).delete_artifacts(artifact_path)
    client.log_artifacts(run_id, str(folder), artifact_path)

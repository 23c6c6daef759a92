"""The served model: the registered version the alias points at, checked before it may serve.

Loading resolves the alias to a version number first and then loads that exact version, so the
card (version, run, metrics) and the model object can never describe two different versions even
if the alias moves during the load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from xgboost import XGBClassifier

from models import tracking
from models.candidates import FeatureColumns
from models.training import predict_churn

INFERENCE_THREADS = 1  # one thread per worker process: workers, not threads, scale the service


class ModelLoadError(RuntimeError):
    """The alias, the version or the model object is unusable; the previous model keeps serving."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded, checked registered version and the columns it takes."""

    card: tracking.VersionCard
    alias: str
    model: Any
    columns: FeatureColumns

    @property
    def version(self) -> str:
        return self.card.version

    def probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probability per row: the pipeline's own ``predict_churn`` on the same object."""
        return predict_churn(self.model, frame, self.columns)


def resolve_alias(registered_model: str, alias: str) -> str:
    """The version number ``alias`` points at now."""
    try:
        version = tracking.version_by_alias(registered_model, alias)
    except Exception as error:  # the store may be down or locked: report, do not crash the loop
        raise ModelLoadError(f"reading alias {registered_model}@{alias}: {error}") from None
    if version is None:
        raise ModelLoadError(f"{registered_model}@{alias} does not exist in the registry")
    return str(version.version)


def load_version(
    registered_model: str, alias: str, version: str, check_rows: pd.DataFrame | None
) -> ServedModel:
    """Load ``version``, pin it to one thread and check it scores ``check_rows`` (a few snapshot
    rows) to finite probabilities; raise :class:`ModelLoadError` otherwise."""
    try:
        card = tracking.version_card(registered_model, version)
        model = tracking.load_model(registered_model, version=version)
    except Exception as error:  # unpickling a bad artefact fails in many ways
        raise ModelLoadError(f"loading {registered_model} v{version}: {error}") from None
    single_threaded(model)
    served = ServedModel(
        card=card,
        alias=alias,
        model=model,
        columns=FeatureColumns(numeric=card.numeric, categorical=card.categorical),
    )
    if check_rows is not None and len(check_rows):
        try:
            probabilities = served.probabilities(check_rows)
        except Exception as error:
            raise ModelLoadError(
                f"{registered_model} v{version} cannot score the current snapshot: {error}"
            ) from None
        finite = np.all(np.isfinite(probabilities))
        if not (finite and np.all((probabilities >= 0) & (probabilities <= 1))):
            raise ModelLoadError(
                f"{registered_model} v{version} gives probabilities outside [0, 1] on the snapshot"
            )
    return served


def single_threaded(model: Any) -> None:
    """Set every XGBoost booster inside ``model`` to :data:`INFERENCE_THREADS` threads."""
    os.environ.setdefault("OMP_NUM_THREADS", str(INFERENCE_THREADS))
    for item in _objects_inside(model):
        if isinstance(item, XGBClassifier):
            item.set_params(n_jobs=INFERENCE_THREADS)


def known_categories(model: Any, columns: FeatureColumns) -> dict[str, frozenset[str]]:
    """Per categorical feature, the values its fitted encoder learnt (the union over every
    encoder inside ``model``: calibration may hold one fitted pipeline per fold).

    The encoders score a value they never saw as "unknown" without complaint (``handle_unknown``),
    so a CRM sending ``"fr"`` for ``"FR"`` is answered as if the country were unknown; the
    service names such values in each answer's ``warnings``. Empty where no encoder over exactly
    ``columns.categorical`` is found (a model of another shape): then nothing is claimed.
    """
    names = list(columns.categorical)
    known: dict[str, set[str]] = {}
    for transformer in _objects_inside(model):
        if not isinstance(transformer, ColumnTransformer):
            continue
        for name, encoder, cols in getattr(transformer, "transformers_", ()):
            if name != "categorical" or list(cols) != names:
                continue
            learnt = getattr(encoder, "categories_", None)
            if learnt is None or len(learnt) != len(names):
                continue
            for column, values in zip(names, learnt, strict=True):
                known.setdefault(column, set()).update(str(value) for value in values)
    return {column: frozenset(values) for column, values in known.items()}


def _objects_inside(model: Any) -> Iterator[Any]:
    """``model`` and every object inside it, each once.

    The pipelines nest the estimators in calibration wrappers (``CalibratedClassifierCV`` →
    ``_CalibratedClassifier`` → ``FrozenEstimator`` → ``Pipeline``), so the walk follows every
    scikit-learn / XGBoost object's attributes and the lists, tuples and dicts they hold.
    """
    seen: set[int] = set()
    stack = [model]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif type(item).__module__.split(".")[0] in ("sklearn", "xgboost") and hasattr(
            item, "__dict__"
        ):
            stack.extend(vars(item).values())

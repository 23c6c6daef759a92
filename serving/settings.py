"""What the service needs from ``params.yaml``, gathered once from the typed config.

``churn serve`` loads :class:`core.config.Config` and hands it to uvicorn's workers as JSON in
one environment variable, so every worker process serves exactly the config the command read
(no worker re-reads ``params.yaml``, which may have changed since).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.config import Config, MlflowConfig
from core.layout import MANIFEST_FILE, POLICY_DIR, REASONS_FILE, SNAPSHOT_FILE, TARGETS_FILE

CONFIG_ENV = "CHURN_SERVE_CONFIG"


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the app reads at start and on reload; paths are absolute."""

    mlflow: MlflowConfig
    alias: str
    snapshot_path: Path
    manifest_path: Path
    reasons_path: Path
    targets_path: Path
    policy_dir: Path
    api_key_env: str
    api_key_file: Path | None
    admin_key_env: str
    admin_key_file: Path | None
    max_batch_size: int
    max_request_bytes: int
    reload_poll_seconds: float
    top_reasons: int
    reason_min_log_odds: float
    risk_tiers: tuple[float, ...]

    @classmethod
    def from_config(cls, config: Config) -> ServiceSettings:
        serve, paths = config.serve, config.paths
        return cls(
            mlflow=config.mlflow,
            alias=serve.alias,
            snapshot_path=paths.features_dir / SNAPSHOT_FILE,
            manifest_path=paths.features_dir / MANIFEST_FILE,
            reasons_path=paths.explain_dir / REASONS_FILE,
            targets_path=paths.offers_dir / TARGETS_FILE,
            policy_dir=paths.offers_dir / POLICY_DIR,
            api_key_env=serve.api_key_env,
            api_key_file=serve.api_key_file,
            admin_key_env=serve.admin_key_env,
            admin_key_file=serve.admin_key_file,
            max_batch_size=serve.max_batch_size,
            max_request_bytes=serve.max_request_bytes,
            reload_poll_seconds=serve.reload_poll_seconds,
            top_reasons=config.explain.top_reasons,
            reason_min_log_odds=config.explain.reason_min_log_odds,
            risk_tiers=tuple(config.explain.risk_tiers),
        )

    @property
    def registered_model(self) -> str:
        return self.mlflow.registered_model


def config_to_environment(config: Config) -> str:
    """``config`` as the JSON :func:`config_from_environment` reads back in a worker."""
    return config.model_dump_json(by_alias=True)


def config_from_environment() -> Config:
    """The config ``churn serve`` put in ``CHURN_SERVE_CONFIG`` (a worker process's view)."""
    payload = os.environ.get(CONFIG_ENV)
    if not payload:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start the service with `churn serve`")
    return Config.model_validate_json(payload)

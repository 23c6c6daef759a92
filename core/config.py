"""The one typed configuration object, read once from ``params.yaml`` and passed down.

Every knob of every stage lives in ``params.yaml``; this module is its schema. Unknown keys and wrong
types fail at start with the key's dotted path and what was expected, so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """``params.yaml`` is missing, unreadable or does not match the schema."""


class Section(BaseModel):
    """Base for every config section: no unknown keys, no mutation after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(Section):
    """Where stages read and write, relative to the folder holding ``params.yaml``."""

    raw_dir: Path = Path("data/raw")
    truth_dir: Path = Path("data/truth")
    validation_report: Path = Path("data/validation/report.json")

    def resolved(self, base_dir: Path) -> PathsConfig:
        """A copy with every relative path anchored at ``base_dir`` (the folder of ``params.yaml``)."""
        return self.model_copy(
            update={
                name: value if value.is_absolute() else base_dir / value
                for name, value in self
                if isinstance(value, Path)
            }
        )


class OfferSpec(Section):
    """One loyalty offer as the synthetic world knows it: how strongly it changes the churn hazard.

    Effects are log hazard ratios over the truth horizon (negative = fewer churners). The effect for a
    customer is ``base + sum(trait_weight * trait)`` plus the customer's contact reactance.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    base_effect: float = 0.0
    price_sensitivity_weight: float = 0.0
    frequent_small_basket_weight: float = 0.0
    loyalty_member_weight: float = 0.0
    redemption_rate: float = Field(default=0.3, ge=0.0, le=1.0)


def _default_offers() -> list[OfferSpec]:
    return [
        OfferSpec(
            id="discount_10",
            description="10% off the next order",
            base_effect=0.05,
            price_sensitivity_weight=-0.9,
            redemption_rate=0.35,
        ),
        OfferSpec(
            id="free_shipping",
            description="Free shipping for 60 days",
            base_effect=0.0,
            frequent_small_basket_weight=-0.8,
            redemption_rate=0.3,
        ),
        OfferSpec(
            id="bonus_points",
            description="Double loyalty points for 30 days",
            base_effect=0.05,
            loyalty_member_weight=-0.7,
            redemption_rate=0.25,
        ),
    ]


class CampaignConfig(Section):
    """Past retention campaigns simulated into the ``offers`` log, with random control groups."""

    every_days: int = Field(default=60, gt=0)
    reach_share: float = Field(default=0.25, gt=0.0, le=1.0)
    control_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    effect_days: int = Field(default=90, gt=0)


class TruthConfig(Section):
    """Ground truth written to ``data/truth``: true churn probabilities at a grid of cutoffs.

    The grid is anchored at the world's end date and steps back every ``cutoff_every_days``.
    """

    horizon_days: int = Field(default=90, gt=0)
    cutoff_every_days: int = Field(default=30, gt=0)
    min_history_days: int = Field(default=90, ge=0)


class GenerateConfig(Section):
    """The synthetic online retailer: size, time span, latent traits and churn drivers."""

    n_customers: int = Field(default=20_000, gt=0)
    start_date: dt.date = dt.date(2023, 1, 1)
    end_date: dt.date = dt.date(2024, 12, 31)
    chunk_customers: int = Field(default=50_000, gt=0)
    n_jobs: int = Field(default=2, ge=1)
    countries: dict[str, float] = Field(
        default_factory=lambda: {"DE": 0.35, "FR": 0.25, "NL": 0.15, "ES": 0.15, "IT": 0.10}
    )
    acquisition_channels: dict[str, float] = Field(
        default_factory=lambda: {
            "organic": 0.35,
            "paid_search": 0.25,
            "social": 0.2,
            "referral": 0.1,
            "affiliate": 0.1,
        }
    )
    loyalty_member_share: float = Field(default=0.35, ge=0.0, le=1.0)
    base_weekly_hazard: float = Field(default=0.02, gt=0.0, lt=1.0)
    campaigns: CampaignConfig = CampaignConfig()
    offers: list[OfferSpec] = Field(default_factory=_default_offers)
    truth: TruthConfig = TruthConfig()

    @model_validator(mode="after")
    def _check_span(self) -> Self:
        if (self.end_date - self.start_date).days < 365:
            raise ValueError("end_date must be at least 365 days after start_date")
        ids = [offer.id for offer in self.offers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"offer ids must be unique, got {ids}")
        return self


class ValidateConfig(Section):
    """Sanity bounds for raw CRM exports."""

    earliest_date: dt.date = dt.date(1990, 1, 1)
    latest_date: dt.date = dt.date(2100, 1, 1)
    max_examples: int = Field(default=5, ge=1)


class Config(Section):
    """The whole of ``params.yaml``."""

    seed: int = 42
    paths: PathsConfig = PathsConfig()
    generate: GenerateConfig = GenerateConfig()
    validate_: ValidateConfig = Field(default=ValidateConfig(), alias="validate")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def load(cls, params_path: str | Path = "params.yaml") -> Config:
        """Read and check ``params_path``; relative paths inside it resolve against its folder."""
        params_path = Path(params_path)
        try:
            raw: Any = yaml.safe_load(params_path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ConfigError(f"{params_path}: file not found") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"{params_path}: not valid YAML: {error}") from error
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{params_path}: expected a mapping at the top level, got {raw!r}")
        return cls.from_mapping(raw, source=str(params_path), base_dir=params_path.parent)

    @classmethod
    def from_mapping(
        cls, raw: dict[str, Any], source: str = "<params>", base_dir: Path | None = None
    ) -> Config:
        try:
            config = cls.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(_describe(error, source)) from None
        if base_dir is None:
            return config
        return config.model_copy(update={"paths": config.paths.resolved(base_dir)})


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: {error.error_count()} invalid setting(s)"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)

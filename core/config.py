"""The one typed configuration object, read once from ``params.yaml`` and passed down.

Every knob of every stage lives in ``params.yaml``; this module is its schema. Unknown keys and
wrong types fail at start with the key's dotted path and what was expected, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError


def _calendar_day(value: Any) -> Any:
    """Refuse a number (or a text of digits) where a day is expected: pydantic would read
    ``20230101`` as seconds since 1970 and say something about time of day, and ``0`` as
    1970-01-01 without a word."""
    digits = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    if digits or (isinstance(value, int | float) and not isinstance(value, bool)):
        raise PydanticCustomError("calendar_day", "expected a date written YYYY-MM-DD")
    return value


Day = Annotated[dt.date, BeforeValidator(_calendar_day)]
"""A calendar day in params: ``2023-01-01`` (YAML reads it as a date) or that text."""


class ConfigError(ValueError):
    """``params.yaml`` is missing, unreadable or does not match the schema."""


class Section(BaseModel):
    """Base for every config section: no unknown keys, no mutation after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __getstate__(self) -> dict[Any, Any]:
        # pydantic pickles the set of explicitly given fields as a set, whose order follows
        # the per-process string hash: the same config would pickle to different bytes in each
        # run, and a pickled artefact holding it (the offer policy) would change under
        # `dvc repro -f` with nothing changed. Sorted, it pickles the same every time.
        state = super().__getstate__()
        return state | {"__pydantic_fields_set__": sorted(state["__pydantic_fields_set__"])}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        fields_set = set(state["__pydantic_fields_set__"])
        super().__setstate__(state | {"__pydantic_fields_set__": fields_set})


class PathsConfig(Section):
    """Where stages read and write, relative to the folder holding ``params.yaml``.

    ``synthetic_raw_dir`` is where ``churn generate`` writes; ``raw_dir`` is what every later stage
    reads. They are the same folder by default; point ``raw_dir`` at your own CRM export to use it
    instead of the synthetic world (the generator never writes there).
    """

    synthetic_raw_dir: Path = Path("data/raw")
    raw_dir: Path = Path("data/raw")
    truth_dir: Path = Path("data/truth")
    validation_report: Path = Path("data/validation/report.json")
    features_dir: Path = Path("data/features")
    models_dir: Path = Path("data/models")
    evaluation_dir: Path = Path("evaluation")
    explain_dir: Path = Path("data/explain")  # churn explain: SHAP values, snapshot reason codes
    reports_dir: Path = Path("reports")  # churn explain: the analysts' HTML report and PNGs
    offers_dir: Path = Path("data/offers")  # churn offers: targets, CRM import file, fitted policy

    def resolved(self, base_dir: Path) -> PathsConfig:
        """A copy with every relative path anchored at ``base_dir``, the params file's folder."""
        return self.model_copy(
            update={
                name: value if value.is_absolute() else base_dir / value
                for name, value in self
                if isinstance(value, Path)
            }
        )

    def overlaps(self, base_dir: Path) -> list[str]:
        """Paths a stage would delete: each folder in :data:`REPLACED_WHOLE` is swapped in as a
        whole when its stage succeeds (``core.atomic.atomic_dir``), so whatever else lies in it
        (the raw export, another stage's outputs, the project itself) would be lost without a
        word. ``synthetic_raw_dir`` and ``raw_dir`` may be one folder: that is the default."""
        paths = {
            name: Path(os.path.abspath(value)) for name, value in self if isinstance(value, Path)
        }
        project = Path(os.path.abspath(base_dir))
        found = []
        for name in REPLACED_WHOLE:
            folder = paths[name]
            held = [
                f"paths.{other} ({paths[other]})"
                for other in paths
                if other != name
                and paths[other].is_relative_to(folder)
                and not ({name, other} == _ONE_RAW_FOLDER and paths[other] == folder)
            ]
            if project.is_relative_to(folder):
                held.append(f"the project folder ({project})")
            if held:
                found.append(f"paths.{name} ({folder}) holds {', '.join(held)}")
        return found

    def wrong_kinds(self) -> list[str]:
        """Paths that exist as the wrong kind of entry: a folder setting that is a file, the
        validation report's path that is a folder, or any of them below a file. Caught here,
        they are one line naming the setting rather than an OS error deep in a stage."""
        found = []
        for name, value in self:
            if not isinstance(value, Path):
                continue
            wanted = "file" if name in _FILE_PATHS else "folder"
            if value.is_dir() and wanted == "file":
                found.append(f"paths.{name} {value} is a folder; expected a {wanted} path")
            elif value.is_file() and wanted == "folder":
                found.append(f"paths.{name} {value} is a file; expected a {wanted}")
            else:
                blocking = next((parent for parent in value.parents if parent.is_file()), None)
                if blocking is not None:
                    found.append(f"paths.{name} {value} lies below the file {blocking}")
        return found


_FILE_PATHS = frozenset({"validation_report"})
"""The ``paths`` settings that name a file; every other one names a folder."""

REPLACED_WHOLE = (
    "synthetic_raw_dir",
    "truth_dir",
    "features_dir",
    "models_dir",
    "explain_dir",
    "reports_dir",
    "offers_dir",
)
"""The ``paths`` folders a stage replaces as a whole when it succeeds."""
_ONE_RAW_FOLDER = {"synthetic_raw_dir", "raw_dir"}


class OfferSpec(Section):
    """One loyalty offer as the synthetic world knows it: how strongly it changes the churn hazard.

    Effects are log hazard ratios (negative = fewer churners) applied for ``campaigns.effect_days``
    after the offer is sent. The effect for a customer is ``base_effect``
    + ``price_sensitivity_weight`` * price sensitivity
    + ``frequent_small_basket_weight`` * frequent-small-basket score
    + ``loyalty_member_weight`` * loyalty membership
    + the customer's contact reactance (shared by every offer: being contacted at all).

    ``redemption_rate`` is the chance that a treated customer uses the offer on an order placed
    inside ``campaigns.redeem_within_days`` (scaled by ``2 * sigmoid(-2 * effect)``, so customers
    the offer helps redeem more); customers who do not order in the window cannot redeem. The
    ``order_*`` and ``points_multiplier`` fields only shape the raw data of that redeeming order,
    not the churn hazard.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str
    base_effect: float = 0.0
    price_sensitivity_weight: float = 0.0
    frequent_small_basket_weight: float = 0.0
    loyalty_member_weight: float = 0.0
    redemption_rate: float = Field(default=0.3, ge=0.0, le=1.0)
    order_discount_share: float = Field(default=0.0, ge=0.0, lt=1.0)
    order_discount_fixed: float = Field(default=0.0, ge=0.0)
    points_multiplier: float = Field(default=1.0, ge=1.0)


def _default_offers() -> list[OfferSpec]:
    return [
        OfferSpec(
            id="discount_10",
            description="10% off the next order",
            base_effect=0.05,
            price_sensitivity_weight=-0.9,
            redemption_rate=0.35,
            order_discount_share=0.10,
        ),
        OfferSpec(
            id="free_shipping",
            description="Free shipping for 60 days",
            base_effect=0.0,
            frequent_small_basket_weight=-0.8,
            redemption_rate=0.3,
            order_discount_fixed=4.95,
        ),
        OfferSpec(
            id="bonus_points",
            description="Double loyalty points for 30 days",
            base_effect=0.05,
            loyalty_member_weight=-0.7,
            redemption_rate=0.25,
            points_multiplier=2.0,
        ),
    ]


class CampaignConfig(Section):
    """Past retention campaigns simulated into the ``offers`` log, with random control groups.

    Every ``every_days`` the retailer picks ``reach_share`` of the customers it believes active
    (an order or sign-up within ``active_within_days``, still subscribed), favouring long order gaps
    by ``targeting_strength`` (0 = uniformly at random). Inside that targeted set a random
    ``control_share`` is held out and the rest get one offer drawn uniformly from the catalogue, so
    uplift is identifiable from the log.
    """

    every_days: int = Field(default=60, gt=0)
    reach_share: float = Field(default=0.25, gt=0.0, le=1.0)
    control_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    effect_days: int = Field(default=90, gt=0)
    redeem_within_days: int = Field(default=30, gt=0)
    active_within_days: int = Field(default=180, gt=0)
    targeting_strength: float = Field(default=0.5, ge=0.0)


class HazardConfig(Section):
    """Coefficients of the weekly churn log-hazard (see ``synthetic.hazard``).

    Each term is ``coefficient * driver``; positive coefficients raise churn risk. Drivers are on
    the scales documented in ``synthetic.hazard.ChurnDrivers``, centred so that a typical customer
    sits near ``generate.base_weekly_hazard``.
    """

    recency: float = 0.3
    order_frequency: float = -0.2
    spend_trend: float = -0.3
    tickets: float = 0.15
    slow_responses: float = 0.5
    low_nps: float = 0.12
    low_csat: float = 0.2
    email_open_trend: float = -1.0
    unsubscribed: float = 0.4
    cart_abandons: float = 0.2
    loyalty_member: float = -0.25
    loyalty_redemptions: float = -0.3
    referrals: float = -0.3
    seasonality: float = 0.15
    engagement: float = -0.35
    satisfaction: float = -0.3
    price_sensitivity: float = 0.4
    fading: float = 1.0


class TruthConfig(Section):
    """Ground truth written to ``data/truth``: true churn probabilities at a grid of cutoffs.

    The grid is anchored at the day after the world's end date (where the export ends) and steps
    back every ``cutoff_every_days`` while at least ``min_history_days`` after the start date.
    """

    horizon_days: int = Field(default=90, gt=0)
    cutoff_every_days: int = Field(default=30, gt=0)
    min_history_days: int = Field(default=90, ge=0)


class GenerateConfig(Section):
    """The synthetic online retailer: size, time span, latent traits and churn drivers.

    ``chunk_customers`` customers are simulated together (vectorised) and ``n_jobs`` chunks run in
    parallel; the output depends on ``seed`` and ``chunk_customers`` but never on ``n_jobs``.
    ``fading_weekly_rate`` is the weekly chance that a live customer starts drifting away: their
    churn hazard rises at once (``hazard.fading``) and their engagement sinks over the following
    weeks, which is the decline a retention team sees before a customer leaves.
    ``churn_rate_bounds`` is the plausible range of the 90-day churn base rate: the generator
    reports (and logs a warning) when the world it made falls outside.
    """

    n_customers: int = Field(default=20_000, gt=0)
    start_date: Day = dt.date(2023, 1, 1)
    end_date: Day = dt.date(2024, 12, 31)
    chunk_customers: int = Field(default=10_000, gt=0)
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
    plus_share: float = Field(default=0.2, ge=0.0, le=1.0)
    loyalty_member_share: float = Field(default=0.35, ge=0.0, le=1.0)
    early_signup_share: float = Field(default=0.3, ge=0.0, le=1.0)
    first_order_share: float = Field(default=0.6, ge=0.0, le=1.0)
    email_every_weeks: int = Field(default=2, gt=0)
    slow_response_hours: float = Field(default=48.0, gt=0.0)
    contact_reactance_share: float = Field(default=0.15, ge=0.0, le=1.0)
    contact_reactance_effect: float = 0.6
    fading_weekly_rate: float = Field(default=0.006, ge=0.0, le=1.0)
    base_weekly_hazard: float = Field(default=0.018, gt=0.0, lt=1.0)
    churn_rate_bounds: tuple[float, float] = (0.15, 0.30)
    hazard: HazardConfig = HazardConfig()
    campaigns: CampaignConfig = CampaignConfig()
    offers: list[OfferSpec] = Field(default_factory=_default_offers, min_length=1)
    truth: TruthConfig = TruthConfig()

    @model_validator(mode="after")
    def _check_span(self) -> Self:
        if (self.end_date - self.start_date).days < 365:
            raise ValueError("end_date must be at least 365 days after start_date")
        if self.truth.min_history_days >= (self.end_date - self.start_date).days:
            raise ValueError("truth.min_history_days must be shorter than the span of the world")
        ids = [offer.id for offer in self.offers]
        if len(set(ids)) != len(ids):
            raise ValueError(f"offer ids must be unique, got {ids}")
        low, high = self.churn_rate_bounds
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"churn_rate_bounds must be 0 <= low <= high <= 1, got {low}, {high}")
        for name, weights in (
            ("countries", self.countries),
            ("acquisition_channels", self.acquisition_channels),
        ):
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(
                    f"{name} needs at least one non-negative weight and a positive sum"
                )
        return self


class ValidateConfig(Section):
    """Sanity bounds for raw CRM exports."""

    earliest_date: Day = dt.date(1990, 1, 1)
    latest_date: Day = dt.date(2100, 1, 1)
    max_examples: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.earliest_date >= self.latest_date:
            raise ValueError(
                f"earliest_date {self.earliest_date} must be before latest_date {self.latest_date}"
            )
        return self


class ChurnConfig(Section):
    """What counts as churn, shared by labels, features and every later stage.

    ``inactivity`` (retail): the population at a cutoff is customers with at least one completed
    order in the ``lookback_days`` before it; churned = no completed order in the ``horizon_days``
    after it. ``subscription`` (contractual): the population is customers with a subscription
    active at the cutoff; churned = it ends within the horizon and no other subscription of theirs
    is active at the horizon's end.
    """

    definition: Literal["inactivity", "subscription"] = "inactivity"
    horizon_days: int = Field(default=90, gt=0)
    lookback_days: int = Field(default=365, gt=0)


class CutoffConfig(Section):
    """The cutoff grid: anchored at the scoring snapshot date, stepping back ``every_days``.

    Only cutoffs whose label horizon ends on or before the snapshot date are labelled training
    cutoffs; the ``count`` most recent of them are built.
    """

    every_days: int = Field(default=30, gt=0)
    count: int = Field(default=12, gt=0)


BYTE_SIZE = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?\s*$"
"""A size as DuckDB reads one: a number and an optional unit (``4GB``, ``512 MiB``, ``1.5gb``)."""


class DuckDBConfig(Section):
    """The embedded engine: bounded memory, spilling to ``temp_directory`` instead of dying.

    A relative ``temp_directory`` is anchored at the params file's folder, like ``paths``.
    """

    memory_limit: str = "4GB"
    threads: int = Field(default=2, ge=1, le=1024)
    temp_directory: Path = Path("data/.duckdb_tmp")

    @field_validator("memory_limit")
    @classmethod
    def _a_size(cls, value: str) -> str:
        found = re.match(BYTE_SIZE, value)
        if found is None:
            raise ValueError("expected a size such as 4GB or 512MiB")
        if float(found.group(1)) == 0:
            raise ValueError("expected a size above 0, such as 4GB or 512MiB")
        return value


class SparkConfig(Section):
    """A Spark session for histories that outgrow one machine."""

    master: str = "local[*]"
    app_name: str = "churn-features"
    conf: dict[str, str] = Field(default_factory=dict)


class FeatureFamiliesConfig(Section):
    """Switch feature families on or off; a family whose source table is absent is off anyway."""

    rfm: bool = True
    lifecycle: bool = True
    subscription: bool = True
    support: bool = True
    engagement: bool = True
    voice: bool = True
    loyalty: bool = True
    events: bool = True
    offers: bool = True
    static: bool = True


class FeaturesConfig(Section):
    """Point-in-time features: engine, cutoffs, families.

    ``snapshot_date`` is the scoring snapshot's cutoff (history strictly before its 00:00 UTC);
    ``null`` means the day after the latest order or event in the raw data.
    ``history_days`` is how far back any feature looks: windowed features use at most 365 days,
    "days since the last …" features and open-ticket counts see this much history (null when
    nothing happened in it). Only lifecycle features (signup, first order) see all of it. A longer
    history costs time: every row in it is joined to each cutoff it precedes.
    """

    engine: Literal["duckdb", "spark"] = "duckdb"
    snapshot_date: Day | None = None
    history_days: int = Field(default=730, ge=365)
    partition_rows: int | None = Field(default=None, ge=1)
    """Orders + events rows per customer slice the build runs on (``features.partitions``);
    ``None``: derived from ``duckdb.memory_limit`` on DuckDB, one slice on Spark."""
    cutoffs: CutoffConfig = CutoffConfig()
    families: FeatureFamiliesConfig = FeatureFamiliesConfig()
    duckdb: DuckDBConfig = DuckDBConfig()
    spark: SparkConfig = SparkConfig()


class SearchParam(Section):
    """One hyperparameter's search range for Optuna.

    ``int`` and ``float`` draw from ``[low, high]`` (log-uniform with ``log``); ``categorical``
    picks one of ``choices``.
    """

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[str | int | float | bool | None] | None = None

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical search param needs a non-empty choices list")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"a {self.type} search param needs low <= high")
        elif self.log and self.low <= 0:
            raise ValueError("a log-scale search param needs low > 0")
        return self


XGBOOST_AT_LEAST_ONE = ("n_estimators", "early_stopping_rounds")
"""XGBoost settings that must be whole numbers >= 1: XGBoost does not check them, and fits zero
trees for ``n_estimators`` <= 0 (a constant model), stops after the first tree for a negative
``early_stopping_rounds`` and turns early stopping off for 0, all without a word."""


def check_xgboost_rounds(
    params: dict[str, Any], search: dict[str, SearchParam] | None = None, where: str = "params"
) -> None:
    """Raise ValueError naming the first of :data:`XGBOOST_AT_LEAST_ONE` below 1 in ``params``
    (``early_stopping_rounds: null`` is "no early stopping") or in a search range's ``low``."""
    for name in XGBOOST_AT_LEAST_ONE:
        value = params.get(name)
        off = value is None and name == "early_stopping_rounds"
        whole = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if name in params and not (off or whole):
            hint = " (null: no early stopping)" if name == "early_stopping_rounds" else ""
            raise ValueError(f"{where}.{name} must be a whole number >= 1, got {value!r}{hint}")
        if search and name in search and (search[name].low or 0) < 1:
            raise ValueError(f"search.{name} must start at 1 or above, got {search[name].low}")


class CandidateConfig(Section):
    """One model family in the competition.

    ``params`` are the estimator's fixed settings (and the first trial of the search);
    ``search`` lists the hyperparameters Optuna tunes on the validation cutoff; ``n_trials``
    overrides the budget of ``train.tuning`` for this candidate.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["logistic_regression", "hist_gradient_boosting", "random_forest", "xgboost"]
    params: dict[str, Any] = Field(default_factory=dict)
    search: dict[str, SearchParam] = Field(default_factory=dict)
    n_trials: int | None = Field(default=None, ge=0)  # overrides train.tuning.n_trials

    @model_validator(mode="after")
    def _check_rounds(self) -> Self:
        if self.kind == "xgboost":
            check_xgboost_rounds(self.params, self.search)
        return self


def _default_candidates() -> list[CandidateConfig]:
    return [
        CandidateConfig(name="logistic", kind="logistic_regression", params={"C": 1.0}),
        CandidateConfig(name="hist_gb", kind="hist_gradient_boosting"),
        CandidateConfig(name="xgboost", kind="xgboost"),
    ]


class SplitConfig(Section):
    """Time-based split; with ``embargo`` no label horizon overlaps a later part (models.split)."""

    embargo: bool = True


class TuningConfig(Section):
    """Optuna budget per candidate. ``timeout_seconds`` is a safety cap: when it bites, the
    number of trials depends on the machine and results are no longer reproducible."""

    n_trials: int = Field(default=8, ge=0)
    timeout_seconds: float | None = Field(default=None, gt=0)


class GateConfig(Section):
    """When the new model (alias ``challenger``) takes alias ``champion``.

    It must beat the champion on the test cutoff by ``min_improvement`` on the primary metric and
    its expected calibration error may be at most ``ece_tolerance`` worse.
    """

    min_improvement: float = Field(default=0.002, ge=0.0)
    ece_tolerance: float = Field(default=0.005, ge=0.0)


class TrainConfig(Section):
    """Candidates, tuning, class imbalance, calibration and the promotion gate.

    ``primary_metric`` ranks trials and candidates on the validation cutoff and drives the gate
    on the test cutoff. ``class_weight: balanced`` reweights classes (``scale_pos_weight`` for
    XGBoost); calibration on the validation cutoff then maps scores back to probabilities.
    ``n_jobs`` fixes thread counts, so results do not depend on the machine's core count.
    """

    primary_metric: Literal["pr_auc", "roc_auc", "emp"] = "pr_auc"
    class_weight: Literal["balanced", "none"] = "balanced"
    calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic"
    n_jobs: int = Field(default=2, ge=1)
    exclude_features: list[str] = Field(default_factory=list)
    """Feature columns no model may learn from, by name or glob (``static_gender``,
    ``static_*``): sensitive attributes stay in the feature table, for eligibility rules and for
    auditing outcomes by them, but never drive a score, a value or an uplift."""
    split: SplitConfig = SplitConfig()
    tuning: TuningConfig = TuningConfig()
    gate: GateConfig = GateConfig()
    candidates: list[CandidateConfig] = Field(default_factory=_default_candidates)

    @model_validator(mode="after")
    def _check_candidates(self) -> Self:
        names = [candidate.name for candidate in self.candidates]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"candidates need unique names and at least one entry, got {names}")
        return self


class EconomicsConfig(Section):
    """Retention-campaign economics (Verbraken et al. 2013), in currency per customer.

    A contacted churner who accepts the offer stays: gain ``customer_value`` - ``offer_cost``;
    every contact costs ``contact_cost``; a contacted non-churner takes the offer anyway. The
    acceptance rate is uncertain: Beta(``acceptance_alpha``, ``acceptance_beta``).
    """

    customer_value: float = Field(default=200.0, gt=0)
    offer_cost: float = Field(default=10.0, ge=0)
    contact_cost: float = Field(default=1.0, ge=0)
    acceptance_alpha: float = Field(default=6.0, gt=0)
    acceptance_beta: float = Field(default=14.0, gt=0)


class BacktestConfig(Section):
    """Rolling-origin backtest: refit the winner at ``origins`` test cutoffs, latest first."""

    origins: int = Field(default=4, ge=0)
    min_train_cutoffs: int = Field(default=2, ge=1)


class EvaluateConfig(Section):
    """Test-cutoff metrics, curves and segments.

    ``top_fraction`` sets lift and recall "at the top" (0.1 = top decile); ``value_feature`` and
    ``tenure_feature`` are cut into ``bands`` quantile bands for per-segment metrics.
    """

    calibration_bins: int = Field(default=10, ge=2)
    top_fraction: float = Field(default=0.1, gt=0, le=1)
    curve_points: int = Field(default=101, ge=3)
    segment_columns: list[str] = Field(
        default_factory=lambda: ["static_plan", "static_acquisition_channel"]
    )
    tenure_feature: str = "lifecycle_days_since_signup"
    value_feature: str = "rfm_spend_365d"
    bands: int = Field(default=4, ge=2)
    min_segment_rows: int = Field(default=50, ge=1)
    backtest: BacktestConfig = BacktestConfig()


class MlflowConfig(Section):
    """Where runs and the model registry live; ``MLFLOW_TRACKING_URI`` overrides ``tracking_uri``.

    A relative SQLite path or ``artifact_location`` is relative to the working directory, which is
    the project root under ``dvc repro``.
    """

    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "mlruns"
    experiment: str = "churn"
    registered_model: str = "churn-classifier"


class ExplainConfig(Section):
    """SHAP explanations and reason codes (``churn explain``).

    ``sample_rows`` of the test cutoff are explained (null: all of them; the sample is seeded);
    the report's plots draw at most ``plot_rows`` of them. Customers are put in risk tiers by
    ``risk_tiers`` (churn-probability cut points) for the example waterfalls. Segments: each
    column in ``segment_columns`` plus ``bands`` quantile bands of ``value_feature`` and
    ``tenure_feature``.
    """

    sample_rows: int | None = Field(default=None, ge=10)
    plot_rows: int = Field(default=5000, ge=10)
    n_jobs: int = Field(default=2, ge=1)
    top_features: int = Field(default=15, ge=1)
    dependence_features: int = Field(default=4, ge=0)
    top_reasons: int = Field(default=3, ge=1)
    reason_min_log_odds: float = Field(default=0.05, ge=0.0)
    risk_tiers: tuple[float, ...] = (0.2, 0.5)
    segment_columns: tuple[str, ...] = ("static_plan",)
    value_feature: str = "rfm_spend_365d"
    tenure_feature: str = "lifecycle_days_since_signup"
    bands: int = Field(default=2, ge=2)

    @model_validator(mode="after")
    def _tiers_increase(self) -> Self:
        tiers = self.risk_tiers
        if any(not 0.0 < t < 1.0 for t in tiers) or list(tiers) != sorted(set(tiers)):
            raise ValueError(f"risk_tiers must increase strictly within (0, 1), got {list(tiers)}")
        return self


class CatalogOffer(Section):
    """One loyalty offer of the catalog: what it costs and who may receive it.

    ``unit_cost`` is the expected cost of one send (incentive at the usual redemption rate plus
    the contact), in the currency of order amounts. Eligibility: ``min_tenure_days`` since signup,
    ``members_only`` (loyalty programme), ``countries`` (empty = all). ``capacity`` caps the sends
    per campaign (null = no cap besides the budget).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    unit_cost: float = Field(gt=0)
    channel: Literal["email"] = "email"
    min_tenure_days: int = Field(default=0, ge=0)
    members_only: bool = False
    countries: list[str] = Field(default_factory=list)
    capacity: int | None = Field(default=None, ge=0)


class OffersConfig(Section):
    """Offer catalog, contact rules, uplift and value models, budgeted policy (``churn offers``).

    Contact rules: an email unsubscribe within the feature history blocks the email channel; no
    offer within ``cooldown_days`` of the last one; at most ``max_offers_365d`` offers in 365
    days. ``control_share`` of the picked customers is held out by a salted hash of customer id
    and ``campaign_id`` (``salt``), so the split is reproducible and auditable. A saved customer
    is worth ``value_periods`` × the predicted margin of the next ``churn.horizon_days`` given
    they stay (``gross_margin`` × spend).
    """

    catalog: list[CatalogOffer] = Field(default_factory=list)
    budget: float = Field(default=10_000.0, ge=0)
    control_share: float = Field(default=0.1, ge=0, lt=1)
    campaign_id: str = "CMP-SNAPSHOT"
    salt: str = "offers"
    cooldown_days: int = Field(default=45, ge=0)
    max_offers_365d: int = Field(default=4, ge=0)
    gross_margin: float = Field(default=0.3, gt=0, le=1)
    value_periods: float = Field(default=4.0, gt=0)
    holdout_campaigns: int = Field(default=2, ge=1)
    learners: list[Literal["t_learner", "x_learner", "hazard_ratio", "reach_hazard"]] = Field(
        default_factory=lambda: ["t_learner", "x_learner", "hazard_ratio"], min_length=1
    )
    learner: Literal["auto", "t_learner", "x_learner", "hazard_ratio", "reach_hazard"] = "auto"
    xgboost: dict[str, Any] = Field(default_factory=dict)
    hazard_l2: float = Field(default=10.0, ge=0)
    effect_features: list[str] | None = None  # hazard learners' effect inputs; None = all
    hazard_baseline: Literal["joint", "control"] = "joint"  # where the no-offer baseline is fit
    solver_time_limit_s: float = Field(default=60.0, gt=0)
    qini_points: int = Field(default=101, ge=3)

    @model_validator(mode="after")
    def _check_catalog(self) -> Self:
        ids = [offer.id for offer in self.catalog]
        if len(set(ids)) != len(ids):
            raise ValueError(f"offer ids in the catalog must be unique, got {ids}")
        if self.learner != "auto" and self.learner not in self.learners:
            raise ValueError(f"learner {self.learner!r} must be one of learners {self.learners}")
        check_xgboost_rounds(self.xgboost, where="xgboost")
        return self


class ServeConfig(Section):
    """The scoring service (``churn serve``).

    API keys are never in params: ``api_key_env`` names an environment variable holding one or
    more comma-separated keys, ``api_key_file`` a file with one key per line (either or both).
    The admin key (``POST /v1/admin/reload``) comes the same way. The snapshot, reason and offer
    files the by-id store serves are the pipeline's outputs under ``paths``; reason codes per
    customer and risk-tier cut points are ``explain.top_reasons`` and ``explain.risk_tiers``, the
    batch pipeline's own.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    alias: str = "champion"
    api_key_env: str = "CHURN_API_KEYS"
    api_key_file: Path | None = None
    admin_key_env: str = "CHURN_ADMIN_KEY"
    admin_key_file: Path | None = None
    max_batch_size: int = Field(default=1000, ge=1)
    max_request_bytes: int = Field(default=4_000_000, ge=1024)
    reload_poll_seconds: float = Field(default=30.0, gt=0)


class Config(Section):
    """The whole of ``params.yaml``."""

    seed: int = Field(default=42, ge=0, lt=2**32)  # numpy and scikit-learn's seed range
    paths: PathsConfig = PathsConfig()
    generate: GenerateConfig = GenerateConfig()
    validate_: ValidateConfig = Field(default=ValidateConfig(), alias="validate")
    churn: ChurnConfig = ChurnConfig()
    features: FeaturesConfig = FeaturesConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    economics: EconomicsConfig = EconomicsConfig()
    mlflow: MlflowConfig = MlflowConfig()
    explain: ExplainConfig = ExplainConfig()
    offers: OffersConfig = OffersConfig()
    serve: ServeConfig = ServeConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def load(cls, params_path: str | Path = "params.yaml") -> Config:
        """Read and check ``params_path``; relative paths inside it resolve against its folder."""
        params_path = Path(params_path)
        try:
            raw: Any = yaml.load(params_path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        except FileNotFoundError as error:
            raise ConfigError(f"{params_path}: file not found") from error
        except IsADirectoryError as error:
            raise ConfigError(f"{params_path}: a folder, expected a params YAML file") from error
        except UnicodeDecodeError as error:
            raise ConfigError(f"{params_path}: not UTF-8 text ({error.reason})") from error
        except OSError as error:
            raise ConfigError(f"{params_path}: cannot be read ({error.strerror})") from error
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
            raise ConfigError(describe_invalid(error, source)) from None
        if base_dir is None:
            return config
        duckdb = config.features.duckdb
        if not duckdb.temp_directory.is_absolute():
            duckdb = duckdb.model_copy(update={"temp_directory": base_dir / duckdb.temp_directory})
        if duckdb.temp_directory.exists() and not duckdb.temp_directory.is_dir():
            raise ConfigError(
                f"{source}: features.duckdb.temp_directory {duckdb.temp_directory} is a file; "
                "expected a folder (created if missing) for DuckDB to spill to"
            )
        paths = config.paths.resolved(base_dir)
        overlaps = paths.overlaps(base_dir)
        if overlaps:
            raise ConfigError(
                f"{source}: {'; '.join(overlaps)}. Its stage replaces that folder as a whole and "
                "would delete them: give each output a folder of its own"
            )
        wrong = paths.wrong_kinds()
        if wrong:
            raise ConfigError(f"{source}: {'; '.join(wrong)}")
        return config.model_copy(
            update={
                "paths": paths,
                "features": config.features.model_copy(update={"duckdb": duckdb}),
            }
        )


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last one
    silently, so a setting pasted twice would override the first without a word."""


def _mapping_without_repeats(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats
)


def _day_or_refuse(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """YAML's date, or a YAML error at its line: PyYAML raises a bare ``ValueError`` (no file,
    no line) for a date-shaped value that is no day, such as ``2023-13-01``."""
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as error:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a valid date ({error})", node.start_mark
        ) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _day_or_refuse)


def describe_invalid(error: ValidationError, source: str) -> str:
    """One line per invalid setting of ``source``, by dotted key, with what was given."""
    lines = [f"{source}: {error.error_count()} invalid setting(s)"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)

"""Request and response bodies of ``/v1``, with the examples the OpenAPI page shows.

Raw feature values are a mapping from feature name to value: which names a request must carry
is the served model's (and offer policy's) input list, known only once a model is loaded, so the
names are checked per request against the served model (``GET /v1/model`` lists them) and a
wrong one is answered 422 naming ``customers[i].features.<name>``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

MAX_TEXT_LENGTH = 256
"""The longest text a feature value may be: a country, a plan or a channel, never a document (a
value of megabytes was accepted and echoed back in a warning, answer 3.5x the request)."""

FeatureValue = (
    float | int | bool | Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH)] | None
)
CUSTOMER_ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,256}$"
"""Any id the data contract accepts (text, read as is: spaces, accents, ``/`` included), up to
256 characters and without control characters, which no CRM id holds and which would only
garble the service's logs."""

EXAMPLE_FEATURES: dict[str, FeatureValue] = {
    "rfm_days_since_last_order": 74.0,
    "rfm_orders_90d": 1.0,
    "support_tickets_90d": 3.0,
    "static_country": "FR",
    "static_loyalty_member": False,
    "...": "every other feature listed by GET /v1/model (null where unknown)",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerFeatures(Strict):
    """One customer as raw feature values at the time of the call."""

    customer_id: str | None = Field(
        default=None,
        pattern=CUSTOMER_ID_PATTERN,
        description="Echoed back; not used for scoring",
        examples=["C0000006"],
    )
    features: dict[str, FeatureValue] = Field(
        description="Every input feature of the served model by name (GET /v1/model lists them); "
        "null for a missing value, never omitted",
        examples=[EXAMPLE_FEATURES],
    )


class ScoreRequest(Strict):
    """A batch of customers given as raw feature values."""

    customers: list[CustomerFeatures] = Field(
        min_length=1, description="At most serve.max_batch_size customers (413 beyond)"
    )
    explain: StrictBool = Field(
        default=True,
        description="false: probability and risk tier only (fast); true: also reason codes "
        "and the best offer without budget",
    )


class ByIdRequest(Strict):
    """Customers of the latest scoring snapshot, by id."""

    customer_ids: list[Annotated[str, Field(pattern=CUSTOMER_ID_PATTERN)]] = Field(
        min_length=1,
        description="At most serve.max_batch_size ids (413 beyond); unknown ids: 404 naming them",
        examples=[["C0000006", "C0000008"]],
    )


class Reason(BaseModel):
    """One reason code: a group of correlated features that raises (or lowers) the risk."""

    feature: str = Field(examples=["rfm_days_since_last_order"])
    family: str = Field(examples=["rfm"])
    group: str = Field(examples=["order recency"])
    text: str = Field(examples=["No order for 74 days (usual gap 21 days)"])
    direction: Literal["raises", "lowers"]
    contribution: float = Field(description="log-odds contribution of the group")
    actionable: bool


class Offer(BaseModel):
    """The recommended offer (``offer_id`` null: none), its economics and the campaign group.

    ``group`` (by id): ``treatment`` send it; ``control`` picked but held out, do not send;
    ``none`` not picked by the budgeted campaign. ``decision`` (by id): ``campaign`` where picked,
    else why not: ``budget_or_capacity`` (an offer would pay, the budget or its capacity ran
    out), ``contact_rule:...`` (e.g. ``contact_rule:unsubscribed``), ``no_eligible_offer``,
    ``no_positive_gain``. Raw-feature answers have ``group`` null: the best offer without budget,
    ``decision`` says why (``best_offer`` or one of the reasons above but the budget's).
    """

    offer_id: str | None = Field(examples=["free_shipping"])
    expected_gain: float | None = Field(description="uplift × value - cost, currency units")
    uplift: float | None = Field(description="predicted reduction of the churn probability")
    value: float | None = Field(description="value of keeping the customer, currency units")
    cost: float | None = Field(description="expected cost of the offer, currency units")
    group: Literal["treatment", "control", "none"] | None
    decision: str = Field(
        examples=["campaign", "budget_or_capacity", "best_offer", "no_positive_gain"]
    )


class CustomerScore(BaseModel):
    customer_id: str | None = Field(examples=["C0000006"])
    churn_probability: float = Field(ge=0, le=1, examples=[0.73])
    risk_tier: str = Field(
        description="tier of churn_probability under explain.risk_tiers (low, medium, high, ...)",
        examples=["high"],
    )
    reasons: list[Reason] | None = Field(description="null when explain=false")
    offer: Offer | None = Field(description="null when explain=false")
    source: Literal["snapshot", "features"] = Field(
        description="snapshot: the batch pipeline's decision for the latest snapshot; features: "
        "computed now from the values sent"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="Values sent that the model cannot read as meant, one line each: a category "
        'never seen in training ("fr" for "FR", a new country) is scored as an unknown '
        "one, and fails an offer's country rule. Always empty for snapshot answers.",
        examples=[[]],
    )


class ModelRef(BaseModel):
    name: str = Field(examples=["churn-classifier"])
    version: str = Field(examples=["3"])
    alias: str = Field(examples=["champion"])


class ScoreResponse(BaseModel):
    """Scores in request order, and what produced them."""

    model: ModelRef
    decided_by_model_version: str | None = Field(
        description="Version whose probabilities the answers hold: the served one for raw "
        "features; for by-id the one the batch pipeline ran with (null if it is not the served "
        "one, i.e. the batch predates the current champion)"
    )
    feature_definitions_hash: str
    snapshot_date: str = Field(examples=["2025-01-01"])
    scores: list[CustomerScore]

    model_config = ConfigDict(protected_namespaces=())


class ModelInfo(BaseModel):
    name: str
    version: str
    alias: str
    run_id: str
    candidate: str | None
    trained_at: str = Field(description="start of the training run, ISO 8601 UTC")
    test_metrics: dict[str, float]
    features: list[str] = Field(description="the names POST /v1/score needs in every customer")
    feature_definitions_hash: str
    snapshot_date: str
    snapshot_customers: int
    offers: list[str] = Field(description="the offer catalog")

    model_config = ConfigDict(protected_namespaces=())


class ReloadResult(BaseModel):
    changed: bool
    version: str
    snapshot_date: str
    message: str


class Health(BaseModel):
    status: Literal["alive"]


class Readiness(BaseModel):
    ready: bool
    version: str | None
    detail: str | None


class ErrorDetail(BaseModel):
    field: str | None = None
    customer_index: int | None = None
    message: str


class ErrorInfo(BaseModel):
    status: int
    message: str
    details: list[ErrorDetail] | list[dict[str, Any]]


class ErrorBody(BaseModel):
    error: ErrorInfo


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route may answer."""
    meaning = {
        400: "more than one X-API-Key header",
        401: "no X-API-Key header",
        403: "the key is not valid for this route",
        404: "unknown customer id(s), listed",
        409: "the reload was rejected; the previous model keeps serving",
        413: "body or batch larger than the limit (stated in the message)",
        415: "a body that is not Content-Type application/json, or is compressed",
        422: "invalid body: the field and customer index are named",
        503: "no model loaded yet (see /ready)",
    }
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}

"""The feature catalogue: every feature's name, family, window, unit and meaning, declared once.

Three consumers read this one list, so they cannot drift apart: ``features.build`` selects its
output columns by walking it (a family that computes a feature the catalogue lacks, or misses one it
lists, fails the build), ``features.dictionary`` renders ``docs/features.md`` from it, and later
stages (SHAP report, reason codes) look features up by name with :func:`describe`.

Two families are open-ended: ``events`` has counts and recency for every ``event_type`` found in
the events table, and ``static`` has one feature per extra column of ``customers``. They are
declared as patterns with a ``{event_type}`` or ``{attribute}`` placeholder; :func:`describe`
resolves concrete names such as ``events_count_90d_web_session``.

Time semantics shared by every feature: a cutoff date means 00:00 UTC of that day; features use
rows with timestamps strictly before the cutoff; an ``N``-day window is ``[cutoff - N days,
cutoff)``. Counts and sums are 0 when no row qualifies, "days since" values are null when nothing
happened within ``features.history_days``, and rates are null when their denominator is 0.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace

FEATURE_WINDOWS: tuple[int, ...] = (30, 90, 365)
"""The windows (days) of windowed features; longer history needs ``features.history_days``."""

EVENT_TYPE = "event_type"
ATTRIBUTE = "attribute"


class UnknownFeatureError(KeyError):
    """A feature name that neither the catalogue nor one of its patterns knows."""

    def __str__(self) -> str:
        return str(self.args[0])


class FeatureNameError(ValueError):
    """A data value (event type, customer column) cannot become a distinct feature name."""


@dataclass(frozen=True)
class FamilyDef:
    """A family of features: switched on or off together (``features.families`` in params).

    ``sources`` are the raw tables its features read; a feature whose table is absent is left out
    and the build logs which family lost what.
    """

    name: str
    title: str
    sources: tuple[str, ...]
    description: str


UNIT_RANGES: dict[str, tuple[float | None, float | None]] = {
    **{
        unit: (0.0, None)
        for unit in (
            "days",
            "hours",
            "orders",
            "tickets",
            "events",
            "subscriptions",
            "points",
            "sessions",
            "offers",
            "referrals",
            "currency",
            "ratio",
            "opens per e-mail",
            "clicks per e-mail",
            "abandons per cart",
        )
    },
    "relative change (-1 to 1)": (-1.0, 1.0),
    "share (0-1)": (0.0, 1.0),
    "flag (0/1)": (0.0, 1.0),
    "score (0-10)": (0.0, 10.0),
    "score (1-5)": (1.0, 5.0),
    "score points": (-10.0, 10.0),
}
"""Bounds of each unit's values. Rates per e-mail or cart may pass 1 (an e-mail opened twice);
``currency per month`` has none (a change in revenue may be negative)."""


@dataclass(frozen=True)
class FeatureDef:
    """One feature column (or, with a ``{placeholder}`` in ``name``, a pattern of columns).

    ``window_days`` is the window length for windowed features (``None`` otherwise: recency,
    lifecycle and static features); ``source`` is the raw table the feature needs.
    """

    name: str
    family: str
    source: str
    unit: str
    description: str
    window_days: int | None = None

    @property
    def is_pattern(self) -> bool:
        return "{" in self.name

    @property
    def valid_range(self) -> tuple[float | None, float | None]:
        """The values the feature can take, ``(low, high)`` with ``None`` for no bound, from its
        unit (:data:`UNIT_RANGES`): what a value sent from outside (a scoring request) must
        respect, since the model, the reasons and the offer rules would read anything else."""
        return UNIT_RANGES.get(self.unit, (None, None))

    def resolve(self, placeholder: str, value: str) -> FeatureDef:
        """The concrete feature of a pattern: ``{placeholder}`` replaced in name and description."""
        token = "{" + placeholder + "}"
        return replace(
            self,
            name=self.name.replace(token, value),
            description=self.description.replace(token, value),
        )

    def match(self, name: str) -> tuple[str, str] | None:
        """``(placeholder, value)`` when ``name`` is an instance of this pattern, else ``None``."""
        found = re.fullmatch(r"(.*)\{(\w+)\}(.*)", self.name)
        if found is None:
            return None
        prefix, placeholder, suffix = found.groups()
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix):
            return placeholder, name[len(prefix) : len(name) - len(suffix)]
        return None


FAMILIES: dict[str, FamilyDef] = {
    family.name: family
    for family in (
        FamilyDef(
            "rfm",
            "Recency, frequency, monetary value",
            ("orders",),
            "How recently, how often and how much the customer buys, and how that is changing. "
            "Only completed orders count as purchases; returned and cancelled ones count only "
            "in the return share.",
        ),
        FamilyDef(
            "lifecycle",
            "Tenure and lifecycle",
            ("customers", "orders"),
            "How long the customer has been with the business and how their first months went. "
            "These look at the whole history, not just `features.history_days`.",
        ),
        FamilyDef(
            "subscription",
            "Subscriptions",
            ("subscriptions",),
            "The customer's subscriptions (contractual businesses): the monthly fee running at the "
            "cutoff, how it moved, and subscriptions started and ended. A subscription counts "
            "from its first day; its end counts once it came before the day before the cutoff "
            "(an end on or after that day may have been notified later, so it reads as still "
            "running). Every subscription started before the cutoff is read, however long ago.",
        ),
        FamilyDef(
            "support",
            "Support",
            ("support_tickets",),
            "Support tickets by the day they were opened. A response, resolution or CSAT score "
            "counts only once it happened before the cutoff.",
        ),
        FamilyDef(
            "engagement",
            "Engagement",
            ("events",),
            "Marketing e-mail, web and cart behaviour from the events table "
            "(event types `email_sent`, `email_open`, `email_click`, `email_unsubscribe`, "
            "`web_session`, `cart_add`, `cart_abandon`).",
        ),
        FamilyDef(
            "voice",
            "Voice of the customer",
            ("events",),
            "Survey answers: events of type `survey_nps`, whose `value` is the score (0-10).",
        ),
        FamilyDef(
            "loyalty",
            "Loyalty and referrals",
            ("events",),
            "Loyalty programme activity (`loyalty_earn` / `loyalty_redeem` events, `value` = "
            "points) and `referral` events.",
        ),
        FamilyDef(
            "events",
            "Touchpoint events",
            ("events",),
            "Counts and recency for every `event_type` present in the events table before the "
            "latest cutoff, so a new touchpoint needs no code. `<event_type>` is the type in lower "
            "case with every run of other characters than letters and digits replaced by `_`, "
            "without a leading or trailing `_`.",
        ),
        FamilyDef(
            "offers",
            "Past offers",
            ("offers",),
            "Retention offers the customer received (treatment rows of the offers log; control "
            "rows received nothing) and redeemed.",
        ),
        FamilyDef(
            "static",
            "Static attributes",
            ("customers",),
            "Every column of `customers` beyond `customer_id` and `signup_date`, as exported "
            "(assumed not to change over time). Text columns stay text: categories are encoded "
            "in the model pipeline.",
        ),
    )
}


def _rfm() -> list[FeatureDef]:
    def rfm(name: str, unit: str, description: str, window: int | None = None) -> FeatureDef:
        return FeatureDef(name, "rfm", "orders", unit, description, window)

    features = [
        rfm(
            "rfm_days_since_last_order",
            "days",
            "Days from the latest completed order to the cutoff; null if none within the history.",
        )
    ]
    features += [
        rfm(f"rfm_orders_{days}d", "orders", f"Completed orders in the {days} days before.", days)
        for days in FEATURE_WINDOWS
    ]
    features += [
        rfm(
            f"rfm_spend_{days}d",
            "currency",
            f"Amount paid for completed orders in the {days} days before.",
            days,
        )
        for days in FEATURE_WINDOWS
    ]
    features.append(
        rfm(
            "rfm_avg_basket_365d",
            "currency",
            "Average amount per completed order in the 365 days before; null without orders.",
            365,
        )
    )
    for days in (30, 90):
        for what, noun in (("spend", "amount spent"), ("orders", "number of completed orders")):
            features.append(
                rfm(
                    f"rfm_{what}_trend_{days}d",
                    "relative change (-1 to 1)",
                    f"Change in the {noun} between the last {days} days and the {days} days "
                    "before them: (last - previous) / (last + previous). -1 = stopped, "
                    "0 = steady, 1 = new; null when both are 0.",
                    days,
                )
            )
    features += [
        rfm(
            "rfm_gap_mean_days_365d",
            "days",
            "Mean gap between consecutive completed orders, over orders in the 365 days before "
            "(the gap to the order preceding the first of them counts); null without a gap.",
            365,
        ),
        rfm(
            "rfm_gap_std_days_365d",
            "days",
            "Sample standard deviation of those gaps; null with fewer than two gaps.",
            365,
        ),
        rfm(
            "rfm_gap_ratio",
            "ratio",
            "Current gap (days since the last order) divided by the mean gap: above 1 means "
            "the customer is later than usual; null without a mean gap.",
        ),
        rfm(
            "rfm_return_share_365d",
            "share (0-1)",
            "Returned orders / (completed + returned orders) in the 365 days before; null without "
            "either.",
            365,
        ),
        rfm(
            "rfm_discount_share_365d",
            "share (0-1)",
            "Discount / (amount paid + discount) over completed orders in the 365 days before; "
            "null without orders or without a `discount_amount` column.",
            365,
        ),
    ]
    return features


def _lifecycle() -> list[FeatureDef]:
    return [
        FeatureDef(
            "lifecycle_days_since_signup",
            "lifecycle",
            "customers",
            "days",
            "Days from `signup_date` to the cutoff (customers who sign up on or after the cutoff "
            "are not in its population).",
        ),
        FeatureDef(
            "lifecycle_days_since_first_order",
            "lifecycle",
            "orders",
            "days",
            "Days from the first completed order ever to the cutoff; null before the first order.",
        ),
        FeatureDef(
            "lifecycle_orders_first_90d",
            "lifecycle",
            "orders",
            "orders",
            "Completed orders in the 90 days starting at the first completed order (so far, when "
            "those 90 days are not over at the cutoff); 0 before the first order.",
        ),
    ]


def _subscription() -> list[FeatureDef]:
    def subscription(
        name: str, unit: str, description: str, window: int | None = None
    ) -> FeatureDef:
        return FeatureDef(name, "subscription", "subscriptions", unit, description, window)

    return [
        subscription(
            "subscription_running",
            "subscriptions",
            "Subscriptions running at the cutoff: started before it and not ended before the day "
            "before it.",
        ),
        subscription(
            "subscription_mrr",
            "currency per month",
            "Monthly recurring revenue (`mrr`) of the subscriptions running at the cutoff; 0 "
            "without one.",
        ),
        subscription(
            "subscription_mrr_change_90d",
            "currency per month",
            "That monthly revenue minus the one of the subscriptions running 90 days earlier: "
            "negative after a downgrade or a cancellation, positive after an upgrade.",
            90,
        ),
        subscription(
            "subscription_started_365d",
            "subscriptions",
            "Subscriptions started in the 365 days before (renewals, plan changes, new ones).",
            365,
        ),
        subscription(
            "subscription_ended_365d",
            "subscriptions",
            "Subscriptions that ended in the 365 days before (and before the day before the "
            "cutoff).",
            365,
        ),
        subscription(
            "subscription_days_since_first_start",
            "days",
            "Days from the start of the customer's first subscription to the cutoff; null "
            "without one.",
        ),
        subscription(
            "subscription_days_since_current_start",
            "days",
            "Days from the start of the latest running subscription to the cutoff; null when "
            "none is running.",
        ),
        subscription(
            "subscription_days_since_last_end",
            "days",
            "Days from the latest subscription end (before the day before the cutoff) to the "
            "cutoff; null if none ended.",
        ),
    ]


def _support() -> list[FeatureDef]:
    def support(name: str, unit: str, description: str, window: int | None = None) -> FeatureDef:
        return FeatureDef(name, "support", "support_tickets", unit, description, window)

    features = [
        support(
            f"support_tickets_{days}d",
            "tickets",
            f"Tickets opened in the {days} days before.",
            days,
        )
        for days in FEATURE_WINDOWS
    ]
    features += [
        support(
            "support_first_response_hours_mean_365d",
            "hours",
            "Mean hours from opening to first response, over tickets opened in the 365 days before "
            "and answered before the cutoff; null without such tickets.",
            365,
        ),
        support(
            "support_first_response_hours_max_365d",
            "hours",
            "Slowest first response (hours) among tickets opened in the 365 days before; a ticket "
            "still unanswered at the cutoff counts with the hours it has waited so far.",
            365,
        ),
        support(
            "support_unresolved_tickets",
            "tickets",
            "Tickets opened within the history and not resolved before the cutoff.",
        ),
        support(
            "support_last_csat",
            "score (1-5)",
            "CSAT of the most recently resolved ticket (resolved before the cutoff) that has a "
            "score (of tickets resolved at the same instant, the highest); null if none within "
            "the history.",
        ),
        support(
            "support_days_since_last_ticket",
            "days",
            "Days from the latest ticket opened to the cutoff; null if none within the history.",
        ),
    ]
    return features


def _engagement() -> list[FeatureDef]:
    def engagement(name: str, unit: str, description: str, window: int) -> FeatureDef:
        return FeatureDef(name, "engagement", "events", unit, description, window)

    return [
        *(
            engagement(
                f"engagement_email_open_rate_{days}d",
                "opens per e-mail",
                f"`email_open` / `email_sent` events in the {days} days before; null when no "
                "e-mail was sent.",
                days,
            )
            for days in (30, 90)
        ),
        engagement(
            "engagement_email_click_rate_90d",
            "clicks per e-mail",
            "`email_click` / `email_sent` events in the 90 days before; null when no e-mail was "
            "sent.",
            90,
        ),
        engagement(
            "engagement_email_unsubscribes_365d",
            "events",
            "`email_unsubscribe` events in the 365 days before.",
            365,
        ),
        *(
            engagement(
                f"engagement_web_sessions_{days}d",
                "sessions",
                f"`web_session` events in the {days} days before.",
                days,
            )
            for days in (30, 90)
        ),
        engagement(
            "engagement_cart_abandon_rate_90d",
            "abandons per cart",
            "`cart_abandon` / `cart_add` events in the 90 days before; null without `cart_add`.",
            90,
        ),
    ]


def _voice() -> list[FeatureDef]:
    return [
        FeatureDef(
            "voice_last_nps",
            "voice",
            "events",
            "score (0-10)",
            "The latest NPS answer (`survey_nps` value; of answers at the same instant, the "
            "highest); null if none within the history.",
        ),
        FeatureDef(
            "voice_nps_change",
            "voice",
            "events",
            "score points",
            "Latest minus earliest NPS answer within the history; null with fewer than two.",
        ),
        FeatureDef(
            "voice_days_since_last_nps",
            "voice",
            "events",
            "days",
            "Days from the latest `survey_nps` event to the cutoff; null if none within the "
            "history.",
        ),
    ]


def _loyalty() -> list[FeatureDef]:
    def loyalty(name: str, unit: str, description: str, window: int | None = None) -> FeatureDef:
        return FeatureDef(name, "loyalty", "events", unit, description, window)

    return [
        loyalty(
            "loyalty_member",
            "flag (0/1)",
            "1 when the customer earned or redeemed loyalty points within the history.",
        ),
        *(
            loyalty(
                f"loyalty_points_earned_{days}d",
                "points",
                f"Points earned (`loyalty_earn` values) in the {days} days before.",
                days,
            )
            for days in (90, 365)
        ),
        loyalty(
            "loyalty_points_redeemed_365d",
            "points",
            "Points redeemed (`loyalty_redeem` values) in the 365 days before.",
            365,
        ),
        loyalty(
            "loyalty_days_since_last_redeem",
            "days",
            "Days from the latest `loyalty_redeem` to the cutoff; null if none within the history.",
        ),
        loyalty(
            "loyalty_referrals_365d",
            "referrals",
            "`referral` events (friends referred) in the 365 days before.",
            365,
        ),
    ]


def _events() -> list[FeatureDef]:
    placeholder = "{" + EVENT_TYPE + "}"
    return [
        *(
            FeatureDef(
                f"events_count_{days}d_{placeholder}",
                "events",
                "events",
                "events",
                f"`{placeholder}` events in the {days} days before.",
                days,
            )
            for days in FEATURE_WINDOWS
        ),
        FeatureDef(
            f"events_days_since_{placeholder}",
            "events",
            "events",
            "days",
            f"Days from the latest `{placeholder}` event to the cutoff; null if none within the "
            "history.",
        ),
    ]


def _offers() -> list[FeatureDef]:
    def offers(name: str, unit: str, description: str, window: int | None = None) -> FeatureDef:
        return FeatureDef(name, "offers", "offers", unit, description, window)

    return [
        offers(
            "offers_received_365d",
            "offers",
            "Offers sent to the customer in the 365 days before.",
            365,
        ),
        offers(
            "offers_redeemed_365d",
            "offers",
            "Of those, offers redeemed before the cutoff.",
            365,
        ),
        offers(
            "offers_days_since_last_offer",
            "days",
            "Days from the latest offer sent to the cutoff; null if none within the history.",
        ),
    ]


def _static() -> list[FeatureDef]:
    placeholder = "{" + ATTRIBUTE + "}"
    return [
        FeatureDef(
            f"static_{placeholder}",
            "static",
            "customers",
            "as exported",
            f"The `{placeholder}` column of `customers` (text stays text, a category).",
        )
    ]


CATALOGUE: tuple[FeatureDef, ...] = (
    *_rfm(),
    *_lifecycle(),
    *_subscription(),
    *_support(),
    *_engagement(),
    *_voice(),
    *_loyalty(),
    *_events(),
    *_offers(),
    *_static(),
)
"""Every feature and feature pattern, in output column order."""


def feature_slug(text: str) -> str:
    """``text`` as a feature-name part: case-folded letters and digits (any script), other runs
    of characters → ``_``.

    Raises :class:`FeatureNameError` when nothing usable is left (e.g. ``"---"``).
    """
    slug = re.sub(r"[\W_]+", "_", text.strip().casefold()).strip("_")
    if not slug:
        raise FeatureNameError(f"{text!r} has no letters or digits to name a feature after")
    return slug


def unique_slugs(values: Iterable[str], what: str) -> dict[str, str]:
    """``{slug: value}`` sorted by slug; two values sharing a slug raise FeatureNameError."""
    slugs: dict[str, str] = {}
    for value in values:
        slug = feature_slug(value)
        if slug in slugs and slugs[slug] != value:
            raise FeatureNameError(
                f"{what} {slugs[slug]!r} and {value!r} both become feature name part {slug!r}; "
                f"rename one of them in the export"
            )
        slugs[slug] = value
    return dict(sorted(slugs.items()))


def feature_definitions(
    *,
    event_types: Sequence[str] | None = None,
    static_attributes: Sequence[str] | None = None,
    families: Iterable[str] | None = None,
) -> list[FeatureDef]:
    """The catalogue in output order, patterns expanded where their values are given.

    ``event_types`` / ``static_attributes`` are raw values (slugged here); ``None`` keeps the
    pattern itself (what the dictionary documents). ``families`` restricts to those families.
    """
    expansions = {
        EVENT_TYPE: None if event_types is None else list(unique_slugs(event_types, "event types")),
        ATTRIBUTE: None
        if static_attributes is None
        else list(unique_slugs(static_attributes, "customers columns")),
    }
    wanted = None if families is None else set(families)
    resolved: list[FeatureDef] = []
    for feature in CATALOGUE:
        if wanted is not None and feature.family not in wanted:
            continue
        match = feature.match(feature.name)
        if match is None:
            resolved.append(feature)
            continue
        values = expansions[match[0]]
        if values is None:
            resolved.append(feature)
        else:
            resolved += [feature.resolve(match[0], value) for value in values]
    return resolved


def describe(name: str) -> FeatureDef:
    """The definition of feature ``name``, concrete or an instance of a pattern.

    ``describe("events_count_90d_web_session")`` gives the ``events_count_90d_{event_type}``
    pattern with ``web_session`` filled in. Raises :class:`UnknownFeatureError` otherwise.
    """
    for feature in CATALOGUE:
        if not feature.is_pattern and feature.name == name:
            return feature
    for feature in CATALOGUE:
        match = feature.match(name) if feature.is_pattern else None
        if match is not None and feature_slug(match[1]) == match[1]:
            return feature.resolve(*match)
    raise UnknownFeatureError(
        f"unknown feature {name!r}: not in the catalogue (features/definitions.py) and no "
        f"pattern matches; known families: {', '.join(FAMILIES)}"
    )


def definitions_hash(features: Iterable[FeatureDef]) -> str:
    """SHA-256 of the definitions (names, families, sources, units, meanings, windows).

    The manifest and the service report it, so a model and a feature table built from different
    definitions can be told apart.
    """
    payload = json.dumps([asdict(feature) for feature in features], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()

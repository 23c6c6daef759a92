"""Plain-language wording of each feature for reason codes, next to the feature definitions.

A reason code says *why* one customer's churn risk is high in words a CRM agent can read out:
"No order for 74 days (usual gap 21 days)". Each feature (or feature pattern) of the catalogue in
``features.definitions`` has one :class:`ReasonTemplate` here: the reason group it belongs to and
format strings tried in order until one has every value it quotes. Groups (:data:`GROUPS`) gather
correlated features ("support friction" holds every support feature, the per-event-type e-mail
counts join "e-mail disengagement"), so a driver split over ten columns is still one reason, and
each group says whether the business can act on it.

Format strings name feature values as fields: ``{value}`` is the feature itself, any other field
is another feature of the same row (``{rfm_gap_mean_days_365d}``), ``{window}`` the feature's
window and ``{event}`` / ``{attribute}`` a pattern's placeholder. Format specs beyond Python's:
``days``, ``hours``, ``count:<noun>``, ``pct``, ``money``, ``updown``, ``score``, ``text``,
``yesno``, ``signed`` (see :class:`_Formatter`). A field whose value is missing skips the string.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from core.layout import MISSING_CATEGORY
from features.definitions import CATALOGUE, EVENT_TYPE, FeatureDef, describe


@dataclass(frozen=True)
class GroupState:
    """A customer's state that tells a group's story better than any of its features.

    In a row where ``feature`` ``holds`` (``"no"``: a yes/no input says no; ``"known"``: it has a
    value), the group reads ``text`` (which may quote the feature as ``{value}``), whatever its
    lead. For a customer outside the loyalty programme "no loyalty points earned" is a
    consequence, and for one who unsubscribed "no e-mail opened" is: the state is the story.
    """

    feature: str
    holds: Literal["no", "known"]
    text: str


@dataclass(frozen=True)
class ReasonGroup:
    """Features that tell one story; ``actionable`` when the business can change it.

    ``states``: tried in order; the first that holds in a row words the group there.
    """

    name: str
    family: str
    actionable: bool
    action: str
    states: tuple[GroupState, ...] = ()


@dataclass(frozen=True)
class Regroup:
    """A row-dependent group: in a row where ``when`` is null or more than ``more_than``, the
    template's feature counts in ``group`` instead of its own."""

    group: str
    when: str
    more_than: float


@dataclass(frozen=True)
class ReasonTemplate:
    """Wording of one feature (``feature`` may be a catalogue pattern such as
    ``events_count_30d_{event_type}``).

    ``texts`` are tried in order when the feature raises risk, ``lowering`` (or ``texts`` when
    empty) when it lowers it; ``missing`` is said when the feature's own value is null.
    """

    feature: str
    group: str
    texts: tuple[str, ...]
    lowering: tuple[str, ...] = ()
    missing: str | None = None
    regroup: Regroup | None = None


GROUPS: dict[str, ReasonGroup] = {
    group.name: group
    for group in (
        ReasonGroup("order recency", "rfm", True, "win-back reminder or replenishment nudge"),
        ReasonGroup("purchase decline", "rfm", True, "personal recommendations, basket incentive"),
        ReasonGroup(
            "returns and discounts", "rfm", True, "check product fit; avoid discount habit"
        ),
        ReasonGroup("tenure", "lifecycle", False, "none: tenure cannot be changed"),
        ReasonGroup("early experience", "lifecycle", False, "none: the first months are past"),
        ReasonGroup(
            "subscription changes",
            "subscription",
            True,
            "review plan fit and price before the next renewal",
        ),
        ReasonGroup("subscription tenure", "subscription", False, "none: tenure cannot be changed"),
        ReasonGroup(
            "support friction", "support", True, "fast-track support, resolve open tickets"
        ),
        ReasonGroup(
            "e-mail disengagement",
            "engagement",
            True,
            "fewer, more relevant e-mails",
            states=(
                GroupState(
                    "events_days_since_email_unsubscribe",
                    "known",
                    "Unsubscribed from marketing e-mails {value:days} ago",
                ),
            ),
        ),
        ReasonGroup("site and cart activity", "engagement", True, "cart reminders, app nudges"),
        ReasonGroup("low satisfaction", "voice", True, "call back detractors, fix their issue"),
        ReasonGroup(
            "loyalty inactivity",
            "loyalty",
            True,
            "loyalty re-activation, points reminder",
            states=(
                GroupState("static_loyalty_member", "no", "Not enrolled in the loyalty programme"),
            ),
        ),
        ReasonGroup("other touchpoints", "events", False, "look at the touchpoint first"),
        ReasonGroup("offer history", "offers", True, "adjust offer frequency and type"),
        ReasonGroup("customer profile", "static", False, "none: profile attributes"),
    )
}


def _t(
    feature: str,
    group: str,
    *texts: str,
    lowering: tuple[str, ...] = (),
    missing: str | None = None,
    regroup: Regroup | None = None,
) -> ReasonTemplate:
    return ReasonTemplate(feature, group, tuple(texts), lowering, missing, regroup)


_WINDOWS = (30, 90, 365)
_SHORT_WINDOW_GROUP = "order recency"


def _idle_for(days: int) -> Regroup:
    """A purchase-decline feature whose (recent) window of ``days`` holds no order joins order
    recency: it says what the days since the last order say, and as a second reason it repeated
    the first ("No order for 301 days", "No spending in the last 180 days")."""
    return Regroup(_SHORT_WINDOW_GROUP, "rfm_days_since_last_order", days)


TEMPLATES: tuple[ReasonTemplate, ...] = (
    # rfm
    _t(
        "rfm_days_since_last_order",
        "order recency",
        "No order for {value:days} (usual gap {rfm_gap_mean_days_365d:gap})",
        "No order for {value:days}",
        lowering=(
            "Last order {value:days} ago (usual gap {rfm_gap_mean_days_365d:gap})",
            "Last order {value:days} ago",
        ),
        missing="No order within the history",
    ),
    # Orders and spend over the last 30/90 days say almost what the days since the last order
    # say: in one group they make one reason, not two of the three slots ("No order for 256 days"
    # and "No orders in the last 90 days"). Over a year they measure volume: purchase decline.
    *(
        _t(
            f"rfm_orders_{days}d",
            _SHORT_WINDOW_GROUP if days < 365 else "purchase decline",
            f"{{value:count:order}} in the last {days} days",
            regroup=None if days < 365 else _idle_for(days),
        )
        for days in _WINDOWS
    ),
    *(
        _t(
            f"rfm_spend_{days}d",
            _SHORT_WINDOW_GROUP if days < 365 else "purchase decline",
            f"Spent {{value:money}} in the last {days} days",
            regroup=None if days < 365 else _idle_for(days),
        )
        for days in _WINDOWS
    ),
    _t(
        "rfm_avg_basket_365d",
        "purchase decline",
        "Average basket {value:money} over the last year",
        missing="No completed order in the last year",
        regroup=_idle_for(365),
    ),
    *(
        _t(
            f"rfm_{what}_trend_{days}d",
            "purchase decline",
            f"{noun} {{value:updown}} over the last {days} days compared with the {days} before",
            missing=f"No {noun.lower()} in the last {2 * days} days",
            regroup=_idle_for(days),
        )
        for days in (30, 90)
        for what, noun in (("spend", "Spending"), ("orders", "Orders"))
    ),
    _t(
        "rfm_gap_mean_days_365d",
        "order recency",
        "Usually orders every {value:gap}; last order {rfm_days_since_last_order:days} ago",
        "Usually orders every {value:gap}",
        "Orders come close together: under a day apart on average",
        missing="Too few orders to know a usual gap",
    ),
    _t(
        "rfm_gap_std_days_365d",
        "order recency",
        "Irregular ordering: gaps vary by {value:days} around {rfm_gap_mean_days_365d:gap}",
        "Irregular ordering: gaps vary by {value:days}",
        lowering=("Regular ordering: gaps vary by only {value:days}",),
        missing="Too few orders to know how regular they are",
    ),
    _t(
        "rfm_gap_ratio",
        "order recency",
        "No order for {rfm_days_since_last_order:days} (usual gap {rfm_gap_mean_days_365d:gap})",
        "Order overdue: {value:.1f}× the usual gap",
        lowering=(
            "Last order {rfm_days_since_last_order:days} ago, within the usual gap of "
            "{rfm_gap_mean_days_365d:gap}",
            "Ordering on schedule: {value:.1f}× the usual gap",
        ),
        missing="Too few orders to know a usual gap",
    ),
    _t(
        "rfm_return_share_365d",
        "returns and discounts",
        "Returned {value:pct} of orders in the last year",
    ),
    _t(
        "rfm_discount_share_365d",
        "returns and discounts",
        "{value:pct} of spending was discount in the last year",
    ),
    # lifecycle
    _t(
        "lifecycle_days_since_signup",
        "tenure",
        "Customer for {value:days}",
    ),
    _t(
        "lifecycle_days_since_first_order",
        "tenure",
        "First order {value:days} ago",
        missing="Has not ordered yet",
    ),
    _t(
        "lifecycle_orders_first_90d",
        "early experience",
        "{value:count:order} in the first 90 days",
    ),
    # subscription
    _t(
        "subscription_running",
        "subscription changes",
        "{value:count:subscription} running",
    ),
    _t(
        "subscription_mrr",
        "subscription changes",
        "Pays {value:money} a month",
    ),
    _t(
        "subscription_mrr_change_90d",
        "subscription changes",
        "Monthly fee changed by {value:signed} in the last 90 days",
    ),
    _t(
        "subscription_started_365d",
        "subscription changes",
        "{value:count:subscription} started in the last year",
    ),
    _t(
        "subscription_ended_365d",
        "subscription changes",
        "{value:count:subscription} ended in the last year",
    ),
    _t(
        "subscription_days_since_first_start",
        "subscription tenure",
        "First subscribed {value:days} ago",
        missing="Never subscribed",
    ),
    _t(
        "subscription_days_since_current_start",
        "subscription tenure",
        "Current subscription started {value:days} ago",
        missing="No subscription running",
    ),
    _t(
        "subscription_days_since_last_end",
        "subscription changes",
        "Last subscription ended {value:days} ago",
        missing="No subscription has ended",
    ),
    # support
    *(
        _t(
            f"support_tickets_{days}d",
            "support friction",
            f"{{value:count:support ticket}} in {days} days; slowest first response in the "
            "last year {support_first_response_hours_max_365d:hours}",
            f"{{value:count:support ticket}} in {days} days",
        )
        for days in _WINDOWS
    ),
    _t(
        "support_first_response_hours_mean_365d",
        "support friction",
        "Support answers took {value:hours} on average ({support_tickets_365d:count:ticket} "
        "in the last year)",
        "Support answers took {value:hours} on average",
        missing="No answered support ticket in the last year",
    ),
    _t(
        "support_first_response_hours_max_365d",
        "support friction",
        "Slowest first response in the last year {value:hours} "
        "({support_tickets_365d:count:support ticket})",
        "Slowest support first response {value:hours}",
        missing="No support ticket in the last year",
    ),
    _t(
        "support_unresolved_tickets",
        "support friction",
        "{value:count:support ticket} still unresolved",
    ),
    _t(
        "support_last_csat",
        "support friction",
        "Rated the last support contact {value:score} of 5",
        missing="No rated support contact",
    ),
    _t(
        "support_days_since_last_ticket",
        "support friction",
        "Last support ticket {value:days} ago",
        missing="Never contacted support",
    ),
    # engagement
    *(
        _t(
            f"engagement_email_open_rate_{days}d",
            "e-mail disengagement",
            f"Opened {{value:pct}} of marketing e-mails in the last {days} days",
            missing=f"No marketing e-mail sent in the last {days} days",
        )
        for days in (30, 90)
    ),
    _t(
        "engagement_email_click_rate_90d",
        "e-mail disengagement",
        "Clicked {value:pct} of marketing e-mails in the last 90 days",
        missing="No marketing e-mail sent in the last 90 days",
    ),
    _t(
        "engagement_email_unsubscribes_365d",
        "e-mail disengagement",
        "Unsubscribed from marketing e-mails {value:count:time} in the last year",
    ),
    *(
        _t(
            f"engagement_web_sessions_{days}d",
            "site and cart activity",
            f"{{value:count:web session}} in the last {days} days",
        )
        for days in (30, 90)
    ),
    _t(
        "engagement_cart_abandon_rate_90d",
        "site and cart activity",
        "Abandoned {value:pct} of carts in the last 90 days",
        missing="No cart filled in the last 90 days",
    ),
    # voice
    _t(
        "voice_last_nps",
        "low satisfaction",
        "Last NPS answer {value:score} of 10",
        missing="Never answered an NPS survey",
    ),
    _t(
        "voice_nps_change",
        "low satisfaction",
        "NPS changed by {value:signed} points since the first answer (now {voice_last_nps:score})",
        "NPS changed by {value:signed} points since the first answer",
        missing="Fewer than two NPS answers so far",
    ),
    _t(
        "voice_days_since_last_nps",
        "low satisfaction",
        "Last NPS answer {value:days} ago (score {voice_last_nps:score})",
        "Last NPS answer {value:days} ago",
        missing="Never answered an NPS survey",
    ),
    # loyalty
    _t(
        "loyalty_member",
        "loyalty inactivity",
        "Earned or redeemed loyalty points within the history: {value:yesno}",
    ),
    *(
        _t(
            f"loyalty_points_earned_{days}d",
            "loyalty inactivity",
            f"Earned {{value:count:loyalty point}} in the last {days} days",
        )
        for days in (90, 365)
    ),
    _t(
        "loyalty_points_redeemed_365d",
        "loyalty inactivity",
        "Redeemed {value:count:loyalty point} in the last year",
    ),
    _t(
        "loyalty_days_since_last_redeem",
        "loyalty inactivity",
        "Last redeemed loyalty points {value:days} ago",
        missing="Never redeemed loyalty points",
    ),
    _t(
        "loyalty_referrals_365d",
        "loyalty inactivity",
        "Referred {value:count:friend} in the last year",
    ),
    # events (one group per kind of touchpoint, see event_group)
    *(
        _t(
            f"events_count_{days}d_{{{EVENT_TYPE}}}",
            "other touchpoints",
            f"{{value:count:{{event}} event}} in the last {days} days",
        )
        for days in _WINDOWS
    ),
    _t(
        f"events_days_since_{{{EVENT_TYPE}}}",
        "other touchpoints",
        "Last {event} {value:days} ago",
        missing="No {event} within the history",
    ),
    # offers
    _t(
        "offers_received_365d",
        "offer history",
        "Received {value:count:retention offer} in the last year "
        "(redeemed {offers_redeemed_365d:int})",
        "Received {value:count:retention offer} in the last year",
    ),
    _t(
        "offers_redeemed_365d",
        "offer history",
        "Redeemed {value:int} of {offers_received_365d:count:retention offer} in the last year",
        "Redeemed {value:count:retention offer} in the last year",
    ),
    _t(
        "offers_days_since_last_offer",
        "offer history",
        "Last retention offer {value:days} ago",
        missing="Never received a retention offer",
    ),
    # static
    _t("static_plan", "customer profile", "On the {value:text} plan", missing="Plan unknown"),
    _t(
        "static_acquisition_channel",
        "customer profile",
        "Joined through {value:text}",
        missing="Acquisition channel unknown",
    ),
    _t("static_country", "customer profile", "Based in {value:text}", missing="Country unknown"),
    _t(
        "static_loyalty_member",
        "customer profile",
        "Signed up to the loyalty programme: {value:yesno}",
    ),
    _t(
        "static_{attribute}",
        "customer profile",
        "{attribute}: {value:text}",
        missing="{attribute} unknown",
    ),
)
"""One entry per catalogue feature or pattern; ``static_{attribute}`` covers extra columns."""

_EVENT_GROUPS: tuple[tuple[str, str], ...] = (
    ("email_", "e-mail disengagement"),
    ("web_", "site and cart activity"),
    ("app_", "site and cart activity"),
    ("cart_", "site and cart activity"),
    ("loyalty_", "loyalty inactivity"),
    ("referral", "loyalty inactivity"),
    ("survey_", "low satisfaction"),
)
"""Which group an event type's counts and recency join, by the slug's start."""

_BY_NAME = {template.feature: template for template in TEMPLATES}


@dataclass(frozen=True)
class ResolvedTemplate:
    """A feature's template with its definition, group and placeholder values filled in."""

    template: ReasonTemplate
    definition: FeatureDef
    group: ReasonGroup
    fields: Mapping[str, str]


@cache
def template_for(feature: str) -> ResolvedTemplate:
    """The template of ``feature`` (a concrete name), its group and its placeholder fields.

    Cached: reason codes look up every feature of every customer. Raises
    ``features.definitions.UnknownFeatureError`` for a name the catalogue does not know.
    """
    definition = describe(feature)
    fields: dict[str, str] = {
        "window": "" if definition.window_days is None else str(definition.window_days)
    }
    template = _BY_NAME.get(feature)
    group_name = None
    if template is None:
        pattern = next(f for f in CATALOGUE if f.is_pattern and f.match(feature))
        placeholder, value = pattern.match(feature)  # type: ignore[misc]
        template = _BY_NAME[pattern.name]
        if placeholder == EVENT_TYPE:
            fields["event"] = value.replace("_", " ")
            group_name = event_group(value)
        else:
            fields["attribute"] = value.replace("_", " ").capitalize()
    group = GROUPS[group_name or template.group]
    return ResolvedTemplate(template, definition, group, fields)


def event_group(event_type: str) -> str:
    """The reason group of an event type's features (``other touchpoints`` when unknown)."""
    for prefix, group in _EVENT_GROUPS:
        if event_type.startswith(prefix):
            return group
    return "other touchpoints"


def render(feature: str, values: Mapping[str, Any], raises: bool = True) -> str:
    """The reason text for ``feature`` given the row's feature ``values``.

    The first format string whose fields all have values wins; a null feature value says the
    template's ``missing`` text; with nothing usable, the feature's unit and value are stated.
    """
    resolved = template_for(feature)
    template = resolved.template
    own = values.get(feature)
    fields = dict(resolved.fields)
    if _is_missing(own) and template.missing is not None:
        return template.missing.format(**fields)
    candidates = template.texts if raises or not template.lowering else template.lowering
    for text in (*candidates, *template.texts):
        rendered = _FORMATTER.try_format(text, values, own, fields)
        if rendered is not None:
            return rendered[:1].upper() + rendered[1:]
    shown = "unknown" if _is_missing(own) else _FORMATTER.format_field(own, "")
    return f"{feature.replace('_', ' ')}: {shown} ({resolved.definition.unit})"


def state_text(group: ReasonGroup, values: Mapping[str, Any]) -> str | None:
    """The text of the first of ``group``'s states that holds in the row, or None."""
    for state in group.states:
        value = values.get(state.feature)
        holds = is_no(value) if state.holds == "no" else not _is_missing(value)
        if holds:
            rendered = _FORMATTER.try_format(state.text, values, value, {})
            if rendered is not None:
                return rendered
    return None


_NO = frozenset({"0", "0.0", "false", "no", "n", "f"})


def is_no(value: Any) -> bool:
    """A yes/no value that says no (``0``, ``False``, ``"false"``, ``"no"``, ...); anything else,
    a missing value or an unreadable one (``"unknown"``, ``pd.NA``), is not taken for no."""
    return not _is_missing(value) and str(value).strip().lower() in _NO


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value in ("", MISSING_CATEGORY)
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


class _MissingField(LookupError):
    """A field a format string quotes has no value in this row."""


class _Formatter(string.Formatter):
    """``str.format`` with the reason-code specs; missing values raise :class:`_MissingField`."""

    def try_format(
        self, text: str, values: Mapping[str, Any], own: Any, fields: Mapping[str, str]
    ) -> str | None:
        try:
            return self.vformat(text, (), _Row(values, own, fields))
        except _MissingField:
            return None

    def format_field(self, value: Any, spec: str) -> str:
        kind, _, argument = spec.partition(":")
        if kind in _SPECS:
            return _SPECS[kind](value, argument)
        if isinstance(value, float) and not spec:
            return f"{value:g}"
        return super().format_field(value, spec)


class _Row(dict):  # type: ignore[type-arg]
    def __init__(self, values: Mapping[str, Any], own: Any, fields: Mapping[str, str]) -> None:
        super().__init__()
        self.values, self.own, self.fields = values, own, fields

    def __getitem__(self, key: str) -> Any:
        if key in self.fields:
            return self.fields[key]
        value = self.own if key == "value" else self.values.get(key)
        if _is_missing(value):
            raise _MissingField(key)
        return value


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}s" if count else f"no {noun}s"


def _days(value: Any, _: str) -> str:
    days = float(value)
    if days < 1:
        return "less than a day"
    return _plural(round(days), "day")


def _gap(value: Any, argument: str) -> str:
    """A usual gap between orders in days; under a day (two orders on one day) it is no usual
    gap to quote, so the text that quotes it gives way to the template's next one."""
    if float(value) < 1:
        raise _MissingField("a usual gap under a day")
    return _days(value, argument)


def _hours(value: Any, _: str) -> str:
    hours = float(value)
    return f"{hours:.1f} h" if hours < 10 else f"{round(hours)} h"


def _count(value: Any, noun: str) -> str:
    return _plural(round(float(value)), noun or "time")


def _updown(value: Any, _: str) -> str:
    change = float(value)
    if change <= -0.999:
        return "stopped"
    if change >= 0.999:
        return "started"
    if abs(change) < 0.05:
        return "steady"
    return "down" if change < 0 else "up"


def _score(value: Any, _: str) -> str:
    score = float(value) + 0.0  # -0.0 would print as "-0"
    return f"{score:.0f}" if score == round(score) else f"{score:.1f}"


def _text(value: Any, _: str) -> str:
    return str(value).replace("_", " ")


def _yesno(value: Any, _: str) -> str:
    return "yes" if str(value).strip().lower() in ("1", "1.0", "true", "yes") else "no"


_SPECS = {
    "days": _days,
    "gap": _gap,
    "hours": _hours,
    "count": _count,
    "int": lambda value, _: str(round(float(value))),
    "pct": lambda value, _: f"{float(value):.0%}",
    "money": lambda value, _: f"{float(value):,.2f}",
    "updown": _updown,
    "score": _score,
    "text": _text,
    "yesno": _yesno,
    "signed": lambda value, _: f"{float(value):+g}",
}

_FORMATTER = _Formatter()

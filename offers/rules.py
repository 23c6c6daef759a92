"""Who may receive which offer: catalog eligibility and contact rules, from feature rows.

Everything here reads the point-in-time feature columns, so the batch stage and the scoring
service apply exactly the same rules to the same inputs. A customer is blocked from every offer
by a contact rule (email unsubscribe, cooldown, cap) and from single offers by their
eligibility (tenure, membership, country).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.config import CatalogOffer, OffersConfig

TENURE = "lifecycle_days_since_signup"
MEMBER = "loyalty_member"
COUNTRY = "static_country"
UNSUBSCRIBED = "events_days_since_email_unsubscribe"
DAYS_SINCE_OFFER = "offers_days_since_last_offer"
OFFERS_365D = "offers_received_365d"
CONTACT_COLUMNS = (UNSUBSCRIBED, DAYS_SINCE_OFFER, OFFERS_365D)
UNSUBSCRIBE_COUNTS = (
    "events_count_30d_email_unsubscribe",
    "events_count_90d_email_unsubscribe",
    "events_count_365d_email_unsubscribe",
    "engagement_email_unsubscribes_365d",
)
"""Counts of unsubscribes in windows, read (where present) as evidence next to :data:`UNSUBSCRIBED`:
the features keep them consistent, but a scoring request may not."""


NO_HISTORY: dict[str, dict[str, float]] = {
    "offers": {DAYS_SINCE_OFFER: np.nan, OFFERS_365D: 0.0},
    "events": {UNSUBSCRIBED: np.nan, MEMBER: 0},
}
"""What a rule's columns read as when the export has no such table at all (both are optional in
the data contract), as the features would compute them from an empty table: a CRM that logs no
offers sent none; one that logs no events recorded no unsubscribe and no loyalty activity (the
``loyalty_member`` feature's definition), so members-only offers go to nobody. A feature family
switched off in params while its table exists stays an error (:class:`RuleInputError`): that
history exists, and the rules would be ignoring it."""


NO_EVENT_OF_TYPE: dict[str, dict[str, float]] = {"email_unsubscribe": {UNSUBSCRIBED: np.nan}}
"""Event types whose columns a rule reads, and what those columns read as when the events table
holds no event of the type before the latest cutoff. The events family makes columns only for the
types it sees, so an export that logged no unsubscribe (or has none) has no such column: nobody
unsubscribed, as in an export with no events table at all."""


class RuleInputError(ValueError):
    """Feature rows lack a column the eligibility or contact rules read."""


def with_absent_history(
    features: pd.DataFrame,
    absent_tables: Sequence[str],
    unseen_event_types: Sequence[str] = (),
) -> pd.DataFrame:
    """``features`` with the :data:`NO_HISTORY` columns of the ``absent_tables`` and the
    :data:`NO_EVENT_OF_TYPE` columns of the ``unseen_event_types`` added where missing;
    unchanged (the same object) when there is nothing to add."""
    defaults = [NO_HISTORY.get(table, {}) for table in absent_tables]
    defaults += [NO_EVENT_OF_TYPE.get(event_type, {}) for event_type in unseen_event_types]
    fill = {
        column: value
        for columns in defaults
        for column, value in columns.items()
        if column not in features.columns
    }
    return features.assign(**fill) if fill else features


def rule_columns(catalog: Sequence[CatalogOffer]) -> tuple[str, ...]:
    """The columns the rules read for ``catalog``: the contact rules' and the tenure always,
    membership and country only when an offer is restricted by them (both come from optional
    data: an events table, a ``country`` attribute of ``customers``)."""
    needed = [TENURE, *CONTACT_COLUMNS]
    if any(offer.members_only for offer in catalog):
        needed.append(MEMBER)
    if any(offer.countries for offer in catalog):
        needed.append(COUNTRY)
    return tuple(needed)


def require_rule_columns(
    features: pd.DataFrame,
    catalog: Sequence[CatalogOffer],
    what: str = "feature rows",
    *,
    contact_only: bool = False,
) -> None:
    """:class:`RuleInputError` naming the columns ``features`` lacks: those of
    :func:`rule_columns`, or only the contact rules' with ``contact_only``."""
    needed = CONTACT_COLUMNS if contact_only else rule_columns(catalog)
    missing = [name for name in needed if name not in features.columns]
    if missing:
        raise RuleInputError(
            f"{what}: {len(features)} rows lack column(s) {missing} needed by the offer "
            f"eligibility and contact rules (expected the feature table's columns; "
            f"{COUNTRY} comes from a `country` column of customers, {MEMBER} from loyalty "
            "events)"
        )


def contact_block(features: pd.DataFrame, config: OffersConfig) -> pd.Series:
    """Per row the contact rule that forbids any offer, or "" when contact is allowed.

    The email channel is closed by any unsubscribe within the feature history (the CRM keeps no
    re-subscribe event); the cooldown and the 365-day cap come from params. Checked in that
    order, so the reason names the strongest rule.
    """
    require_rule_columns(features, (), contact_only=True)
    counts = [features[c].astype("float64").to_numpy() for c in UNSUBSCRIBE_COUNTS if c in features]
    reason = contact_block_values(
        unsubscribe_known(features[UNSUBSCRIBED].astype("float64").to_numpy(), counts),
        features[DAYS_SINCE_OFFER].astype("float64").to_numpy(),
        features[OFFERS_365D].fillna(0).to_numpy(),
        config,
    )
    return pd.Series(reason, index=features.index, dtype=object)


def contact_block_values(
    unsubscribed: np.ndarray,
    days_since_offer: np.ndarray,
    offers_365d: np.ndarray,
    config: OffersConfig,
) -> np.ndarray:
    """:func:`contact_block` on arrays (the scoring service's per-request path): whether an
    unsubscribe is known (:func:`unsubscribe_known`), days since the last offer (NaN: none) and
    offers in 365 days (nulls as 0).

    No last offer but offers within 365 days (a request's inconsistent row; the features never
    are) cannot show that the cooldown has passed, so it counts as cooling down: an unknown
    must never read as permission to contact.
    """
    unknown_last = np.isnan(days_since_offer) & (offers_365d > 0)
    cooling = unknown_last | (
        ~np.isnan(days_since_offer) & (days_since_offer < config.cooldown_days)
    )
    capped = offers_365d >= config.max_offers_365d
    return np.select(
        [unsubscribed, cooling, capped],
        ["contact_rule:unsubscribed", "contact_rule:cooldown", "contact_rule:cap"],
        default="",
    )


def unsubscribe_known(days_since: np.ndarray, counts: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Per row: some unsubscribe is on record, by its days-since value (NaN: none within the
    history) or by any of its window ``counts`` (:data:`UNSUBSCRIBE_COUNTS`; NaN as 0)."""
    known = ~np.isnan(days_since)
    for count in counts:
        known |= np.nan_to_num(count, nan=0.0) > 0
    return known


def offer_eligible(features: pd.DataFrame, offer: CatalogOffer) -> np.ndarray:
    """Boolean per row: the customer meets ``offer``'s tenure, membership and country rules.

    A null tenure or country fails the rule that needs it (unknown is not eligible).
    """
    require_rule_columns(features, [offer])
    return offer_eligible_values(
        features[TENURE].astype("float64").to_numpy(),
        features[MEMBER].fillna(0).astype("float64").to_numpy() if offer.members_only else None,
        features[COUNTRY].isin(offer.countries).to_numpy() if offer.countries else None,
        offer,
    )


def offer_eligible_values(
    tenure: np.ndarray,
    member: np.ndarray | None,
    in_countries: np.ndarray | None,
    offer: CatalogOffer,
) -> np.ndarray:
    """:func:`offer_eligible` on arrays: tenure in days (NaN: unknown), membership as a number
    (nulls as 0; needed when ``offer.members_only``) and whether the country is one of
    ``offer.countries`` (needed when it lists any)."""
    ok = ~np.isnan(tenure) & (tenure >= offer.min_tenure_days)
    if offer.members_only:
        assert member is not None
        ok &= member > 0
    if offer.countries:
        assert in_countries is not None
        ok &= in_countries
    return ok


def eligibility_matrix(
    features: pd.DataFrame, catalog: Sequence[CatalogOffer], config: OffersConfig
) -> np.ndarray:
    """rows × offers: may this customer receive this offer (eligibility and contact rules)."""
    allowed = (contact_block(features, config) == "").to_numpy()
    columns = [offer_eligible(features, offer) & allowed for offer in catalog]
    if not columns:
        return np.zeros((len(features), 0), dtype=bool)
    return np.column_stack(columns)

"""The feature families, in catalogue order; see ``features.families.base`` for the contract."""

from __future__ import annotations

from features.families import (
    engagement,
    events,
    lifecycle,
    loyalty,
    offers,
    rfm,
    static,
    subscription,
    support,
    voice,
)
from features.families.base import Context, Family

FAMILIES: dict[str, Family] = {
    module.FAMILY.name: module.FAMILY
    for module in (
        rfm,
        lifecycle,
        subscription,
        support,
        engagement,
        voice,
        loyalty,
        events,
        offers,
        static,
    )
}

__all__ = ["FAMILIES", "Context", "Family"]

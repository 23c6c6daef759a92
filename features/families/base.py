"""What a feature family is: aggregates over its source rows, then feature values from them.

A family computes in two steps, so each source table is read in one pass for all families:

1. ``window_aggregates[source](rows, context)`` are aggregate expressions over ``rows``: the
   rows of ``source`` (a name in ``features.rows.SOURCES``: a raw table or a slice of one) joined
   to the population (one customer at one cutoff), strictly before the cutoff and within
   ``features.history_days``. Window conditions are conditional aggregates
   (``count(where=...)``) on the cutoff's window-start columns (``features.cutoffs.within``).
   ``customer_aggregates[source]`` are aggregates per customer over all of the source's rows;
   only lifecycle features need them (first order), and their values must only be used through
   comparisons with the cutoff, never directly, or they would leak the future.
2. ``values(frame, context)`` maps feature names (exactly the catalogue's names for this family
   and the tables present) to expressions over ``frame``: the population with every aggregate
   column left-joined (null where a customer had no rows).

The ``events`` source is special: families do not aggregate it themselves. The build computes
fixed statistics per (customer, cutoff, event type) once (``features.event_stats``) for the event
types some active family reads (``Family.event_types``, or all found ones with
``reads_event_types``) and joins them onto the frame, where ``event_stats.stat`` finds them; the
costlier value statistics only for the types in ``Family.value_event_types``.

Aggregate names start with ``_<family>_`` so families sharing a source never collide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ibis.expr.types as ir


@dataclass(frozen=True)
class Context:
    """What a build knows beyond the rows: present tables and the open-ended value lists.

    ``event_types`` and ``static_attributes`` map feature-name slugs to raw values (event types
    as stored, ``customers`` columns as named in the population: ``static_<slug>``).
    """

    present: frozenset[str]
    event_types: Mapping[str, str] = field(default_factory=dict)
    static_attributes: Mapping[str, str] = field(default_factory=dict)


Aggregates = Callable[[ir.Table, Context], dict[str, ir.Value]]
Values = Callable[[ir.Table, Context], dict[str, ir.Value]]


@dataclass(frozen=True)
class Family:
    """One feature family's computation; its catalogue entries live in ``features.definitions``."""

    name: str
    values: Values
    window_aggregates: Mapping[str, Aggregates] = field(default_factory=dict)
    customer_aggregates: Mapping[str, Aggregates] = field(default_factory=dict)
    event_types: tuple[str, ...] = ()
    """Event types whose statistics the family reads by name (``features.event_stats``)."""
    reads_event_types: bool = False
    """Whether it reads the statistics of every event type in ``Context.event_types``."""
    value_event_types: tuple[str, ...] = ()
    """Event types whose ``features.event_stats.VALUE_STATISTICS`` it reads as well."""

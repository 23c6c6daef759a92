"""Small backend-neutral expression helpers shared by the feature families.

Differences of timestamps are exact microsecond counts (DuckDB's ``date_diff``, Spark's
``timestampdiff``): epoch seconds keep fractions on DuckDB and drop them on Spark, so the engines
would disagree below a second. Divisions guard their denominator with ``NULLIF``, so a rate with
nothing to divide by is null on every backend (Spark in ANSI mode would fail on ``x / 0``).
"""

from __future__ import annotations

import ibis.expr.datatypes as dt
import ibis.expr.types as ir

MONEY = dt.Decimal(precision=18, scale=6)
"""Exact type amounts are summed in (a millionth of the currency unit; up to 10^12 per row)."""

MICROSECONDS_PER_HOUR = 3_600_000_000
MICROSECONDS_PER_DAY = 24 * MICROSECONDS_PER_HOUR


def days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in (fractional) days; null when either is null."""
    return later.delta(earlier, unit="microsecond") / MICROSECONDS_PER_DAY


def hours_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in (fractional) hours; null when either is null."""
    return later.delta(earlier, unit="microsecond") / MICROSECONDS_PER_HOUR


def money(value: ir.NumericValue) -> ir.DecimalValue:
    """``value`` as an exact decimal (:data:`MONEY`), for sums that must not depend on row order.

    A float sum's last bits depend on the order rows are added in, which a join order or a
    thread schedule changes; where the sum is then divided and rounded (an average basket of
    366.325 / 16 = 22.8953125), that last bit decides the rounding. Decimal sums are exact on
    every backend and in any order; amounts are kept to a millionth, far below a cent.
    """
    return value.cast(MONEY)


def ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """``numerator / denominator`` as a float; null when the denominator is 0 or null."""
    return numerator.cast(dt.float64) / denominator.cast(dt.float64).nullif(0.0)


def relative_change(last: ir.NumericValue, previous: ir.NumericValue) -> ir.FloatingValue:
    """``(last - previous) / (last + previous)``: -1 stopped, 0 steady, 1 new; null if both 0.

    Bounded, unlike a plain ratio, and defined when the previous period was empty.
    """
    return ratio(last - previous, last + previous)


def count(value: ir.IntegerValue) -> ir.IntegerValue:
    """A count after a left join: 0 where the customer had no rows at all."""
    return value.fill_null(0).cast(dt.int64)


def total(value: ir.NumericValue) -> ir.FloatingValue:
    """A sum after a left join: 0.0 where the customer had no rows at all."""
    return value.cast(dt.float64).fill_null(0.0)


def flag(condition: ir.BooleanValue) -> ir.IntegerValue:
    """A 0/1 integer flag; a null condition counts as 0."""
    return condition.fill_null(False).cast(dt.int64)

"""Small backend-neutral expression helpers shared by the feature families.

Differences of timestamps are exact microsecond counts (DuckDB's ``date_diff``, Spark's
``timestampdiff``): epoch seconds keep fractions on DuckDB and drop them on Spark, so the engines
would disagree below a second. Divisions guard their denominator with ``NULLIF``, so a rate with
nothing to divide by is null on every backend (Spark in ANSI mode would fail on ``x / 0``).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

MONEY = dt.Decimal(precision=18, scale=6)
"""Exact type amounts are summed in (a millionth of the currency unit; up to 10^12 per row)."""

MICROSECONDS_PER_HOUR = 3_600_000_000
MICROSECONDS_PER_DAY = 24 * MICROSECONDS_PER_HOUR


def days_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in (fractional) days; null when either is null."""
    return microseconds_between(later, earlier) / MICROSECONDS_PER_DAY


def hours_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """``later - earlier`` in (fractional) hours; null when either is null."""
    return microseconds_between(later, earlier) / MICROSECONDS_PER_HOUR


def microseconds_between(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.IntegerValue:
    """``later - earlier`` in whole microseconds; null when either is null."""
    return later.delta(earlier, unit="microsecond")


def mean_duration(
    microseconds: ir.IntegerValue, where: ir.BooleanValue, unit_microseconds: int
) -> ir.FloatingValue:
    """The mean of ``microseconds`` (durations) where ``where``, in ``unit_microseconds`` units.

    Summed as whole microseconds, so exact in any order: a mean of fractional days or hours
    depends in its last bits on the order rows are added in, which differs between engines and
    thread schedules, and that last bit can tip the 6-decimal rounding (one feature of the
    default world came out 1e-6 apart on DuckDB and Spark).
    """
    total_microseconds = microseconds.sum(where=where)
    return ratio(total_microseconds, microseconds.count(where=where)) / unit_microseconds


def money(value: ir.NumericValue) -> ir.DecimalValue:
    """``value`` as an exact decimal (:data:`MONEY`), for sums that must not depend on row order.

    A float sum's last bits depend on the order rows are added in, which a join order or a
    thread schedule changes; where the sum is then divided and rounded (an average basket of
    366.325 / 16 = 22.8953125), that last bit decides the rounding. Decimal sums are exact on
    every backend and in any order; amounts are kept to a millionth, far below a cent.
    """
    return value.cast(MONEY)


def rounded(value: ir.FloatingValue, decimals: int) -> ir.FloatingValue:
    """``value`` rounded half away from zero to ``decimals`` places, bit for bit alike on DuckDB
    and Spark.

    SQL's ``ROUND(x, d)`` is not: DuckDB rounds the double's binary value, Spark the shortest
    decimal text that reads back as it, so on the default world 27 of 14.8M feature values
    differed by one unit in the last place (an average basket of 366.325 / 16: 22.895312 on
    DuckDB, 22.895313 on Spark). Scaling, rounding to a whole number and scaling back are IEEE
    operations both perform alike. From 2**53 / 10**decimals on, the scaled value is already
    whole and there is nothing to round: such values (and NaN, infinities) stay as they are,
    which also keeps the whole number far inside the 64-bit integer it is cast to.
    """
    scale = 10.0**decimals
    whole = (value * scale).round(0)
    return ibis.ifelse(value.abs() < 2.0**53 / scale, whole / scale, value)


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

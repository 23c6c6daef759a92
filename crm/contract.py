"""The raw-data contract as code: which CRM tables the pipeline reads, what each column holds.

This is the single source of truth for three consumers: the reader (``crm.tables``) converts
columns to the logical types declared here, the validator (``crm.validation``) derives its checks
from it, and ``docs/data-contract.md`` embeds the tables rendered by :func:`render_markdown`, so a
user mapping their own CRM export reads exactly what the code enforces.

Time semantics: every timestamp is naive and means UTC; a date is a calendar day. Identifiers are
strings (integer ids are accepted and turned into their decimal text; CSV ids are always read as
text so leading zeros survive).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class LogicalType(StrEnum):
    """What a column means, independent of how a file happens to store it."""

    ID = "id"
    STRING = "string"
    FLOAT = "float"
    INTEGER = "integer"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def is_temporal(self) -> bool:
        return self in (LogicalType.DATE, LogicalType.TIMESTAMP)


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a raw table and the rules its values must follow.

    ``null_when`` names a ``(column, value)`` pair: rows where that column equals the value must
    leave this column empty (a control-group customer received no offer, so cannot redeem one).
    """

    name: str
    type: LogicalType
    description: str
    required: bool = True
    nullable: bool = False
    unique: bool = False
    non_negative: bool = False
    allowed: tuple[str, ...] | None = None
    between: tuple[int, int] | None = None
    references_customers: bool = False
    null_when: tuple[str, str] | None = None


@dataclass(frozen=True)
class NotBefore:
    """Row rule: when both are present, ``column`` must not be earlier than ``reference``."""

    column: str
    reference: str


@dataclass(frozen=True)
class TableSpec:
    """One raw table: its columns, row rules and the columns that identify a row in error examples.

    Columns beyond the contract are allowed. For ``customers`` they are static customer attributes
    (country, plan, ...) that feature building may use; for other tables they are ignored.
    """

    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    key_columns: tuple[str, ...] = ()
    not_before: tuple[NotBefore, ...] = ()
    extra_columns_are_attributes: bool = False

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no contract column {name!r}; expected one of {self.names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.columns)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.columns if spec.required)

    def misnamed(self, found: Sequence[str]) -> dict[str, str]:
        """Contract columns absent from ``found`` but spelt there in other case or blanks
        (``Status``, ``status ``, ``Discount Amount``) → the name found.

        Read as they stand, such a column would be an extra one and the contract column absent:
        an optional one silently null (cancelled orders counted as completed), a required one
        reported missing next to its own name.
        """
        keys = {_spelling_key(name): name for name in found}
        return {
            name: keys[_spelling_key(name)]
            for name in self.names
            if name not in found and _spelling_key(name) in keys
        }

    def misnamed_message(self, found: Sequence[str]) -> str | None:
        """One line naming every :meth:`misnamed` column, or None."""
        misnamed = self.misnamed(found)
        if not misnamed:
            return None
        pairs = ", ".join(f"{spelt!r} for {name!r}" for name, spelt in misnamed.items())
        return (
            f"column name(s) differ from the contract only in case or blanks: {pairs}; rename "
            "them (as they stand they would be read as extra columns and the contract ones as "
            "absent)"
        )


def _spelling_key(name: str) -> str:
    """``name`` without case, surrounding blanks, and with blanks or hyphens as underscores."""
    return re.sub(r"[\s\-]+", "_", name.strip()).casefold()


def _customer_ref(description: str = "The customer; must exist in `customers`.") -> ColumnSpec:
    return ColumnSpec("customer_id", LogicalType.ID, description, references_customers=True)


ORDER_STATUSES = ("completed", "returned", "cancelled")
OFFER_GROUPS = ("treatment", "control")

CUSTOMERS = TableSpec(
    name="customers",
    description="One row per customer. Further columns are static attributes "
    "(e.g. `country`, `acquisition_channel`, `plan`, `loyalty_member`).",
    required=True,
    key_columns=("customer_id",),
    extra_columns_are_attributes=True,
    columns=(
        ColumnSpec("customer_id", LogicalType.ID, "The customer's identifier.", unique=True),
        ColumnSpec("signup_date", LogicalType.DATE, "Day the customer was acquired."),
    ),
)

ORDERS = TableSpec(
    name="orders",
    description="One row per order (transactional businesses).",
    key_columns=("order_id",),
    columns=(
        ColumnSpec("order_id", LogicalType.ID, "The order's identifier.", unique=True),
        _customer_ref(),
        ColumnSpec("order_ts", LogicalType.TIMESTAMP, "When the order was placed (UTC)."),
        ColumnSpec("amount", LogicalType.FLOAT, "Order value after discounts.", non_negative=True),
        ColumnSpec(
            "n_items",
            LogicalType.INTEGER,
            "Number of items.",
            required=False,
            nullable=True,
            non_negative=True,
        ),
        ColumnSpec(
            "discount_amount",
            LogicalType.FLOAT,
            "Discount granted on the order.",
            required=False,
            nullable=True,
            non_negative=True,
        ),
        ColumnSpec(
            "channel",
            LogicalType.STRING,
            "Sales channel (free text, e.g. web, app, store).",
            required=False,
            nullable=True,
        ),
        ColumnSpec(
            "status",
            LogicalType.STRING,
            "Outcome of the order.",
            required=False,
            allowed=ORDER_STATUSES,
        ),
    ),
)

EVENTS = TableSpec(
    name="events",
    description="The touchpoint log: e-mail sent/open/click/unsubscribe, web session, cart "
    "add/abandon, survey NPS (`value` = score), loyalty earn/redeem (`value` = points), referral, "
    "app login, anything else.",
    key_columns=("customer_id", "ts"),
    columns=(
        _customer_ref(),
        ColumnSpec("ts", LogicalType.TIMESTAMP, "When it happened (UTC)."),
        ColumnSpec("event_type", LogicalType.STRING, "What happened (free text)."),
        ColumnSpec(
            "value",
            LogicalType.FLOAT,
            "Score, points or other measure; empty when the event has none.",
            nullable=True,
        ),
    ),
)

SUPPORT_TICKETS = TableSpec(
    name="support_tickets",
    description="One row per support ticket.",
    key_columns=("ticket_id",),
    not_before=(NotBefore("first_response_ts", "opened_ts"), NotBefore("resolved_ts", "opened_ts")),
    columns=(
        ColumnSpec("ticket_id", LogicalType.ID, "The ticket's identifier.", unique=True),
        _customer_ref(),
        ColumnSpec("opened_ts", LogicalType.TIMESTAMP, "When the ticket was opened (UTC)."),
        ColumnSpec(
            "first_response_ts",
            LogicalType.TIMESTAMP,
            "First agent response (UTC); empty if none yet.",
            nullable=True,
        ),
        ColumnSpec(
            "resolved_ts",
            LogicalType.TIMESTAMP,
            "When it was resolved (UTC); empty while open.",
            nullable=True,
        ),
        ColumnSpec("channel", LogicalType.STRING, "Contact channel (free text, e.g. email)."),
        ColumnSpec(
            "csat",
            LogicalType.INTEGER,
            "Satisfaction score; empty if not rated.",
            nullable=True,
            between=(1, 5),
        ),
    ),
)

SUBSCRIPTIONS = TableSpec(
    name="subscriptions",
    description="One row per subscription (contractual businesses).",
    key_columns=("subscription_id",),
    not_before=(NotBefore("end_date", "start_date"),),
    columns=(
        ColumnSpec("subscription_id", LogicalType.ID, "The subscription.", unique=True),
        _customer_ref(),
        ColumnSpec("start_date", LogicalType.DATE, "First day of the subscription."),
        ColumnSpec(
            "end_date",
            LogicalType.DATE,
            "Last day; empty while active (no far-future placeholders).",
            nullable=True,
        ),
        ColumnSpec("mrr", LogicalType.FLOAT, "Monthly recurring revenue.", non_negative=True),
    ),
)

OFFERS = TableSpec(
    name="offers",
    description="Past retention campaigns, including their randomised control groups.",
    key_columns=("customer_id", "campaign_id"),
    not_before=(NotBefore("redeemed_ts", "sent_ts"),),
    columns=(
        _customer_ref("The targeted customer; must exist in `customers`."),
        ColumnSpec("campaign_id", LogicalType.ID, "The campaign."),
        ColumnSpec(
            "offer_id",
            LogicalType.ID,
            "The offer sent; may be empty for control rows.",
            nullable=True,
        ),
        ColumnSpec(
            "sent_ts",
            LogicalType.TIMESTAMP,
            "When the offer was sent, or would have been for control (UTC).",
        ),
        ColumnSpec(
            "group", LogicalType.STRING, "Randomised arm of the campaign.", allowed=OFFER_GROUPS
        ),
        ColumnSpec(
            "redeemed_ts",
            LogicalType.TIMESTAMP,
            "When the offer was redeemed (UTC); empty if never, always empty for control.",
            nullable=True,
            null_when=("group", "control"),
        ),
    ),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (CUSTOMERS, ORDERS, EVENTS, SUPPORT_TICKETS, SUBSCRIPTIONS, OFFERS)
}
"""Every table of the contract, ``customers`` first (the others reference it)."""

AT_LEAST_ONE_OF: tuple[str, ...] = ("orders", "subscriptions")
"""Besides ``customers``, at least one of these must be present: churn needs a purchase history."""


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown raw table {name!r}; expected one of {', '.join(TABLES)}") from None


def _rules(spec: ColumnSpec) -> str:
    rules = []
    if spec.unique:
        rules.append("unique")
    if spec.references_customers:
        rules.append("in `customers`")
    if spec.non_negative:
        rules.append("≥ 0")
    if spec.between is not None:
        rules.append(f"{spec.between[0]}–{spec.between[1]}")
    if spec.allowed is not None:
        rules.append(" \\| ".join(f"`{value}`" for value in spec.allowed))
    if spec.null_when is not None:
        rules.append(f"empty when `{spec.null_when[0]}` = `{spec.null_when[1]}`")
    return ", ".join(rules)


def render_markdown() -> str:
    """The per-table reference of ``docs/data-contract.md``, generated so it cannot drift."""
    lines: list[str] = []
    for spec in TABLES.values():
        need = "required" if spec.required else "optional"
        if spec.name in AT_LEAST_ONE_OF:
            need += f" (at least one of {' / '.join(f'`{n}`' for n in AT_LEAST_ONE_OF)})"
        lines += [f"### `{spec.name}` — {need}", "", spec.description, ""]
        lines += [
            "| column | type | column required | may be empty | rules | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for column in spec.columns:
            required = "yes" if column.required else "no"
            nullable = "yes" if column.nullable else "no"
            lines.append(
                f"| `{column.name}` | {column.type.value} | {required} | {nullable} "
                f"| {_rules(column)} | {column.description} |"
            )
        for rule in spec.not_before:
            lines += ["", f"Row rule: `{rule.column}` must not be before `{rule.reference}`."]
        lines.append("")
    return "\n".join(lines)


BEGIN_MARKER = "<!-- contract:begin (generated by `python -m crm.contract`; do not edit) -->"
END_MARKER = "<!-- contract:end -->"


def with_rendered_contract(document: str) -> str:
    """``document`` with the text between the contract markers set to :func:`render_markdown`."""
    head, begin, rest = document.partition(BEGIN_MARKER)
    _, end, tail = rest.partition(END_MARKER)
    if not begin or not end:
        raise ValueError(f"document lacks the markers {BEGIN_MARKER!r} ... {END_MARKER!r}")
    return f"{head}{BEGIN_MARKER}\n\n{render_markdown()}\n{END_MARKER}{tail}"


if __name__ == "__main__":
    from core.atomic import write_text

    doc_path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/data-contract.md")
    document = doc_path.read_text(encoding="utf-8")
    write_text(doc_path, with_rendered_contract(document))

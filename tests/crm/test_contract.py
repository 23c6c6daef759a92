from __future__ import annotations

from pathlib import Path

import pytest

from crm.contract import (
    AT_LEAST_ONE_OF,
    TABLES,
    LogicalType,
    render_markdown,
    table_spec,
    with_rendered_contract,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def test_documentation_shows_the_contract_the_code_enforces() -> None:
    document = DOC.read_text(encoding="utf-8")

    assert with_rendered_contract(document) == document, (
        "docs/data-contract.md is out of date; run `.venv/bin/python -m crm.contract`"
    )


def test_rendered_tables_list_every_column() -> None:
    text = render_markdown()

    for spec in TABLES.values():
        assert f"### `{spec.name}`" in text
        for column in spec.columns:
            assert f"| `{column.name}` | {column.type.value} |" in text


def test_customers_come_first_and_are_the_only_required_table() -> None:
    assert next(iter(TABLES)) == "customers"
    assert [name for name, spec in TABLES.items() if spec.required] == ["customers"]
    assert set(AT_LEAST_ONE_OF) == {"orders", "subscriptions"}


@pytest.mark.parametrize("name", [name for name in TABLES if name != "customers"])
def test_every_other_table_references_customers(name: str) -> None:
    column = table_spec(name).column("customer_id")

    assert column.type is LogicalType.ID
    assert column.references_customers
    assert not column.nullable


@pytest.mark.parametrize("spec", list(TABLES.values()), ids=list(TABLES))
def test_rules_name_contract_columns_of_the_right_type(spec) -> None:
    for name in spec.key_columns:
        assert spec.column(name).required
    for rule in spec.not_before:
        assert spec.column(rule.column).type.is_temporal
        assert spec.column(rule.reference).type.is_temporal
    for column in spec.columns:
        if column.allowed is not None:
            assert column.type is LogicalType.STRING
        if column.null_when is not None:
            assert column.nullable
            assert spec.column(column.null_when[0]).allowed is not None


def test_unknown_names_fail_with_the_choices() -> None:
    with pytest.raises(KeyError, match="unknown raw table 'order'; expected one of customers"):
        table_spec("order")
    with pytest.raises(KeyError, match="orders has no contract column 'total'"):
        table_spec("orders").column("total")


def test_rendering_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="lacks the markers"):
        with_rendered_contract("# no markers here\n")

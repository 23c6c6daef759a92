"""Static attributes: the extra columns of ``customers``, as exported.

The population already carries them, renamed ``static_<slug>`` (see ``features.build``), so this
family only selects them. Text stays text: categories are encoded in the model pipeline.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.families.base import Context, Family


def _values(frame: ir.Table, context: Context) -> dict[str, ir.Value]:
    return {f"static_{slug}": frame[f"static_{slug}"] for slug in context.static_attributes}


FAMILY = Family(name="static", values=_values)

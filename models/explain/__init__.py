"""SHAP explanations of the churn models: contributions per original feature, probability-space
scales, reason-group totals and the analysts' report.

``explain_rows`` is the per-request entry point the scoring service uses; the report builder and
the ``explain`` stage build on the same :class:`Explanation`.
"""

from __future__ import annotations

from models.explain.contributions import (
    ChurnExplainer,
    ExplainError,
    Explanation,
    explain_rows,
)

__all__ = ["ChurnExplainer", "ExplainError", "Explanation", "explain_rows"]

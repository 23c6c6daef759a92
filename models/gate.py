"""The promotion gate: does the new model (``challenger``) replace the ``champion``?

A pure function of the two models' test-cutoff metrics, so the rule is testable without MLflow.
The challenger must beat the champion on the primary metric by a margin — noise between two
fits must not flip production — and may not be worse calibrated beyond a tolerance, because
offers are priced on the probability itself, not only on the ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from core.config import GateConfig


class GateError(ValueError):
    """A model's metrics lack what the gate needs."""


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moves to the challenger, why, and the numbers behind it."""

    promote: bool
    reason: str
    primary_metric: str
    challenger_primary: float
    champion_primary: float | None
    challenger_ece: float
    champion_ece: float | None
    min_improvement: float
    ece_tolerance: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metric(metrics: Mapping[str, float], name: str, who: str) -> float:
    if name not in metrics:
        raise GateError(f"{who} metrics have no {name!r}; got {sorted(metrics)}")
    return float(metrics[name])


def decide_promotion(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    primary_metric: str,
    gate: GateConfig,
) -> PromotionDecision:
    """Promote when there is no champion, or the challenger wins by the margin within tolerance.

    Both metric mappings must hold ``primary_metric`` (higher is better) and ``ece``, measured on
    the same test rows.
    """
    challenger_primary = _metric(challenger, primary_metric, "challenger")
    challenger_ece = _metric(challenger, "ece", "challenger")
    common = {
        "primary_metric": primary_metric,
        "challenger_primary": challenger_primary,
        "challenger_ece": challenger_ece,
        "min_improvement": gate.min_improvement,
        "ece_tolerance": gate.ece_tolerance,
    }
    if champion is None:
        return PromotionDecision(
            promote=True,
            reason="no champion yet: the first model becomes champion",
            champion_primary=None,
            champion_ece=None,
            **common,
        )
    champion_primary = _metric(champion, primary_metric, "champion")
    champion_ece = _metric(champion, "ece", "champion")
    gain = challenger_primary - champion_primary
    ece_worse = challenger_ece - champion_ece
    if gain < gate.min_improvement:
        promote = False
        reason = (
            f"{primary_metric} {challenger_primary:.4f} vs champion {champion_primary:.4f}: "
            f"gain {gain:+.4f} below the required {gate.min_improvement:.4f}"
        )
    elif ece_worse > gate.ece_tolerance:
        promote = False
        reason = (
            f"ECE {challenger_ece:.4f} vs champion {champion_ece:.4f}: worse by "
            f"{ece_worse:.4f}, beyond the tolerance {gate.ece_tolerance:.4f}"
        )
    else:
        promote = True
        reason = (
            f"{primary_metric} {challenger_primary:.4f} vs champion {champion_primary:.4f} "
            f"(gain {gain:+.4f} >= {gate.min_improvement:.4f}); ECE {challenger_ece:.4f} vs "
            f"{champion_ece:.4f} within tolerance {gate.ece_tolerance:.4f}"
        )
    return PromotionDecision(
        promote=promote,
        reason=reason,
        champion_primary=champion_primary,
        champion_ece=champion_ece,
        **common,
    )

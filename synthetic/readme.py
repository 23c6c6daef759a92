"""The README written into the truth folder, so the files explain themselves to their reader."""

from __future__ import annotations

from core.config import GenerateConfig
from synthetic.traits import LATENT_TRAITS


def truth_readme(config: GenerateConfig) -> str:
    """Describe the truth tables for this config (deterministic text: no dates of the run)."""
    offers = ", ".join(offer.id for offer in config.offers)
    offer_columns = "\n".join(
        f"| `p_churn_{offer.id}` | float | same, if `{offer.id}` is sent at the cutoff |"
        for offer in config.offers
    )
    effect_columns = "\n".join(
        f"| `offer_effect_{offer.id}` | float | log hazard ratio of `{offer.id}` "
        "(negative keeps the customer) |"
        for offer in config.offers
    )
    traits = ", ".join(f"`{name}`" for name in LATENT_TRAITS)
    truth = config.truth
    return f"""# Ground truth of the synthetic world

Never use these files as model input: they hold what no CRM can see. Each table is a folder of
Parquet parts (`part-NNNNN.parquet`, one per customer chunk); read a folder as one dataset.

## `customers/`

| column | type | meaning |
| --- | --- | --- |
| `customer_id` | string | as in `raw/customers` |
| {traits} | float | latent traits (see `synthetic/traits.py`) |
| `churn_ts` | timestamp[us] (UTC) | when the customer churned; null if never |
{effect_columns}

## `churn_probabilities/`

One row per customer and cutoff date for customers who signed up before the cutoff and had not
churned by it. A cutoff is 00:00 UTC of `cutoff_date`; the grid is anchored at the day after the
end date (where the export ends) and steps back every {truth.cutoff_every_days} days while at least
{truth.min_history_days} days after the start date.
The horizon is `[cutoff, cutoff + {truth.horizon_days} days)`.

| column | type | meaning |
| --- | --- | --- |
| `customer_id` | string | |
| `cutoff_date` | date32 | |
| `p_churn_no_offer` | float | true probability of churning within the horizon without an offer |
{offer_columns}
| `churned_within_horizon` | bool | what happened; null when the horizon runs past the end date |

The probabilities use the simulator's own weekly hazard with the customer's state held at its value
at the cutoff (seasonality included; the gap since the last order runs on at the customer's order
rate); an offer ({offers}) sent at the cutoff multiplies the hazard by `exp(offer_effect)` for
{config.campaigns.effect_days} days. See `synthetic/truth.py`.
"""

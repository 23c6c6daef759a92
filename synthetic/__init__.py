"""A synthetic online retailer with known ground truth, for building and checking churn models.

``synthetic.world.generate_world`` is the entry point (``churn generate``). The modules, in the
order data flows through them:

* ``timeline`` — weekly steps, truth cutoffs, seasonality;
* ``traits`` — customers' static attributes and latent traits;
* ``hazard`` — the churn drivers and the weekly churn log-hazard; offer effects per customer;
* ``state`` — the mutable per-customer simulation state and one week's live windows;
* ``commerce``, ``support``, ``engagement`` — what customers do in a week (orders and offer
  redemptions, tickets, e-mail / browsing / NPS / referrals), updating the drivers;
* ``campaigns`` — past retention campaigns with random control groups;
* ``simulate`` — the weekly loop over one chunk of customers;
* ``truth`` — true churn probabilities per customer and cutoff, with and without each offer;
* ``rows``, ``tables``, ``readme`` — numpy row buffers, Arrow tables, the truth folder's README;
* ``chunk`` / ``world`` — one chunk as a unit of parallel work; the whole run, written atomically.
"""

"""Targeted loyalty offers: eligibility and contact rules, customer value, uplift models,
the budgeted multi-offer policy, its measurement (campaign report) and its check against the
synthetic world's truth."""

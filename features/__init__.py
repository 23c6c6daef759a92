"""Point-in-time churn features and labels as Ibis expressions (DuckDB or Spark).

``build`` assembles them, ``definitions`` is the feature catalogue, ``labels`` the churn rules,
``families`` the feature code, ``sources`` and ``engine`` the backend side.
"""

"""The Dagster layer: thin assets over ``pipelines``. ``assets.definitions`` is the code location."""

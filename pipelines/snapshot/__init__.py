"""Writing tables and snapshots: deterministic Parquet, manifest, views.sql, the rendered card."""

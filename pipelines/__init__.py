"""The work of Research Commons in plain Python: fetching, sources, parsing, curation, snapshots.

Nothing here imports Dagster; the ``assets`` package wraps these functions.
"""

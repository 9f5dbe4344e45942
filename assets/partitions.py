"""Partitions: one dynamic partition set per source; a partition is a batch (a local input or a live time window)."""

import dagster as dg


def batches_partitions(source: str) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{source}_batches")

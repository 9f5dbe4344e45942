"""Sources: one module per source, all implementing ``pipelines.sources.base.Source``."""

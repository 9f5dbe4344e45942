"""The ``commons`` command line: the outermost layer, over the Dagster definitions and ``pipelines``."""

"""The published contract: one Arrow schema per table, with a description for every column.

Column names and types here are what users of a snapshot rely on. Changing them follows
``SCHEMA_VERSION`` (semver): adding a column is a minor change, removing or retyping one is major.
"""

from schemas.registry import SCHEMA_VERSION, TABLES, TableSpec, column_docs, table_spec

__all__ = ["SCHEMA_VERSION", "TABLES", "TableSpec", "column_docs", "table_spec"]

"""Curation: identifiers, licenses, entity resolution, duplicates, tags."""

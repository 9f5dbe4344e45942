"""Exports of snapshot tables into other projects' formats."""

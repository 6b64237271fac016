"""Streaming reading, renaming and checking of mysqldump / mariadb-dump files.

``DumpReader`` yields statements without loading the dump; ``rename_database`` changes only the
database name; ``schema`` holds the replicated-cluster rules; ``DumpTransform`` combines them for
a staged import.
"""

from .errors import DumpError, SchemaError
from .reader import DumpReader, Statement, open_dump, read_statements, reader_for_bytes
from .rename import Renamed, quote_identifier, rename_database
from .schema import TableDef, TablePlan, decide, parse_create_table
from .tokens import Kind, classify
from .transform import DumpSummary, DumpTransform, Item, insert_table

__all__ = [
    "DumpError", "SchemaError", "DumpReader", "Statement", "open_dump", "read_statements",
    "reader_for_bytes", "Renamed", "quote_identifier", "rename_database", "TableDef",
    "TablePlan", "decide", "parse_create_table", "Kind", "classify", "DumpSummary",
    "DumpTransform", "Item", "insert_table",
]

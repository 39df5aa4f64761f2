"""The SQL function of this app, in its `.sql` file, and its installation (core.sql_files)."""

from pathlib import Path

from core.sql_files import SqlFiles

SQL_FILES = SqlFiles(
    Path(__file__).resolve().parent,
    {"event_record": "stockhold_event_record"},
)

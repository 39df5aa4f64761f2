"""SQL functions that implement writes, and the cart read a write answers with, one `.sql`
file each, and their installation (core.sql_files).

Each file holds one `CREATE OR REPLACE FUNCTION` statement and is the only source of its
function. A change to a function is an edit of its file plus a migration that installs
the file again with `sql_file_install(name, digest)`, the digest being
`SQL_FILES.digest(name)` of the edited file. `tests/test_sql_functions.py` fails while the
database runs something other than the file, or while a file differs from what its latest
installing migration was written for.
"""

from pathlib import Path

from core.sql_files import SqlFiles

# The functions, in the order they can be installed (a function may call those before it;
# PL/pgSQL resolves calls when it runs, so the order matters only to a reader).
SQL_FILES = SqlFiles(
    Path(__file__).resolve().parent,
    {
        "expired_reclaim": "stockhold_expired_reclaim",
        "stock_take": "stockhold_stock_take",
        "hold_set": "stockhold_hold_set",
        "cart_item_put": "stockhold_cart_item_put",
        "cart_shown": "stockhold_cart_shown",
    },
)
# The name this app's migrations install their files by.
sql_file_install = SQL_FILES.install

"""SQL functions of the stock rows, in their `.sql` files, and their installation
(core.sql_files)."""

from pathlib import Path

from core.sql_files import SqlFiles

SQL_FILES = SqlFiles(
    Path(__file__).resolve().parent,
    {
        "inventory_available": "stockhold_inventory_available",
        "inventory_stock_announce": "stockhold_inventory_stock_announce",
    },
)

"""The DuckDB warehouse: schema, connections, idempotent writes and the queries built on them.

`WarehouseResource` is Dagster's face of the warehouse and is imported only when asked for (PEP 562), so readers
such as the CLI open the file through `warehouse.connection` without importing Dagster.
"""

from datafactory_assets.warehouse.connection import WarehouseDamagedError
from datafactory_assets.warehouse.file_lock import WarehouseLockedError, WarehouseReadOnlyError
from datafactory_assets.warehouse.schema import SCHEMA_VERSION, ensure_schema

__all__ = ["SCHEMA_VERSION", "WarehouseDamagedError", "WarehouseLockedError", "WarehouseReadOnlyError",
           "WarehouseResource", "ensure_schema"]


def __getattr__(name: str):
    if name == "WarehouseResource":
        from datafactory_assets.warehouse.resource import WarehouseResource

        return WarehouseResource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

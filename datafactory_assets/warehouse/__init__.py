"""The DuckDB warehouse: schema, connections, idempotent writes and the queries built on them."""

from datafactory_assets.warehouse.file_lock import WarehouseLockedError
from datafactory_assets.warehouse.resource import WarehouseResource
from datafactory_assets.warehouse.schema import SCHEMA_VERSION, ensure_schema

__all__ = ["SCHEMA_VERSION", "WarehouseLockedError", "WarehouseResource", "ensure_schema"]

"""Dagster's serialized form of an event, the same text in about half the CPU.

Every row of the event log holds `serialize_value(event)`, and a range run writes one such row per partition: 0.13-0.17
ms of CPU each in a 50-step range run (`bench/range_run.py`), the largest part of storing its events. `serialize_value`
hands `json.dumps` a lazy wrapper per object, which walks Dagster's serializer of each class through a generator,
building a descent path string (used only in error messages) for every field, and packs the step's handles and the
asset key anew for every event of a batch. `EventPacker` packs through the same serializer settings (storage names,
field serializers, skipped fields, old fields; a metadata dict as Dagster's `MetadataFieldSerializer` writes it, its
values packed here too) into plain dicts, once per object the previous event also held, and writes them with one C
`json.dumps` call with sorted keys, as `serialize_value` does (its `seven.json.dumps` sorts keys, so the order in which
fields are packed does not matter): 0.07-0.09 ms an event. A class whose serializer packs in its own way (an overridden
`pack_items`, `before_pack` or `object_as_mapping`), any non-namedtuple object, an enum, a set or anything unusual goes
through Dagster's own `pack_value`, which builds the same dicts `serialize_value` writes.
datafactory_tests/instance/test_event_serdes.py checks every row of real runs against Dagster's own.

It reads the serializers' settings (`dagster_shared.serdes.serdes`: the whitelist map and `ObjectSerializer`'s fields,
`MetadataFieldSerializer`); Dagster has no public API to pack an object but `pack_value`, whose per-field path strings
are the cost.
"""

from __future__ import annotations

import json
from typing import Any

from dagster._core.definitions.metadata import MetadataFieldSerializer
from dagster_shared.serdes.serdes import (
    _WHITELIST_MAP,
    EMPTY_VALUES_TO_SKIP,
    NamedTupleSerializer,
    ObjectSerializer,
    pack_value,
)

_SCALARS = frozenset({int, float, str, bool, type(None)})
_dumps = json.JSONEncoder(sort_keys=True).encode  # dagster_shared.seven.json.dumps: json.dumps(sort_keys=True)
_plans: dict[type, tuple[NamedTupleSerializer, str, dict[str, Any]] | None] = {}


def _plan(klass: type) -> tuple[NamedTupleSerializer, str, dict[str, Any]] | None:
    """The serializer of a namedtuple or record class that packs as `ObjectSerializer.pack_items` does, its storage
    name and old fields; None for any other class."""
    serializer = _WHITELIST_MAP.object_serializers.get(klass.__name__)
    kind = type(serializer)
    if (serializer is None or serializer.klass is not klass or not isinstance(serializer, NamedTupleSerializer)
            or kind.pack_items is not ObjectSerializer.pack_items
            or kind.before_pack is not ObjectSerializer.before_pack
            or kind.get_storage_name is not ObjectSerializer.get_storage_name
            or kind.object_as_mapping is not NamedTupleSerializer.object_as_mapping):
        return None
    return serializer, serializer.get_storage_name(), dict(serializer.old_fields)


class EventPacker:
    """Serializes the events of one batch in turn; an object met again in the next event (the same object, not an equal
    one) is packed once, as it was: a batch's events are already built and nothing changes them while they are
    written. It remembers only what the last two events held, so a batch of 8,760 events costs no more memory than
    their rows."""

    def __init__(self):
        self._latest: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._earlier: dict[int, tuple[Any, dict[str, Any]]] = {}

    def serialize(self, value: Any) -> str:
        """`serialize_value(value)`, byte for byte."""
        text = _dumps(self._pack(value))
        self._earlier, self._latest = self._latest, {}
        return text

    def _pack(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list:
            return [item if type(item) in _SCALARS else self._pack(item) for item in value]
        if kind is dict:
            return {key: item if type(item) in _SCALARS else self._pack(item) for key, item in value.items()}
        plan = _plans[kind] if kind in _plans else _plans.setdefault(kind, _plan(kind))
        if plan is None:
            return pack_value(value)
        seen = self._latest.get(id(value)) or self._earlier.get(id(value))
        if seen is None:  # the memo holds each object it keys: an id stays that object's while it is there
            seen = (value, self._pack_object(value, *plan))
        self._latest[id(value)] = seen
        return seen[1]

    def _pack_object(self, value: Any, serializer: NamedTupleSerializer, name: str,
                     old_fields: dict[str, Any]) -> dict[str, Any]:
        """`ObjectSerializer.pack_items`, eagerly, without descent paths."""
        packed = {"__class__": name}
        storage_names, custom = serializer.storage_field_names, serializer.field_serializers
        skip_empty, skip_none = serializer.skip_when_empty_fields, serializer.skip_when_none_fields
        for key, field in serializer.object_as_mapping(value).items():
            if key in custom:
                field = (self._pack_metadata(field) if type(custom[key]) is MetadataFieldSerializer
                         else custom[key].pack(field, whitelist_map=_WHITELIST_MAP, descent_path=key))
            if (key in skip_empty and field in EMPTY_VALUES_TO_SKIP) or (key in skip_none and field is None):
                continue
            packed[storage_names.get(key, key)] = field if type(field) in _SCALARS else self._pack(field)
        packed.update(old_fields)
        return packed

    def _pack_metadata(self, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """`MetadataFieldSerializer.pack` (a metadata dict stored as the old list of entries), its values packed
        here instead of by a `pack_value` each."""
        return [{"__class__": "EventMetadataEntry", "label": label, "entry_data": self._pack(entry),
                 "description": None} for label, entry in metadata.items()]

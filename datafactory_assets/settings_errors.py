"""The error a bad configuration raises, and pydantic's account of the mistake as the one line a person reads: the
file, the entry as TOML writes it (`[symbols."BTC/USDT"].timeframe`, `[warehous]`) and what the entry allows, never
pydantic's multi-line dump.

What an entry allows is read off the model itself (its type, its bounds, or its `description` where those say too
little), so the message cannot drift from the check.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


class ConfigError(ValueError):
    """The configuration file or an override names something the platform cannot use."""


_SHOWN = 3  # problems spelled out in the line; the rest are counted
_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}
_BOUNDS = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}  # as pydantic's Field names them


def one_line(error: ValidationError, *, config_path: Path, model: type[BaseModel], within: tuple = ()) -> str:
    """`<file>: <entry>: <what it allows>, got <value>`, for up to three entries, the others counted; an entry is
    told once (a list with a bad item is not told again as a bad list). `within` is where in `model` the failed
    validation sits when it checked a part of the file (`("symbols", "BTC/USDT")`) rather than the whole."""
    problems: dict[str, str] = {}
    for detail in error.errors():
        entry, problem = _problem({**detail, "loc": (*within, *detail["loc"])}, model)
        if not any(_within(entry, told) or _within(told, entry) for told in problems):
            problems[entry] = problem
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return f"{config_path}: " + "; ".join(list(problems.values())[:_SHOWN]) + more


def _within(entry: str, other: str) -> bool:
    return entry == other or entry.startswith((other + ".", other + "["))


def _problem(detail: dict, model: type[BaseModel]) -> tuple[str, str]:
    loc, kind = list(detail["loc"]), detail["type"]
    names_a_key = loc[-1:] == ["[key]"]  # the key itself is wrong (`[sources.cmc]`), not its value
    loc = [part for part in loc if part != "[key]"]
    steps = _steps(model, loc)
    parent, annotation, field = steps[-1] if steps else (None, model, None)
    unknown_table = kind == "extra_forbidden" and isinstance(detail["input"], dict)
    entry = _entry(loc, steps, last_is_table=unknown_table or names_a_key)
    if kind == "extra_forbidden":
        known = ", ".join(getattr(parent, "model_fields", {})) or "none"
        return entry, f"{entry}: unknown {'table' if unknown_table else 'key'}; known: {known}"
    if kind in ("value_error", "assertion_error"):
        return entry, f"{entry}: {detail['ctx']['error']}"
    if names_a_key:
        return entry, f"{entry}: unknown name; it must be {_allowed(_unwrap(typing.get_args(parent)[0]), None)}"
    allowed = _allowed(annotation, field)
    if kind == "missing":
        return entry, f"{entry}: missing; it must be {allowed}"
    return entry, f"{entry}: must be {allowed}, got {_toml(detail['input'])}"


def _steps(model: type[BaseModel], loc: list) -> list[tuple[object, object, FieldInfo | None]]:
    """For each part of `loc`: the table or list holding it, its type, and its field (None for an item or a key)."""
    steps, annotation = [], model
    for part in loc:
        parent, field = annotation, None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            annotation = _unwrap(field.annotation) if field else None
        elif typing.get_origin(annotation) in (dict, list, tuple):
            annotation = _unwrap(typing.get_args(annotation)[-1 if typing.get_origin(annotation) is dict else 0])
        else:
            annotation = None
        steps.append((parent, annotation, field))
    return steps


def _entry(loc: list, steps: list, *, last_is_table: bool) -> str:
    """`loc` as TOML writes it: tables in brackets (`[sources.okx]`, `[symbols."BTC/USDT"]`), then the key."""
    tables, key = [], ""
    for position, (part, (_, annotation, _)) in enumerate(zip(loc, steps, strict=True)):
        name = part if isinstance(part, int) or part.isidentifier() else json.dumps(part)
        if isinstance(part, int):
            key += f"[{part}]"
        elif not key and (_is_table(annotation) or (last_is_table and position == len(loc) - 1)):
            tables.append(name)
        else:
            key += f".{name}" if key or tables else name
    return (f"[{'.'.join(tables)}]" if tables else "") + key


def _is_table(annotation) -> bool:
    return typing.get_origin(annotation) is dict or (isinstance(annotation, type) and issubclass(annotation,
                                                                                                 BaseModel))


def _unwrap(annotation):
    """`X | None` and `Annotated[X, ...]` as `X`."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _allowed(annotation, field: FieldInfo | None) -> str:
    if field is not None and field.description:
        return field.description
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(json.dumps(v) for v in typing.get_args(annotation))
    if _is_table(annotation):
        return "a table"
    kind = _KINDS.get(annotation, "a valid value")
    bounds = {name: _number(getattr(m, name)) for m in (field.metadata if field else ()) for name in _BOUNDS
              if getattr(m, name, None) is not None}
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {bounds['ge']} to {bounds['le']}"
    return " ".join([kind, " and ".join(f"{_BOUNDS[b]} {value}" for b, value in bounds.items())]).strip()


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _toml(value) -> str:
    """The value as the file wrote it (`true`, `"1m"`, `["okx"]`, `2.5`), not as Python prints it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    return json.dumps(value, default=str) if isinstance(value, str | list) else repr(value)

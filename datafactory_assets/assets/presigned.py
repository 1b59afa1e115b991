"""Compute functions that Dagster does not take apart again for every symbol.

`@dg.asset` reads its compute function's signature (`inspect.signature`, which caches nothing) about 18 times while it
builds the asset's op (the context parameter, the resources, the inputs, the type hints), and a copy's op (`copied`)
reads it again. The per-symbol factories make one function per asset from the same `def` (at 200 symbols, 600
functions of two shapes), so that inspection was about a sixth of building them. A function whose `__signature__` is
set is answered from it (PEP 362; Dagster reads the type hints from that same signature:
`dagster._core.decorator_utils.get_type_hints`), so each shape is inspected once per process and its later functions
carry the same, equal signature.
"""

import inspect
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

_SIGNATURES: dict[tuple, inspect.Signature] = {}


def presigned(fn: F) -> F:
    """`fn` with its signature set: the one computed for the first function of the same code, defaults and
    annotations (what a signature is made of)."""
    shape = (fn.__code__, fn.__defaults__, tuple((fn.__kwdefaults__ or {}).items()),
             tuple(fn.__annotations__.items()))
    if shape not in _SIGNATURES:
        _SIGNATURES[shape] = inspect.signature(fn)
    fn.__signature__ = _SIGNATURES[shape]
    return fn

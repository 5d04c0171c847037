"""Events as JSON lines, with the content of openlineage-python's ``Serde.to_json``."""

from __future__ import annotations

from enum import Enum
from typing import Any

import attr
import orjson

_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = frozenset({str, int, float, bool})


def event_line(event: Any) -> bytes:
    """An OpenLineage event (or dict) as one UTF-8 JSON line, ending in a newline, with the
    content of ``Serde.to_json`` (nulls dropped, enums as values) at a fraction of its cost:
    attrs fields are read directly instead of through ``attr.asdict`` and a second pass over
    the copy, and orjson encodes."""
    return orjson.dumps(_plain(event), option=orjson.OPT_APPEND_NEWLINE)


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if kind is list or kind is tuple:
        items = []
        for item in value:
            if item is not None:
                item = _plain(item)
                if item is not None and item != {}:
                    items.append(item)
        return items
    if isinstance(value, Enum):
        return value.value
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(a.name for a in attr.fields(kind))
    plain = {}
    for name in names:
        item = getattr(value, name)
        if item is not None:
            plain[name] = _plain(item)
    return plain

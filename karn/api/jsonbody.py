"""JSON sent to the API and the webhook: read with a limit on how deeply it nests.

Python's parser gives up on nesting deeper than its recursion limit with a
RecursionError, not a ValueError, and data nested almost that deep breaks the
next thing that walks it. Nothing Karn accepts nests more than a few levels.
"""

import json
from typing import Any

from flask import request

MAX_DEPTH = 32


class TooDeep(ValueError):
    """JSON nested more than MAX_DEPTH levels deep."""

    def __init__(self) -> None:
        super().__init__(f"The JSON is nested more than {MAX_DEPTH} levels deep.")


def _depth(value: Any) -> int:
    """How many arrays and objects deep value nests (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads(data: str | bytes) -> Any:
    """Parse JSON; ValueError when it is not JSON, TooDeep when it nests too deep."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep() from None
    if _depth(value) > MAX_DEPTH:
        raise TooDeep()
    return value


def from_request() -> Any:
    """The request's JSON body, or None when it is not JSON (no JSON content
    type, empty, or malformed), as ``request.get_json(silent=True)`` gives it;
    TooDeep when it nests too deep."""
    if not request.is_json:
        return None
    try:
        return loads(request.get_data(cache=True))
    except TooDeep:
        raise
    except ValueError:
        return None

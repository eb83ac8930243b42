"""`JSONCheckpointer`, and the check that a value survives a trip through JSON.

What is stored: ``None``, ``bool``, ``int``, ``float`` (``NaN`` and the infinities too,
written the way Python's `json` writes them), ``str``, and lists, tuples and dicts with
``str`` keys of those. On reload tuples come back as lists, and subclasses (enums,
``OrderedDict``, ...) as their base type. Everything else is refused with a message that
names the value's type and where it sits, rather than stored as something different:
sets, bytes, objects, dict keys that are not strings (JSON would turn ``1`` into ``"1"``),
reference cycles and ints too long to write in decimal.
"""

from __future__ import annotations

import json
from typing import Any

from pyworkflowy import CheckpointError

from ._files import FileCheckpointer
from ._records import FORMAT, VERSION, Record, check_records, check_version

__all__ = ["JSONCheckpointer", "check_json", "find_json_problem"]

JSON_HINT = (
    "; JSON holds None, bool, int, float, str and lists and str-keyed dicts of them: convert "
    "the value, or use PickleCheckpointer (a .pkl path)"
)
_PLAIN = frozenset({str, float, bool, type(None)})
_SAFE_INT_BITS = 13_000  # below this an int always has fewer than 4300 decimal digits
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # ASCII output keeps lone surrogates
_HEAD_MARK = f'"{FORMAT}"'.encode()


def check_json(value: object, what: str, hint: str = JSON_HINT) -> None:
    """Raise `CheckpointError` naming ``what`` unless ``value`` can be stored as JSON."""
    cls = type(value)
    if cls in _PLAIN:
        return
    if cls is int and isinstance(value, int) and value.bit_length() < _SAFE_INT_BITS:
        return
    problem = find_json_problem(value)
    if problem is not None:
        where, message = problem
        raise CheckpointError(f"{what}{where} {message}{hint}")


def find_json_problem(value: object) -> tuple[str, str] | None:
    """``(where inside value, what is wrong)`` for the first part JSON cannot store, or None."""
    try:
        return _problem(value, set())
    except RecursionError:
        return "", "is nested too deeply to be stored as JSON"


def _problem(value: Any, active: set[int]) -> tuple[str, str] | None:
    cls = type(value)
    if cls in _PLAIN:
        return None
    if cls is int:
        return _int_problem(value)
    if isinstance(value, (list, tuple)):
        key = id(value)
        if key in active:
            return "", "contains itself (a reference cycle), which JSON cannot store"
        active.add(key)
        for i, item in enumerate(value):
            if type(item) in _PLAIN:
                continue
            found = _problem(item, active)
            if found is not None:
                return f"[{i}]{found[0]}", found[1]
        active.discard(key)
        return None
    if isinstance(value, dict):
        key = id(value)
        if key in active:
            return "", "contains itself (a reference cycle), which JSON cannot store"
        active.add(key)
        for name, item in value.items():
            if not isinstance(name, str):
                return "", (
                    f"has a key of type {type(name).__qualname__} ({name!r:.40}) that JSON "
                    "would turn into a string"
                )
            if type(item) in _PLAIN:
                continue
            found = _problem(item, active)
            if found is not None:
                return f"[{name!r}]{found[0]}", found[1]
        active.discard(key)
        return None
    if isinstance(value, int) and not isinstance(value, bool):  # IntEnum and friends
        return _int_problem(int(value))
    if isinstance(value, (str, float)):  # StrEnum and friends: stored as the plain value
        return None
    return "", f"of type {cls.__qualname__} cannot be stored as JSON"


def _int_problem(value: int) -> tuple[str, str] | None:
    if value.bit_length() < _SAFE_INT_BITS:
        return None
    try:
        int.__repr__(value)
    except ValueError:
        return "", (
            "is an int too long to write in decimal (see sys.set_int_max_str_digits), "
            "so it cannot be stored as JSON"
        )
    return None


def record_problem(records: dict[str, Record]) -> str:
    """Describe the first record JSON refuses (called only after encoding failed)."""
    for handle_id, record in records.items():
        for field, value in record.items():
            problem = find_json_problem(value)
            if problem is not None:
                return f"the {field} of task {handle_id!r}{problem[0]} {problem[1]}"
    return "a record cannot be stored as JSON"


class JSONCheckpointer(FileCheckpointer):
    """Keeps the records in one JSON file, rewritten atomically on every save.

    The default checkpointer. Arguments and return values must be JSON data (checked at
    submit and when a task returns; see the module docs for the exact rules). The file
    is ``{"format": "pyworkflowy-checkpoint", "version": 1, "records": {id: record}}``,
    so a foreign JSON file is recognised and left alone.
    """

    kind = "JSON"

    def validate(self, value: object, what: str) -> None:
        check_json(value, what)

    def _encode(self, records: dict[str, Record]) -> bytes:
        document = {"format": FORMAT, "version": VERSION, "records": records}
        try:
            text = _ENCODER.encode(document)
        except (TypeError, ValueError, RecursionError) as exc:
            raise CheckpointError(
                f"cannot write the checkpoint {str(self.path)!r}: {record_problem(records)}"
            ) from exc
        return text.encode("ascii")

    def _decode(self, data: bytes) -> dict[str, Record]:
        where = self._where()
        try:
            document = json.loads(data)
        except json.JSONDecodeError as exc:
            raise CheckpointError(
                f"{where} is corrupt or truncated: it is not valid JSON ({exc.msg} at line "
                f"{exc.lineno}, column {exc.colno})"
            ) from exc
        except (UnicodeDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{where} is corrupt: it is not JSON text ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CheckpointError(
                f"{where} is not a pyworkflowy checkpoint: it is JSON, but not an object "
                f'with "format": "{FORMAT}"'
            )
        check_version(document.get("version"), where)
        return check_records(document.get("records"), where)

    def _is_ours(self, head: bytes) -> bool:
        return _HEAD_MARK in head

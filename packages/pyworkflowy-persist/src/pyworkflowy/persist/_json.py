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

import base64
import json
import math
import sys
from array import array
from typing import Any, cast

from pyworkflowy import CheckpointError

from ._files import FileCheckpointer
from ._records import (
    FIELDS,
    FORMAT,
    SINGULAR,
    VERSION,
    RecordColumns,
    check_columns,
    check_version,
    lists,
)

__all__ = ["JSONCheckpointer", "check_json", "column_problem", "find_json_problem"]

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


def column_problem(columns: RecordColumns) -> str:
    """Describe the first entry JSON refuses (called only after encoding failed)."""
    for field, column in zip(FIELDS, lists(columns), strict=True):
        for hid, value in zip(columns.ids, column, strict=True):
            problem = find_json_problem(value)
            if problem is not None:
                return f"the {SINGULAR[field]} of task {hid!r}{problem[0]} {problem[1]}"
    return "a record cannot be stored as JSON"


# The file keeps a status as one letter in a string per segment.
_CODES = {
    "completed": "C",
    "failed": "F",
    "cancelled": "X",
    "skipped": "S",
    "started": "R",  # running: a start record
    "started-once": "O",  # a start record of a task with idempotent=False
}
_STATUSES = {code: status for status, code in _CODES.items()}
_NONE = (type(None),)
# besides the name indexes
_SQUEEZED = (
    "values",
    "errors",
    "attempts",
    "fingerprints",
    "depends_on",
    "attempt_times",
    "backends",
)


def _pack_times(times: list[float | None]) -> str:
    """Timestamps as base64 of little-endian IEEE 754 doubles; NaN stands for None."""
    floats = [math.nan if t is None else t for t in times] if None in times else times
    packed = array("d", cast("list[float]", floats))
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _squeeze(column: list[Any], kinds: tuple[type, ...], *, exact: bool = False) -> Any:
    """``{"all": v}`` for a column whose entries all equal ``v``, else the column itself.

    Only for entries of the types in ``kinds``, among which equality keeps the type. A
    column whose types `columns_of` has checked needs no more; ``exact`` checks that every
    entry has the type of the first (``True == 1``, yet a bool must stay a bool).
    """
    if (
        column
        and type(column[0]) in kinds
        and column.count(column[0]) == len(column)
        and (not exact or len(set(map(type, column))) == 1)
    ):
        return {"all": column[0]}
    return column


def _expand(column: object, n: int) -> object:
    if isinstance(column, dict) and column.keys() == {"all"}:
        return [column["all"]] * n
    return column


def _unpack_times(text: object, n: int, what: str) -> list[float | None]:
    if not isinstance(text, str):
        raise ValueError(f"its {what} are not a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ValueError(f"its {what} are not valid base64 ({exc})") from None
    if len(data) != 8 * n:
        raise ValueError(f"its {what} hold {len(data)} bytes, not 8 for each of {n} ids")
    packed = array("d")
    packed.frombytes(data)
    if sys.byteorder == "big":
        packed.byteswap()
    return [None if t != t else t for t in packed]  # NaN is the only value unequal to itself


def _to_columns(segment: object) -> dict[str, object]:
    """A segment as stored turned into the plain columns `check_columns` verifies."""
    if not isinstance(segment, dict):
        return {}  # check_columns names what is missing
    ids = segment.get("ids")
    n = len(ids) if isinstance(ids, list) else 0
    table, indexes = segment.get("names"), _expand(segment.get("name"), n)
    if not isinstance(table, list) or not isinstance(indexes, list):
        raise ValueError("its names are not a table and a list of indexes")
    if not all(type(i) is int and 0 <= i < len(table) for i in indexes):
        raise ValueError("its name indexes do not all point into its name table")
    names = [table[i] for i in indexes]
    codes = segment.get("status")
    if not isinstance(codes, str) or len(codes) != n:
        raise ValueError(f"its status is not a string of one letter for each of {n} ids")
    try:
        statuses = [_STATUSES[code] for code in codes]
    except KeyError as exc:
        raise ValueError(f"its status holds the unknown letter {exc.args[0]!r}") from None
    return {
        **segment,
        **{field: _expand(segment.get(field), n) for field in _SQUEEZED if field in segment},
        "names": names,
        "statuses": statuses,
        "started_at": _unpack_times(segment.get("started_at"), n, "start times"),
        "finished_at": _unpack_times(segment.get("finished_at"), n, "finish times"),
    }


class JSONCheckpointer(FileCheckpointer):
    """Keeps the records in one JSON file, rewritten atomically on every save.

    The default checkpointer. Arguments and return values must be JSON data (checked at
    submit and when a task returns; see the module docs for the exact rules). The file
    is ``{"format": "pyworkflowy-checkpoint", "version": 1, "segments": [...]}``, so a
    foreign JSON file is recognised and left alone. Each segment holds the records of
    one save column by column: ``ids``, ``names`` (a table) with ``name`` (an index into
    it per id), ``status`` (one letter per id: ``C`` completed, ``F`` failed, ``X``
    cancelled, ``S`` skipped), ``values``, ``errors``, ``attempts``, ``fingerprints``,
    and ``started_at`` / ``finished_at`` as base64 of little-endian float64 seconds
    since the epoch (NaN for none); ``depends_on`` (per id: null, an id or a list of
    ids) and ``attempt_times`` (per id: null when the start and finish times say it
    all, else ``[start1, end1, start2, ...]``) and ``backends`` (per id: the name of
    the lane that ran it), which files written before they existed lack. A later
    segment's record of an id replaces an earlier one. Column by column, a record costs
    a fraction of a microsecond to write.
    """

    kind = "JSON"

    def validate(self, value: object, what: str) -> None:
        check_json(value, what)

    def _encode_segment(self, columns: RecordColumns) -> bytes:
        names = columns.names
        table: dict[str, int] = {}
        try:
            if names and names.count(names[0]) == len(names):  # one task's batch: no loop
                table[names[0]] = 0
                indexes: Any = {"all": 0}
            else:
                indexes = _squeeze([table.setdefault(name, len(table)) for name in names], (int,))
            document = {
                "ids": columns.ids,
                "names": list(table),
                "name": indexes,
                "status": "".join(map(_CODES.__getitem__, columns.statuses)),
                "values": _squeeze(columns.values, _NONE, exact=True),  # never type-checked
                "errors": _squeeze(columns.errors, _NONE),
                "attempts": _squeeze(columns.attempts, (int,)),
                "started_at": _pack_times(columns.started_at),
                "finished_at": _pack_times(columns.finished_at),
                "fingerprints": _squeeze(columns.fingerprints, (str,)),
                "depends_on": _squeeze(columns.depends_on or [], _NONE),
                "attempt_times": _squeeze(columns.attempt_times or [], _NONE),
                "backends": _squeeze(columns.backends or [], (str, *_NONE)),
            }
            return _ENCODER.encode(document).encode("ascii")
        except KeyError as exc:
            problem = f"unknown task status {exc.args[0]!r}"
        except OverflowError as exc:  # a timestamp too large for a float
            problem = f"a start or finish time is out of range ({exc})"
        except (TypeError, ValueError, RecursionError):
            problem = column_problem(columns)
        raise CheckpointError(f"cannot write the checkpoint {str(self.path)!r}: {problem}")

    def _encode_file(self, segments: list[bytes]) -> bytes:
        head = _ENCODER.encode({"format": FORMAT, "version": VERSION})[:-1].encode("ascii")
        return b'%s,"segments":[%s]}' % (head, b",".join(segments))

    def _decode(self, data: bytes) -> list[RecordColumns]:
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
        except ValueError as exc:  # an int over sys.get_int_max_str_digits() digits
            raise CheckpointError(
                f"{where} cannot be read: {exc}. pyworkflowy never writes such an int, so "
                "the file was changed by something else; raise the limit with "
                "sys.set_int_max_str_digits() to read it anyway, or start a fresh run"
            ) from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CheckpointError(
                f"{where} is not a pyworkflowy checkpoint: it is JSON, but not an object "
                f'with "format": "{FORMAT}"'
            )
        check_version(document.get("version"), where)
        segments = document.get("segments")
        if not isinstance(segments, list):
            raise CheckpointError(
                f"{where} is malformed: its segments are a {type(segments).__name__}, not a list"
            )
        decoded = []
        for i, segment in enumerate(segments):
            try:
                plain = _to_columns(segment)
            except ValueError as exc:
                raise CheckpointError(f"{where} is malformed: segment {i}: {exc}") from None
            decoded.append(check_columns(plain, f"{where} (segment {i})"))
        return decoded

    def _is_ours(self, head: bytes) -> bool:
        return _HEAD_MARK in head

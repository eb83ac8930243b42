"""`PickleCheckpointer`: any value pickle accepts, in one file rewritten atomically.

Loading a pickle runs code chosen by whoever wrote the file, so only resume from files
this program wrote. The file starts with a plain-text header that is checked before
anything is unpickled: a foreign ``.pkl`` file is refused without being unpickled.
"""

from __future__ import annotations

import io
import pickle

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

__all__ = ["PickleCheckpointer"]

PROTOCOL = 5
_MAGIC = f"{FORMAT} pickle v".encode()  # then the version digits and a newline
_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})


def _pickle_problem(value: object) -> str | None:
    try:
        pickle.dumps(value, protocol=PROTOCOL)
    except Exception as exc:
        return f"of type {type(value).__qualname__} cannot be pickled ({type(exc).__name__}: {exc})"
    return None


class PickleCheckpointer(FileCheckpointer):
    """Keeps the records in one pickle file, rewritten atomically on every save.

    Stores anything pickle accepts (checked at submit and when a task returns). Loading
    runs code from the file: resume only from checkpoints your own program wrote.
    """

    kind = "pickle"

    def validate(self, value: object, what: str) -> None:
        if type(value) in _PLAIN:
            return
        problem = _pickle_problem(value)
        if problem is not None:
            raise CheckpointError(f"{what} {problem}; use a value pickle can store")

    def _encode_segment(self, columns: RecordColumns) -> bytes:
        try:
            return pickle.dumps(dict(zip(FIELDS, columns, strict=True)), protocol=PROTOCOL)
        except Exception as exc:
            raise CheckpointError(
                f"cannot write the checkpoint {str(self.path)!r}: {_culprit(columns)}"
            ) from exc

    def _encode_file(self, segments: list[bytes]) -> bytes:
        # The count first, so that a file cut at a segment boundary is still caught.
        count = pickle.dumps(len(segments), protocol=PROTOCOL)
        return b"%s%d\n%s%s" % (_MAGIC, VERSION, count, b"".join(segments))

    def _decode(self, data: bytes) -> list[RecordColumns]:
        where = self._where()
        if not data.startswith(_MAGIC):
            raise CheckpointError(
                f"{where} is not a pyworkflowy pickle checkpoint (it lacks the "
                f"{_MAGIC.decode()!r} header), so it was not unpickled"
            )
        end = data.find(b"\n", len(_MAGIC), len(_MAGIC) + 12)
        digits = data[len(_MAGIC) : end] if end > 0 else b""
        check_version(int(digits) if digits.isdigit() else digits.decode("latin-1"), where)
        stream = io.BytesIO(memoryview(data)[end + 1 :])
        try:
            count = pickle.load(stream)
            if type(count) is not int or count < 0:
                raise CheckpointError(f"{where} is malformed: it does not start with a count")
            segments = [pickle.load(stream) for _ in range(count)]
        except CheckpointError:
            raise
        except Exception as exc:  # truncated data, or a class that cannot be imported now
            raise CheckpointError(
                f"{where} cannot be unpickled; it is corrupt or truncated, or needs a class "
                f"that cannot be imported here ({type(exc).__name__}: {exc})"
            ) from exc
        if stream.read(1):
            raise CheckpointError(f"{where} is corrupt: it has data after its last segment")
        return [
            check_columns(segment, f"{where} (segment {i})") for i, segment in enumerate(segments)
        ]

    def _is_ours(self, head: bytes) -> bool:
        return head.startswith(_MAGIC)


def _culprit(columns: RecordColumns) -> str:
    for field, column in zip(FIELDS, lists(columns), strict=True):
        for hid, value in zip(columns.ids, column, strict=True):
            problem = _pickle_problem(value)
            if problem is not None:
                return f"the {SINGULAR[field]} of task {hid!r} {problem}"
    return "the records cannot be pickled"

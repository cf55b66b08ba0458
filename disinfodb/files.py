"""Files written whole or not at all: through a temporary file beside the target, renamed
over it at the end (a rename within one folder is atomic), so a crash or an error never
leaves a half-written export, review, backup, model or scan part where the real one goes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial"  # what a temporary file's name ends with (a crash may leave one: it is never read)


@contextmanager
def write_atomic(target: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """The temporary path to write `target` through. It replaces `target` when the block
    ends, and is removed if the block raises. `durable`: flushed to disk before the rename
    (what a resumable job needs to trust a file it finds after a crash)."""
    target = Path(target)
    partial = target.with_name(target.name + PARTIAL)
    partial.unlink(missing_ok=True)
    try:
        yield partial
        if durable:
            with open(partial, "rb+") as stream:
                os.fsync(stream.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)

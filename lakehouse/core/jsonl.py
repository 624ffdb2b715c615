"""The one JSON-lines writer: audit trails, alerts and the release log append one record per line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO


def encode(record: dict[str, Any]) -> str:
    """One line: UTF-8 kept readable (Vietnamese names of things), values the encoder cannot take as str."""
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one record; the parent folder is created. One write call per line, so concurrent
    appenders (O_APPEND) never interleave inside a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(encode(record))


def open_log(path: Path) -> TextIO:
    """A line-buffered append handle, for writers that keep the file open (the gateway opens it before
    dropping privileges)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8", buffering=1)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every record, oldest first; a torn last line (a writer killed mid-write) is skipped."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                yield json.loads(line)

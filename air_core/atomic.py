"""Temporary files and folders beside a target, created with the modes ``open`` and ``mkdir`` give.

``tempfile.mkstemp`` and ``mkdtemp`` create 0600 files and 0700 folders whatever the umask, so an
artifact renamed into place from one is unreadable to the rest of a shared project's group. These
create theirs with 0o666 and 0o777 and let the kernel apply the umask (and any default ACL), exactly
as a plain ``open(path, "w")`` or ``mkdir`` would.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_FILE_MODE, _DIR_MODE = 0o666, 0o777  # what open() and mkdir() ask for; the umask takes away from them


def _create_beside(path: Path, suffix: str, make) -> Path:
    """``make`` a new hidden name beside ``path`` (``.<name>.<random><suffix>``), never the target's own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        candidate = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            make(candidate)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _new_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), _FILE_MODE))


def temp_file_beside(path: str | os.PathLike, suffix: str | None = None) -> Path:
    """Create an empty temporary file in ``path``'s folder (made if missing) and return its path.

    The suffix defaults to the target's, so writers that pick a format from the name still see it.
    """
    path = Path(path)
    return _create_beside(path, path.suffix if suffix is None else suffix, _new_file)


def temp_dir_beside(path: str | os.PathLike) -> Path:
    """Create an empty temporary folder in ``path``'s folder (made if missing) and return its path."""
    return _create_beside(Path(path), "", lambda candidate: os.mkdir(candidate, _DIR_MODE))


def replace_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (no checksum: the results folder's
    own bookkeeping, the marker and the checksum files, is written with this)."""
    path = Path(path)
    tmp = temp_file_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

"""Checksums of finished artifacts, one small file per artifact in the claimed results folder.

A results folder is claimed by a marker file (``MARKER``, written by
``air_core.results_dir.claim_results_dir``). Every artifact ``<R>/<rel>`` written through
``air_core.artifacts`` inside a claimed folder gets ``<R>/.air/checksums/<rel>.sha256`` in the
format of ``sha256sum`` (``<hex>  <rel>``), so ``cd <R> && find .air/checksums -name '*.sha256'
-exec cat {} + | sha256sum -c`` checks them without this project. One file per artifact, each written through a
rename, because many jobs finish artifacts at once. Files outside a claimed folder get none.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from air_core.atomic import replace_text

MARKER = ".air_results.json"
CHECKSUMS = Path(".air") / "checksums"
_CHUNK = 1 << 20


def claimed_root(folder: str | os.PathLike) -> Path | None:
    """The claimed results folder that holds ``folder`` (it, or the nearest folder above it with the
    marker), or None.

    The path is made absolute but symlinks are kept, so a results folder reached through a link is
    found through the same link. (os.path, not pathlib: this runs for every image a job writes.)
    """
    folder = os.path.abspath(folder)
    while True:
        if os.path.isfile(os.path.join(folder, MARKER)):
            return Path(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _relative(root: str | os.PathLike, path: str | os.PathLike) -> str:
    """``path`` relative to ``root``, POSIX style."""
    return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root))).as_posix()


def checksum_file(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Where the checksum of the artifact ``path`` under the claimed folder ``root`` lies."""
    return Path(root) / CHECKSUMS / f"{_relative(root, path)}.sha256"


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def forget(root: Path, path: str | os.PathLike) -> None:
    """Drop the checksum of ``path`` (under the claimed folder ``root``) before the file is replaced.

    A job killed between the rename and ``record`` then leaves a file without a checksum (unchecked),
    never a new file beside the old checksum (which would look damaged).
    """
    checksum_file(root, path).unlink(missing_ok=True)


def record(root: Path, path: str | os.PathLike) -> None:
    """Record the checksum of the finished artifact ``path`` under the claimed folder ``root``."""
    rel = _relative(root, path)
    replace_text(root / CHECKSUMS / f"{rel}.sha256", f"{sha256_file(path)}  {rel}\n")


def recorded(root: Path, path: str | os.PathLike) -> str | None:
    """The recorded SHA-256 of ``path`` under ``root``: None without a checksum file, '' if it is unreadable."""
    try:
        text = checksum_file(root, path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""
    digest = text.split(" ", 1)[0].strip()
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else ""


def forget_tree(root: Path, folder: str | os.PathLike) -> None:
    """Drop the checksums of every file under ``folder`` before the folder is replaced whole."""
    shutil.rmtree(root / CHECKSUMS / _relative(root, folder), ignore_errors=True)

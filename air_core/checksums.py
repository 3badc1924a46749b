"""Checksums of finished artifacts, one small file per artifact in the claimed results folder.

A results folder is claimed by a marker file (``MARKER``, written by
``air_core.results_dir.claim_results_dir``). Every artifact ``<R>/<rel>`` written through
``air_core.artifacts`` inside a claimed folder gets ``<R>/.air/checksums/<rel>.sha256`` in the
format of ``sha256sum`` (``<hex>  <rel>``), so ``cd <R> && cat .air/checksums/**/*.sha256 |
sha256sum -c`` checks them without this project. One file per artifact, each written through a
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


def claimed_root(path: str | os.PathLike) -> Path | None:
    """The claimed results folder that holds ``path`` (the nearest folder above it with the marker), or None.

    The path is made absolute but symlinks are kept, so a results folder reached through a link is
    found through the same link.
    """
    folder = Path(os.path.abspath(path))
    for candidate in (folder, *folder.parents):
        if (candidate / MARKER).is_file():
            return candidate
    return None


def checksum_file(root: Path, path: str | os.PathLike) -> Path:
    """Where the checksum of the artifact ``path`` under the claimed folder ``root`` lies."""
    rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    return Path(root) / CHECKSUMS / rel.parent / f"{rel.name}.sha256"


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def forget(path: str | os.PathLike) -> None:
    """Drop the checksum of ``path`` before the file is replaced.

    A job killed between the rename and ``record`` then leaves a file without a checksum (unchecked),
    never a new file beside the old checksum (which would look damaged).
    """
    root = claimed_root(Path(path).parent)
    if root is not None:
        checksum_file(root, path).unlink(missing_ok=True)


def record(path: str | os.PathLike) -> None:
    """Record the checksum of the finished artifact ``path`` if it lies in a claimed results folder."""
    root = claimed_root(Path(path).parent)
    if root is None:
        return
    rel = Path(os.path.abspath(path)).relative_to(root).as_posix()
    replace_text(checksum_file(root, path), f"{sha256_file(path)}  {rel}\n")


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


def forget_tree(path: str | os.PathLike) -> None:
    """Drop the checksums of every file under the folder ``path`` before the folder is replaced whole."""
    root = claimed_root(Path(path).parent)
    if root is not None:
        rel = Path(os.path.abspath(path)).relative_to(root)
        shutil.rmtree(root / CHECKSUMS / rel, ignore_errors=True)

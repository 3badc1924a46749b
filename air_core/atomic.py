"""Temporary files and folders beside a target, created with the modes ``open`` and ``mkdir`` give.

``tempfile.mkstemp`` and ``mkdtemp`` create 0600 files and 0700 folders whatever the umask, so an
artifact renamed into place from one is unreadable to the rest of a shared project's group. These
create theirs with 0o666 and 0o777 and let the kernel apply the umask, exactly as a plain
``open(path, "w")`` or ``mkdir`` would. Some writers replace the file they are given with one of
their own (safetensors 0.8 writes 0600 files), so ``file_mode`` is also what a finished artifact
is set to before it is renamed into place.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

_FILE_MODE, _DIR_MODE = 0o666, 0o777  # what open() and mkdir() ask for; the umask takes away from them


def umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` can only swap it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: swap and restore (a moment in which another thread could create a file)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open`` gives a new file: 0o666 less the umask (0o644 with the usual 022)."""
    return _FILE_MODE & ~umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder: 0o777 less the umask (0o755 with the usual 022)."""
    return _DIR_MODE & ~umask()


def set_modes(path: str | os.PathLike) -> None:
    """Give ``path`` (a file, or a folder and everything in it) the modes of a new file or folder."""
    path = Path(path)
    wanted = {True: dir_mode(), False: file_mode()}
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        mode = wanted[item.is_dir()]
        if stat.S_IMODE(item.stat().st_mode) != mode:
            os.chmod(item, mode)


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

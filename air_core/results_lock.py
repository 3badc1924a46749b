"""The lock of a results folder: one workflow at a time writes into it.

Snakemake's own lock lives in the working directory's ``.snakemake`` folder, so the same config run
from a second ``--directory`` (with an absolute ``results_dir``) was not refused: both runs executed
the same jobs into one folder and one failed on a file the other had just replaced. The Snakemake
main process therefore takes ``<R>/.air/lock`` with ``flock`` in the ``onstart`` handler and holds it
for its whole life. The kernel releases an flock when the process ends, however it ends (SIGKILL,
a crash, a lost node), so a killed run leaves no stale lock. Jobs never take it: Snakemake runs
``onstart`` only in the main process (a SLURM job's snakemake runs without hooks), and the lock's
file descriptor is not inherited by the jobs' processes (it is close-on-exec).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

from air_core.errors import ConfigError

log = logging.getLogger("air")

LOCK = Path(".air") / "lock"
_HELD: dict[str, int] = {}  # lock file -> its descriptor, held until this process ends
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def _holder_text(fd: int) -> str:
    """Who holds the lock, as its file says (written by the holder right after it took the lock)."""
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "another process (it has not written its name yet)"
    return (
        f"pid {data.get('pid')} on host {data.get('host')}, working directory {data.get('cwd')}, "
        f"started {data.get('started')}"
    )


def holder(results_dir: str | os.PathLike) -> str | None:
    """Who holds the lock of ``results_dir`` now, or None when no workflow does (a stale file counts as free)."""
    path = Path(results_dir) / LOCK
    if str(path.resolve()) in _HELD or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return _holder_text(fd) if error.errno in _BUSY else None
    finally:
        os.close(fd)  # closing drops a lock taken here
    return None


def lock_results_dir(results_dir: str | os.PathLike) -> None:
    """Take the lock of the claimed results folder ``results_dir`` for the rest of this process's life.

    Raises:
        ConfigError: another live process holds it; the message names the folder and that process (pid,
            host, working directory).
    """
    path = Path(results_dir) / LOCK
    key = str(path.resolve())
    if key in _HELD:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        other = _holder_text(fd)
        os.close(fd)
        if error.errno not in _BUSY:  # a file system without locks: warn, do not stop every run there
            log.warning("cannot lock %s (%s): a second workflow writing into it would not be refused", path, error)
            return
        raise ConfigError(
            f"results_dir '{results_dir}' is in use: another workflow is writing into it ({other}). Two "
            "workflows writing into one results folder run the same jobs and break each other's files. Wait "
            "for it to end, or give this run another results_dir. The lock goes with that process, also when "
            f"it is killed, so there is nothing to unlock ({path})"
        ) from None
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "cwd": os.getcwd(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    os.ftruncate(fd, 0)  # in place: a new file through a rename would be another inode, with no lock on it
    os.pwrite(fd, (json.dumps(me) + "\n").encode("utf-8"), 0)
    _HELD[key] = fd
    log.info("locked the results folder %s for this workflow (pid %d)", results_dir, me["pid"])

"""Class names as file-system-safe path parts."""

from __future__ import annotations

import hashlib
import re
import unicodedata


def slugify(name: str) -> str:
    """A path-safe, unique-enough form of a class name ("colt's foot" -> "colt_s_foot-1a2b").

    The readable part keeps ASCII letters, digits, '-' and '_'; a short hash of the exact
    name is appended whenever the readable part lost information, so two names never share
    a slug and the original name lives in the class table, never in the path.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_name).strip("_") or "class"
    if readable == name:
        return readable
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{readable}-{digest}"

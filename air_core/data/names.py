"""Class names: their file-system-safe slugs, and the check that no two of them collide.

Two classes must differ in three ways, or one silently takes the other's place: as written (a
class-name file or folder list with a name twice), as a slug (the folder of a class's synthetic
images; compared without case, as macOS and Windows file systems compare names) and as CLIP
reads them (open_clip's tokenizer lowercases and ignores spacing, so 'C0' and 'c0' would get the
same text features).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

from air_core.errors import DatasetError

MAX_NAME_BYTES = 255  # the longest file or folder name of common file systems (ext4, XFS, APFS, NTFS)
MAX_READABLE = 200  # a slug's readable part: with the '-<hash>' it stays well under MAX_NAME_BYTES


def slugify(name: str) -> str:
    """A path-safe, unique-enough form of a class name ("colt's foot" -> "colt_s_foot-1a2b").

    The readable part keeps ASCII letters, digits, '-' and '_', cut at ``MAX_READABLE`` characters; a short
    hash of the exact name is appended whenever the readable part lost information (or was cut), so two names
    never share a slug, every slug fits a file name, and the original name lives in the class table, never in
    the path.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    readable = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_name).strip("_")[:MAX_READABLE] or "class"
    if readable == name:
        return readable
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:6]
    return f"{readable}-{digest}"


@functools.lru_cache(maxsize=1)
def _clip_tokenizer():
    # Imported here: open_clip pulls in torch, which only this check of the manifest rule needs.
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()  # the BPE tokenizer of every open_clip model config this project uses


def clip_tokens(name: str) -> tuple[int, ...]:
    """The token ids CLIP's tokenizer gives ``name`` (lowercased, spacing and HTML entities normalised)."""
    return tuple(_clip_tokenizer().encode(name))


def _first_clash(names: Sequence[str], key: Callable[[str], object]) -> tuple[int, int] | None:
    first: dict[object, int] = {}
    for i, name in enumerate(names):
        j = first.setdefault(key(name), i)
        if j != i:
            return j, i
    return None


def check_distinct_names(names: Sequence[str], sources: Sequence[str], fix: str) -> None:
    """DatasetError when two class names are equal, share a slug or read alike to CLIP.

    Args:
        names: the class names in label order.
        sources: where each name comes from ("classes.txt line 3", "folder 'a_b' of /data/x").
        fix: what to change, appended to the message ("rename one of the two lines").
    """

    def both(i: int, j: int) -> str:
        return f"{names[i]!r} ({sources[i]}) and {names[j]!r} ({sources[j]})"

    clash = _first_clash(names, lambda n: n)
    if clash:
        i, j = clash
        raise DatasetError(
            f"class name {names[i]!r} is given twice: {sources[i]} and {sources[j]}; two classes "
            f"need two names, so {fix}"
        )
    clash = _first_clash(names, clip_tokens)
    if clash:
        i, j = clash
        read = _clip_tokenizer().clean_fn(names[i])  # the text its BPE sees
        raise DatasetError(
            f"class names {both(i, j)} are the same text to CLIP (its tokenizer lowercases and "
            f"ignores spacing; it reads both as {read!r}), so the two classes would get identical "
            f"text features and could not be told apart; {fix}"
        )
    clash = _first_clash(names, lambda n: slugify(n).casefold())
    if clash:
        i, j = clash
        raise DatasetError(
            f"class names {both(i, j)} get the folder names {slugify(names[i])!r} and "
            f"{slugify(names[j])!r}, one folder where case is ignored (macOS, Windows), so one "
            f"class's synthetic images would overwrite the other's; {fix}"
        )


def read_class_names(path: str | Path, expected: int | None = None) -> list[str]:
    """The names of a class-name file (one a line, blank lines ignored), checked to be distinct."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"class-name file {path} does not exist; fix 'class_names' in the dataset's config")
    lines = [(n, line.strip()) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)]
    lines = [(n, name) for n, name in lines if name]
    names = [name for _, name in lines]
    if expected is not None and len(names) != expected:
        raise DatasetError(f"class-name file {path} has {len(names)} names but the dataset has {expected} classes")
    check_distinct_names(names, [f"{path} line {n}" for n, _ in lines], f"rename one of the two lines of {path}")
    return names

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


SHOWN_CHARS = 60  # a longer name is shown by its ends and its length


def shown(name: str) -> str:
    """``name`` quoted for a message: a long one cut in the middle with its length, so that a 10,000-character
    line does not become a 10,000-character message."""
    if len(name) <= SHOWN_CHARS:
        return repr(name)
    half = SHOWN_CHARS // 2
    return f"{name[:half]!r}...{name[-half:]!r} ({len(name):,} characters)"


def code_points(name: str) -> str:
    """The code points of ``name`` (``U+0063 U+0301``): what tells apart two names that look the same."""
    return " ".join(f"U+{ord(c):04X}" for c in name[:SHOWN_CHARS]) + (" ..." if len(name) > SHOWN_CHARS else "")


def _look_alike(a: str, b: str) -> bool:
    """Two different texts that print the same: one composed (NFC, 'é' as U+00E9) and one decomposed (NFD,
    'e' + U+0301), or other Unicode compatibility forms."""
    return a != b and unicodedata.normalize("NFKC", a) == unicodedata.normalize("NFKC", b)


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
        if _look_alike(names[i], names[j]):  # the two would print alike: show what differs
            return (
                f"{shown(names[i])} ({sources[i]}; code points {code_points(names[i])}) and {shown(names[j])} "
                f"({sources[j]}; code points {code_points(names[j])}), the same letters written in two Unicode "
                "forms (e.g. composed, NFC, and decomposed, NFD; an editor or a file system may turn one into "
                "the other),"
            )
        return f"{shown(names[i])} ({sources[i]}) and {shown(names[j])} ({sources[j]})"

    clash = _first_clash(names, lambda n: n)
    if clash:
        i, j = clash
        raise DatasetError(
            f"class name {shown(names[i])} is given twice: {sources[i]} and {sources[j]}; two classes "
            f"need two names, so {fix}"
        )
    clash = _first_clash(names, clip_tokens)
    if clash:
        i, j = clash
        read = _clip_tokenizer().clean_fn(names[i])  # the text its BPE sees
        raise DatasetError(
            f"class names {both(i, j)} are the same text to CLIP (its tokenizer lowercases and "
            f"ignores spacing; it reads both as {shown(read)}), so the two classes would get identical "
            f"text features and could not be told apart; {fix}"
        )
    clash = _first_clash(names, lambda n: slugify(n).casefold())
    if clash:
        i, j = clash
        raise DatasetError(
            f"class names {both(i, j)} get the folder names {shown(slugify(names[i]))} and "
            f"{shown(slugify(names[j]))}, one folder where case is ignored (macOS, Windows), so one "
            f"class's synthetic images would overwrite the other's; {fix}"
        )


def read_class_names(path: str | Path, expected: int | None = None) -> list[str]:
    """The names of a class-name file (one a line, blank lines ignored), checked to be distinct."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"class-name file {path} does not exist; fix 'class_names' in the dataset's config")
    lines = name_lines(path)
    names = [name for _, name in lines]
    if expected is not None and len(names) != expected:
        raise DatasetError(f"class-name file {path} has {len(names)} names but the dataset has {expected} classes")
    check_distinct_names(names, [f"{path} line {n}" for n, _ in lines], f"rename one of the two lines of {path}")
    return names


def name_lines(path: str | Path) -> list[tuple[int, str]]:
    """The (line number, name) pairs of a class-name file: one name a line, stripped, blank lines left out."""
    text = Path(path).read_text(encoding="utf-8")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def overlong_prompt(names: Sequence[str], sources: Sequence[str], template: str, context: int) -> str | None:
    """Why a class's prompt ``template.format(name)`` does not fit CLIP's ``context`` tokens, or None.

    open_clip's tokenizer cuts a longer prompt without a word, so the class would be told apart by the
    first words of its name only (or not at all). A BPE token covers at least one byte: only names that
    might not fit are tokenised.
    """
    for name, source in zip(names, sources, strict=True):
        prompt = template.format(name)
        if len(prompt.encode()) + 2 <= context:
            continue
        length = len(clip_tokens(prompt)) + 2  # start, prompt, end
        if length > context:
            return (
                f"the class name {shown(name)} ({source}) makes the prompt {shown(template)} {length} tokens "
                f"long, more than CLIP's context of {context}; CLIP would cut it and read the class by its "
                f"first words only. Shorten the name to fit (at most {context - (length - len(clip_tokens(name)))} "
                "tokens, roughly as many words)"
            )
    return None

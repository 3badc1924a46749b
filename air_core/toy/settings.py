"""The toy world's config sections (``toy_world.world``, ``.clip``, ``.sd``) as frozen dataclasses."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from air_core.config import from_dict

T = TypeVar("T")


def from_settings(cls: type[T], settings: dict[str, Any] | str) -> T:
    """A toy dataclass from its config section (a dict or its JSON); lists become tuples, unknown keys fail."""
    if isinstance(settings, str):
        settings = json.loads(settings)
    return from_dict(cls, {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})

"""The one way the workflow decodes an image: upright (EXIF orientation applied) and 8-bit RGB.

``Image.open(p).convert("RGB")`` alone goes wrong in two ways: it ignores the EXIF orientation tag,
so a phone photo reaches CLIP on its side, and it clips high-bit-depth modes instead of scaling
them, so a 16-bit PNG (mode I;16, values up to 65535) becomes an all-white square. Every reader of
pixels (CLIP encoding, LoRA training, visual prompts, the prototype grid, the toy world, the
manifest's readability check) goes through ``open_rgb`` or ``decode``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SIXTEEN_BIT = 65535.0


def _scaled_to_8_bits(image: Image.Image) -> Image.Image:
    """A single-channel high-bit-depth image (I;16*, I, F) as mode L, scaled linearly, not clipped.

    I;16 modes span 0..65535. Mode I (Pillow's 32-bit integers, what some 16-bit TIFFs and PGMs
    decode to) is read as 16-bit when its values fit in 0..65535; mode F as 0..1 when they fit there.
    Anything else is stretched from its own minimum to its maximum, the only range it tells.
    """
    values = np.asarray(image, dtype=np.float64)  # (H, W)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and high <= SIXTEEN_BIT):
        low, high = 0.0, SIXTEEN_BIT
    elif image.mode == "F" and low >= 0 and high <= 1:
        low, high = 0.0, 1.0
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(np.rint((values - low) * scale).clip(0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB: high-bit-depth modes scaled (not clipped), every other mode (1, L, P, LA,
    RGBA, CMYK, ...) through PIL's own conversion, alpha dropped."""
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        image = _scaled_to_8_bits(image)
    return image.convert("RGB")


def decode(image: Image.Image) -> Image.Image:
    """An opened image, turned upright by its EXIF orientation tag and converted to 8-bit RGB (a new image)."""
    ImageOps.exif_transpose(image, in_place=True)  # a no-op without an orientation tag
    return to_rgb(image)


def open_rgb(path: str | Path) -> Image.Image:
    """The image at ``path``, upright and 8-bit RGB, read fully so that the file is closed on return."""
    with Image.open(path) as image:
        rgb = decode(image)
        rgb.load()
        return rgb

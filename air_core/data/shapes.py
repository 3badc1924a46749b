"""A small procedurally drawn dataset of coloured shapes, in the image-folder layout.

Used by the demo and the tests: it needs no download and its classes are known.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from air_core.artifacts import save_image, write_text
from air_core.config import ShapesConfig

# (name, number of polygon corners; 0 = ellipse)
SHAPES = [
    ("circle", 0),
    ("triangle", 3),
    ("square", 4),
    ("pentagon", 5),
    ("hexagon", 6),
    ("star", -5),
    ("diamond", -4),
    ("cross", -2),
]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 210), "yellow": (230, 200, 30)}


def class_names(n_classes: int) -> list[str]:
    """The first ``n_classes`` of shape x colour combinations, e.g. 'red circle'."""
    colours = list(COLOURS)
    # Walk the shape x colour grid diagonally: neighbouring classes differ in shape and in colour.
    names = [
        f"{colours[(s + offset) % len(colours)]} {SHAPES[s][0]}"
        for offset in range(len(colours))
        for s in range(len(SHAPES))
    ]
    if not 2 <= n_classes <= len(names):
        raise ValueError(f"shapes.classes must be between 2 and {len(names)}, got {n_classes}")
    return names[:n_classes]


def _polygon(cx: float, cy: float, r: float, corners: int, angle: float) -> list[tuple[float, float]]:
    if corners == -2:  # a cross: two thin bars as one 12-gon
        w = r * 0.35
        pts = [
            (-w, -r),
            (w, -r),
            (w, -w),
            (r, -w),
            (r, w),
            (w, w),
            (w, r),
            (-w, r),
            (-w, w),
            (-r, w),
            (-r, -w),
            (-w, -w),
        ]
    elif corners < 0:  # a star (or a diamond): alternate outer and inner radius
        k = -corners
        inner = 0.45 if k > 4 else 0.75
        pts = [
            (
                (r if i % 2 == 0 else r * inner) * math.cos(math.pi * i / k),
                (r if i % 2 == 0 else r * inner) * math.sin(math.pi * i / k),
            )
            for i in range(2 * k)
        ]
    else:
        pts = [
            (r * math.cos(2 * math.pi * i / corners), r * math.sin(2 * math.pi * i / corners)) for i in range(corners)
        ]
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def draw_shape(name: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One image of class ``name`` ('<colour> <shape>') with random pose, size and background."""
    colour_name, shape_name = name.split(" ", 1)
    corners = dict(SHAPES)[shape_name]
    background = tuple(int(v) for v in rng.integers(150, 256, size=3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    r = size * rng.uniform(0.22, 0.38)
    cx, cy = rng.uniform(r, size - r, size=2)
    colour = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in COLOURS[colour_name])
    if corners == 0:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon(_polygon(cx, cy, r, corners, rng.uniform(0, 2 * math.pi)), fill=colour)
    return image


def write_shapes_dataset(root: str | Path, cfg: ShapesConfig) -> list[str]:
    """Draw the dataset into ``root/{train,test}/<class>/<i>.png`` and ``root/class_names.txt``."""
    root = Path(root)
    # Labels follow the sorted folder order, as the image-folder adapter reads them.
    names = sorted(class_names(cfg.classes), key=lambda n: n.replace(" ", "_"))
    jobs = [
        (split, label, i)
        for split, n in (("train", cfg.train_per_class), ("test", cfg.test_per_class))
        for label in range(len(names))
        for i in range(n)
    ]
    for split, label, i in tqdm(jobs, desc="drawing shapes", mininterval=2):
        # One generator per image: the dataset does not depend on drawing order.
        rng = np.random.default_rng([cfg.seed, label, i, split == "test"])
        folder = names[label].replace(" ", "_")
        save_image(draw_shape(names[label], cfg.size, rng), root / split / folder / f"{i:04d}.png")
    write_text("".join(f"{n}\n" for n in names), root / "class_names.txt")
    return names

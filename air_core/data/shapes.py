"""The tests' drawn dataset: a few classes of the toy world's coloured shapes in the image-folder layout.

It needs no download and its classes are known. The images are the toy world's (air_core.toy.world draws
both): its shapes and colours under neutral light, a domain of their own (another seed stream than the toy
world's source and target).
"""

from __future__ import annotations

from pathlib import Path

from air_core.config import ShapesConfig
from air_core.data.imagefolder import folder_name
from air_core.toy.world import COLOURS, SHAPES, WorldConfig, write_split

DOMAIN = 2  # the toy world draws its source world as domain 0 and its target as domain 1


def class_names(n_classes: int) -> list[str]:
    """The first ``n_classes`` of shape x colour combinations, e.g. 'red circle'."""
    colours = list(COLOURS)
    # Walk the shape x colour grid diagonally: neighbouring classes differ in shape and in colour.
    names = [
        f"{colours[(s + offset) % len(colours)]} {SHAPES[s]}"
        for offset in range(len(colours))
        for s in range(len(SHAPES))
    ]
    if not 2 <= n_classes <= len(names):
        raise ValueError(f"shapes.classes must be between 2 and {len(names)}, got {n_classes}")
    return names[:n_classes]


def write_shapes_dataset(root: str | Path, cfg: ShapesConfig) -> list[str]:
    """Draw the dataset into ``root/{train,test}/<class>/<i>.png`` and ``root/class_names.txt``; the class
    names in label order (sorted folder order, as the image-folder layout reads them)."""
    names = class_names(cfg.classes)
    per_class = {"train": cfg.train_per_class, "test": cfg.test_per_class}
    write_split(Path(root), names, per_class, WorldConfig(size=cfg.size, seed=cfg.seed), DOMAIN, 0.0, "drawing shapes")
    return sorted(names, key=folder_name)

"""The toy world: coloured shapes drawn procedurally, a source world and a shifted target dataset.

The source world holds every shape x colour combination ("a photo of a red circle") on
varied grey and pastel backgrounds under neutral light; the toy CLIP and the toy SD learn
from it. The target dataset holds a few of those classes in another domain: dusk light (a
warm colour cast, lower contrast) over dark blue-green backgrounds, a low-frequency shift that
the SD's 8x8 latents and a LoRA can express. ``shift`` moves the target's style from the
source's (0) to the full dusk style (1).

Every image is drawn from its own generator, seeded by (seed, domain, class, index), so a
dataset does not depend on drawing order or on how many other images are drawn.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from air_core.artifacts import save_image, write_text
from air_core.data.imagefolder import folder_name, read_image_folder
from air_core.data.images import open_rgb

SHAPES = ("circle", "triangle", "square", "star", "cross", "ring")
COLOURS = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 220, 40),
    "green": (35, 165, 55),
    "cyan": (40, 205, 215),
    "blue": (35, 65, 215),
    "purple": (135, 45, 190),
    "pink": (245, 125, 185),
}
DUSK_LIGHT = np.array([1.0, 0.8, 0.58])  # per-channel gain of the target's warm light
DUSK_BACKGROUND = np.array([25.0, 55.0, 80.0])  # mean background colour of the target
SUPERSAMPLE = 2  # shapes are drawn at 2x and box-filtered down: smooth edges


@dataclass(frozen=True)
class WorldConfig:
    """The source world and the target dataset (config key ``toy_world.world``)."""

    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    source_per_class: int = 600  # source training images per shape x colour class
    source_test_per_class: int = 20  # held-out source images per class (the toy CLIP's check)
    target_classes: tuple[str, ...] = (
        "red circle",
        "orange star",
        "yellow square",
        "green triangle",
        "cyan ring",
        "blue cross",
        "purple circle",
        "pink triangle",
        "red square",
        "yellow star",
    )
    target_train_per_class: int = 120  # the unlabeled pool
    target_test_per_class: int = 60
    shift: float = 1.0  # 0 = the target looks like the source world, 1 = full dusk style
    size: int = 32
    seed: int = 0


def source_classes(cfg: WorldConfig) -> list[str]:
    """Every '<colour> <shape>' of the source world, colour-major."""
    return [f"{c} {s}" for c in cfg.colours for s in cfg.shapes]


def check_world(cfg: WorldConfig) -> None:
    """ValueError naming the setting when the world cannot be drawn."""
    unknown = [s for s in cfg.shapes if s not in SHAPES] + [c for c in cfg.colours if c not in COLOURS]
    if unknown:
        raise ValueError(f"toy_world.world: unknown shapes/colours {unknown}; known: {SHAPES}, {list(COLOURS)}")
    missing = [n for n in cfg.target_classes if n not in source_classes(cfg)]
    if missing:
        raise ValueError(
            f"toy_world.world.target_classes {missing} are not '<colour> <shape>' classes of the "
            "source world; every target class must be one the source world shows"
        )
    if len(set(cfg.target_classes)) != len(cfg.target_classes) or len(cfg.target_classes) < 2:
        raise ValueError("toy_world.world.target_classes must name at least 2 distinct classes")
    if not 0.0 <= cfg.shift <= 1.0:
        raise ValueError(f"toy_world.world.shift = {cfg.shift} is not between 0 (no shift) and 1 (full dusk style)")


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        pts = [(r * math.cos(2 * math.pi * i / 3), r * math.sin(2 * math.pi * i / 3)) for i in range(3)]
    elif shape == "square":
        pts = [(r * 0.8 * x, r * 0.8 * y) for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    elif shape == "star":
        pts = [
            (
                (r if i % 2 == 0 else 0.42 * r) * math.cos(math.pi * i / 5),
                (r if i % 2 == 0 else 0.42 * r) * math.sin(math.pi * i / 5),
            )
            for i in range(10)
        ]
    elif shape == "cross":
        w = 0.33 * r
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
    else:
        raise ValueError(f"shape '{shape}' is not a polygon")
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def shape_mask(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) float coverage in [0, 1] of one shape with random size, position and rotation."""
    big = size * SUPERSAMPLE
    r = big * rng.uniform(0.24, 0.40)
    cx, cy = rng.uniform(r * 0.9, big - r * 0.9, size=2)
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse([cx - r * 0.85, cy - r * 0.85, cx + r * 0.85, cy + r * 0.85], fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        draw.ellipse([cx - r * 0.5, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5], fill=0)
    else:
        draw.polygon(_shape_points(shape, cx, cy, r, rng.uniform(0, 2 * math.pi)), fill=255)
    mask = mask.resize((size, size), Image.Resampling.BOX)
    return np.asarray(mask, np.float32) / 255.0


def background(size: int, rng: np.random.Generator, dusk: float) -> np.ndarray:
    """(size, size, 3) background: a flat colour or a linear gradient of two colours.

    Source colours are greys with a pastel tint (dark to light); dusk colours are dark blue-greens.
    """

    def colour() -> np.ndarray:
        grey = rng.uniform(35, 235) + rng.uniform(-30, 30, size=3)
        night = DUSK_BACKGROUND + rng.uniform(-22, 22, size=3)
        return (1 - dusk) * grey + dusk * night

    a = colour()
    if rng.random() < 0.5:
        return np.broadcast_to(a, (size, size, 3)).astype(np.float32)
    b = colour()
    theta = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    t = np.clip(0.5 + xs * math.cos(theta) + ys * math.sin(theta), 0, 1)[..., None]  # (size, size, 1)
    return ((1 - t) * a + t * b).astype(np.float32)


def draw_image(class_name: str, size: int, rng: np.random.Generator, dusk: float = 0.0) -> Image.Image:
    """One image of '<colour> <shape>'; ``dusk`` in [0, 1] is the strength of the target style."""
    colour_name, shape = class_name.split(" ", 1)
    canvas = background(size, rng, dusk)  # (size, size, 3)
    colour = np.clip(np.array(COLOURS[colour_name], np.float32) + rng.uniform(-20, 20, size=3), 0, 255)
    mask = shape_mask(shape, size, rng)[..., None]  # (size, size, 1)
    image = (1 - mask) * canvas + mask * colour
    light = 1 + dusk * (DUSK_LIGHT * rng.uniform(0.9, 1.1, size=3) - 1)  # warm cast, per-image jitter
    contrast = 1 - 0.3 * dusk
    image = (image - 128) * contrast + 128
    image = image * light + rng.normal(0, 3.0, size=image.shape)
    return Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8))


def _draw_folder(task: tuple) -> int:
    """Draw one class of one split (a worker's unit of work); returns the number of images."""
    root, name, label, split, n, cfg, domain, dusk = task
    folder = root / split / folder_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng([cfg.seed, domain, label, i, split == "test"])
        save_image(draw_image(name, cfg.size, rng, dusk), folder / f"{i:05d}.png")
    return n


def write_split(
    root: Path,
    names: Sequence[str],
    per_class: dict[str, int],
    cfg: WorldConfig,
    domain: int,
    dusk: float,
    desc: str,
    workers: int = 1,
) -> None:
    """Draw ``root/<split>/<class>/<i>.png`` for every split and class, and ``root/class_names.txt``.

    Class folders and class_names.txt are in sorted folder order, the order the image-folder
    layout gives labels in. ``workers`` processes draw classes in parallel; the images do not
    depend on it.
    """
    names = sorted(names, key=folder_name)
    tasks = [
        (root, name, label, split, n, cfg, domain, dusk)
        for split, n in per_class.items()
        for label, name in enumerate(names)
    ]
    total = sum(t[4] for t in tasks)
    with tqdm(total=total, desc=desc, unit="img", mininterval=5) as bar:
        if workers > 1:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                for n in pool.map(_draw_folder, tasks):
                    bar.update(n)
        else:
            for task in tasks:
                bar.update(_draw_folder(task))
    write_text("".join(f"{n}\n" for n in names), root / "class_names.txt")


def write_source(root: str | Path, cfg: WorldConfig, workers: int = 1) -> list[str]:
    """The source world: every class, neutral light, ``root/{train,test}/<class>/`` (test = held out)."""
    check_world(cfg)
    names = source_classes(cfg)
    write_split(
        Path(root),
        names,
        {"train": cfg.source_per_class, "test": cfg.source_test_per_class},
        cfg,
        domain=0,
        dusk=0.0,
        desc="drawing the source world",
        workers=workers,
    )
    return sorted(names, key=folder_name)


def write_target(root: str | Path, cfg: WorldConfig, workers: int = 1) -> list[str]:
    """The target dataset: ``target_classes`` in the dusk style (strength ``shift``), train and test splits."""
    check_world(cfg)
    write_split(
        Path(root),
        cfg.target_classes,
        {"train": cfg.target_train_per_class, "test": cfg.target_test_per_class},
        cfg,
        domain=1,
        dusk=cfg.shift,
        desc="drawing the target dataset",
        workers=workers,
    )
    return sorted(cfg.target_classes, key=folder_name)


def load_image_folder(root: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images of ``root/<split>/<class>/*.png`` in memory, read through the image-folder layout's reader.

    Returns:
        images (N, H, W, 3) uint8, labels (N,) int64 into the class names, class names (class_names.txt order).
    """
    root = Path(root)
    manifest, names = read_image_folder(root, class_names=root / "class_names.txt")
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise FileNotFoundError(f"no images under {root / split}; draw the world first (rule toy_world)")
    images = [np.asarray(open_rgb(p)) for p in tqdm(rows["path"], desc=f"reading {root.name}/{split}", mininterval=5)]
    return np.stack(images), rows["label"].to_numpy(np.int64), names

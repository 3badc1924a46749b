"""Typed, frozen views of the validated workflow config.

The Snakefile validates the config against ``config/schema.yaml`` (which also fills the
defaults); these dataclasses are what the library takes. Rules hand each script its part
of the config as JSON, so any step can be rerun by hand with the same settings.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ClipSpec:
    """A CLIP model: an open_clip architecture name (or model-config JSON path) and weights."""

    arch: str = "ViT-B-32"
    pretrained: str | None = "openai"  # open_clip tag, checkpoint path, or None = random init
    seed: int = 0  # initialisation seed when pretrained is None
    quick_gelu: bool | None = None  # None = as the pretrained tag was trained (True for 'openai')


@dataclass(frozen=True)
class DiffusionSpec:
    """A Stable Diffusion pipeline: a hub id, a local directory, or a built-in tiny architecture."""

    id: str = "CompVis/stable-diffusion-v1-4"
    revision: str | None = None
    seed: int = 0  # initialisation seed of a tiny architecture


@dataclass(frozen=True)
class ShapesConfig:
    """The procedurally drawn dataset used by the demo and the tests."""

    classes: int = 4
    train_per_class: int = 24
    test_per_class: int = 12
    size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    layout: str = "imagefolder"  # imagefolder | shapes
    root: str | None = None
    class_names: str | None = None
    description: str = ""  # t_data of the SD caption, e.g. "Flowers:"
    test_fraction: float = 0.3
    split_seed: int = 0
    shapes: ShapesConfig = field(default_factory=ShapesConfig)


@dataclass(frozen=True)
class LoraTrainConfig:
    """Settings of the SD LoRA fine-tune (eq. 4) on the zero-shot top-K set."""

    top_k: int = 16
    rank: int = 4
    alpha: int = 4
    steps: int = 500
    lr: float = 1e-4
    batch_size: int = 4
    resolution: int = 512
    seed: int = 0


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of synthetic image generation (eq. 5)."""

    images_per_class: int = 120
    shards: int = 1
    steps: int = 25
    guidance_scale: float = 7.5
    batch_size: int = 8
    resolution: int = 512
    seed: int = 0


@dataclass(frozen=True)
class Recipe:
    """A method, fully resolved: a pseudo-labelling strategy, a prompt trainer and AiR's switches.

    Build it with ``air_core.recipes.resolve_recipe``, which starts from the protocol defaults
    of the recipe's ``base`` method; the defaults below are GRIP's.
    """

    name: str
    base: str = "grip"  # zero_shot | none | fpl | grip | cpl: whose protocol defaults the recipe started from
    pseudo_labels: str = "grip"  # none | fpl | grip | cpl
    iterations: int = 10
    epochs: int = 150
    batch_size: int = 16
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.1
    warmup_epochs: int = 5
    warmup: str = "linear"  # linear: lr * e / warmup_epochs (the reference's); constant: warmup_lr (the paper's text)
    warmup_lr: float = 1e-4  # the constant warm-up's lr
    grad_clip: float | None = None  # max gradient norm; None = no clipping (CPL clips at 0.8)
    validation_holdout: float = 0.2  # fraction of labels held out of training (FPL/GRIP's validation split)
    validation_seed: int = 0  # seed of that hold-out (the reference's validation_seed)
    ssl_labeled_weight: str = "labeled_over_pseudo"  # SSL weight of the labelled loss, FPL/GRIP (real_set.py)
    cpl_lambda: float = 1.0  # CPL's LAMBDA: weight of the pseudo-labelled loss beside the labelled one
    top_k: int = 16  # FPL's K per class (GRIP and CPL use the K_t schedule)
    cpl_alpha: float = 75.0  # CPL intra-instance quantile, in %
    cpl_beta: float | str = 0.95  # CPL inter-instance quantile, or 'auto*g' = 1 - g/C
    n_ctx: int = 16  # prompt length: context vectors (text) or prompt tokens (visual)
    real_loss: float = 1.0  # weight of L_r (eq. 8); 0 = synthetic loss only (table 2)
    fusion_lambda: float = 0.0  # eq. 7; 0 turns the prototype classifier off
    synthetic_beta: float = 0.0  # eq. 9; 0 turns the synthetic loss off
    synthetic: str = "lora"  # lora | base: which SD made the synthetic images
    prototypes: str = "synthetic"  # synthetic (eq. 6) | real (control: most confident real image per class)
    n_synthetic: int | None = None  # M; None = all generated images per class
    paper_method: str | dict | None = None  # row name in the paper's table 1, or {prompt: row name}
    paper_row: str | dict | None = None  # row of the ablation tables, e.g. {"table2": "0,0,1"}; None = derived
    paradigms: list[str] | None = None  # the grid's paradigms this recipe runs on; None = all
    prompts: list[str] | None = None  # the grid's prompt types this recipe runs on; None = all

    @property
    def uses_synthetic(self) -> bool:
        """The run reads synthetic images: for the synthetic loss, or for synthetic prototypes."""
        return self.synthetic_beta > 0 or (self.fusion_lambda > 0 and self.prototypes == "synthetic")


def from_dict(cls: type[T], data: dict[str, Any], **extra: Any) -> T:
    """Build a (nested) dataclass from a plain dict, rejecting keys it does not know."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(
            f"{cls.__name__} got unknown settings {sorted(unknown)}; "
            f"known settings are {sorted(known)}. Check the spelling in your config."
        )
    kwargs: dict[str, Any] = {}
    for name, value in {**data, **extra}.items():
        ftype = known[name].type
        target = _DATACLASSES.get(ftype) if isinstance(ftype, str) else None
        kwargs[name] = from_dict(target, value) if target and isinstance(value, dict) else value
    return cls(**kwargs)


def to_json(obj: Any) -> str:
    """Serialise a dataclass (or plain data) for a script's command line."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    return json.dumps(obj, sort_keys=True)


_DATACLASSES = {c.__name__: c for c in (ShapesConfig,)}

"""Typed, frozen views of the validated workflow config: what the library takes.

``air_core.experiment.load_experiment`` validates the config against ``config/schema.yaml``, fills
its defaults and builds these once; rules hand each script its part as JSON (``to_json`` /
``from_json``), so any step can be rerun by hand with the same settings. Field defaults mirror the
schema's (``tests/test_experiment.py`` fails when they disagree).
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

    arch: str  # required in the config: no default
    pretrained: str | None = "openai"  # open_clip tag, checkpoint path, or None = random init
    seed: int = 0  # initialisation seed when pretrained is None
    quick_gelu: bool | None = None  # None = as the pretrained tag was trained (True for 'openai')
    cuda_dtype: str = "float16"  # the towers' dtype on CUDA (both references load CLIP in fp16); CPU: float32


@dataclass(frozen=True)
class DiffusionSpec:
    """A Stable Diffusion pipeline: a hub id, a local directory, or a built-in tiny architecture."""

    id: str  # required in the config: no default
    revision: str | None = None
    seed: int = 0  # initialisation seed of a tiny architecture


@dataclass(frozen=True)
class ShapesConfig:
    """The procedurally drawn dataset used by the tests (``datasets.<d>.shapes``)."""

    classes: int = 4
    train_per_class: int = 24
    test_per_class: int = 12
    size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class DatasetConfig:
    """One entry of ``datasets``, its preset filled in (``air_core.datasets_config``)."""

    name: str
    layout: str
    preset: str | None = None
    data_root: str | None = None
    root: str | None = None
    class_names: str | None = None
    description: str = ""  # t_data of the SD caption, e.g. "Flowers:"
    test_fraction: float = 0.3
    split_seed: int = 0
    on_unreadable: str = "skip"
    allow_outside_root: bool = False
    cpl: dict | None = None  # CPL's alpha/beta by prompt type and paradigm
    shapes: ShapesConfig = field(default_factory=ShapesConfig)


@dataclass(frozen=True)
class LoraTrainConfig:
    """Settings of the SD LoRA fine-tune (eq. 4) on the zero-shot top-K set (``lora``): all shape the LoRA."""

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
    """What shapes the synthetic images (eq. 5): a change regenerates them. ``generate.batch_size`` and
    ``generate.shards`` say how the work is cut into batches and jobs, not what it makes."""

    images_per_class: int = 120
    steps: int = 25
    guidance_scale: float = 7.5
    resolution: int = 512
    seed: int = 0


@dataclass(frozen=True)
class SDVariant:
    """A named Stable Diffusion variant (``sd_variants.<name>``): plain SD, or SD with its own LoRA."""

    name: str
    lora: LoraTrainConfig | None  # None = plain SD (table 3's "without LoRA")
    generate: GenerateConfig


@dataclass(frozen=True)
class Recipe:
    """A method, fully resolved for one run: a pseudo-labelling strategy, a prompt trainer and AiR's switches.

    Built by ``air_core.recipes.resolve_recipe``. The fields without a default come from the base method's
    reference code (``recipes.BASE_DEFAULTS``); the defaults below are ``config/schema.yaml``'s (tested).
    Each switch has one predicate below, used by the grid, the training loop, the tables and the toy report.
    """

    name: str
    base: str  # zero_shot | none | fpl | grip | cpl: whose reference code the recipe computes as
    pseudo_labels: str  # none | fpl | grip | cpl
    iterations: int
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    warmup_epochs: int
    warmup: str  # linear: lr * e / warmup_epochs (the reference's); constant: warmup_lr (the paper's text)
    warmup_lr: float  # the constant warm-up's lr
    grad_clip: float | None  # max gradient norm; None = no clipping (CPL clips at 0.8)
    validation_holdout: float  # fraction of labels held out of training (FPL/GRIP's validation split)
    validation_seed: int  # seed of that hold-out (the reference's validation_seed)
    ssl_labeled_weight: str  # SSL weight of the labelled loss, FPL/GRIP (real_set.py)
    cpl_lambda: float  # CPL's LAMBDA: weight of the pseudo-labelled loss beside the labelled one
    top_k: int  # FPL's K per class (GRIP and CPL use the K_t schedule)
    cpl_alpha: float  # CPL intra-instance quantile, in %
    cpl_beta: float | str  # CPL inter-instance quantile, or 'auto*g' = 1 - g/C
    # Reference-code behaviours (docs/lineage.md): each is one switch; the base's default is what the code
    # behind its published number computed, ``mode: clean`` turns all of them to the cleaned-up behaviour.
    mode: str  # reference | clean: which set of the switches below the base starts from
    cpl_pool_cap: bool  # CPL caps class pools from round 2 on (CPL utils/clip_pseudolabels.py:389-400)
    fpl_leaderboard: str  # no_break (menghini's loop, an image on several boards) | fall_through (one board)
    labeled_order: str  # draw (the reference's list orders: SSL's draw, the hold-out) | sorted (image id; class, row)
    warm_start_text: bool  # text prompts start each round from the last round's context (menghini)
    round0_template: str  # concat: f"{template}{name}" (menghini's round-0 string) | format: template.format(name)
    trzsl_split_seed: int | None  # one TRZSL class split for every run seed (CPL: 500); None = 500, 0, 200
    n_ctx: int = 16  # prompt length: context vectors (text) or prompt tokens (visual)
    real_loss: float = 1.0  # weight of L_r (eq. 8); 0 = synthetic loss only (table 2)
    fusion_lambda: float = 0.0  # eq. 7; 0 turns the prototype classifier off
    synthetic_beta: float = 0.0  # eq. 10; 0 turns the synthetic loss off
    synthetic: str = "lora"  # the SD variant (sd_variants) whose images the run reads
    prototypes: str = "synthetic"  # synthetic (eq. 6) | real (control: most confident real image per class)
    n_synthetic: int | None = None  # M; None = all generated images per class, 0 = none (fig. 3's M = 0)

    @property
    def fuses(self) -> bool:
        """Eq. 7 is on: every relabelling fuses the prototype classifier with weight lambda (synthetic
        prototypes need M > 0 synthetic images)."""
        return self.fusion_lambda > 0 and (self.prototypes == "real" or self.n_synthetic != 0)

    @property
    def synthetic_loss(self) -> bool:
        """Eq. 10's L_s is on: M > 0 synthetic images train the prompt with weight beta."""
        return self.synthetic_beta > 0 and self.n_synthetic != 0

    @property
    def real_training(self) -> bool:
        """L_r is on (table 2's L_s-only row turns it off)."""
        return self.real_loss > 0

    @property
    def relabels(self) -> bool:
        """Unlabelled images get pseudo-labels (FPL, GRIP, CPL); none = only given labels train."""
        return self.pseudo_labels != "none"

    @property
    def caps_cpl_pools(self) -> bool:
        """CPL's pools from its second round on hold min(n_c + K_t - max_c n_c, K_t) images, n_c the
        previous round's pool sizes (``cpl_pool_cap``; air_core.cpl.pool_caps); else K_t each."""
        return self.pseudo_labels == "cpl" and self.cpl_pool_cap

    @property
    def no_break_leaderboard(self) -> bool:
        """FPL/GRIP's pseudo-labels come from menghini's leaderboard loop without a break: an image may
        carry several labels, listed board by board (``fpl_leaderboard: no_break``;
        air_core.pseudo_labels.leaderboard_no_break); else one board per image, rows ascending."""
        return self.pseudo_labels in ("fpl", "grip") and self.fpl_leaderboard == "no_break"

    @property
    def reads_synthetic(self) -> bool:
        """The run reads synthetic images: for L_s, or for synthetic prototypes in eq. 7."""
        return self.synthetic_loss or (self.fuses and self.prototypes == "synthetic")

    @property
    def prototype_scores(self) -> str:
        """Name of the fused scores in the run's tables: fused (synthetic prototypes) or real_proto (the control)."""
        return "fused" if self.prototypes == "synthetic" else "real_proto"


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
        ftype = known[name].type  # a string under `from __future__ import annotations`, e.g. "X | None"
        target = _DATACLASSES.get(ftype.split(" | ")[0]) if isinstance(ftype, str) else None
        kwargs[name] = from_dict(target, value) if target and isinstance(value, dict) else value
    return cls(**kwargs)


def from_json(cls: type[T], text: str) -> T:
    """A dataclass from its ``to_json`` form (a script's command-line argument)."""
    return from_dict(cls, json.loads(text))


def to_json(obj: Any) -> str:
    """Serialise a dataclass (or plain data) for a script's command line."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    return json.dumps(obj, sort_keys=True)


_DATACLASSES = {c.__name__: c for c in (ShapesConfig, LoraTrainConfig, GenerateConfig)}

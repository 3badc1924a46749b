"""From a method's config entry to a fully resolved ``Recipe``.

A recipe names a ``base`` method (zero_shot, none, fpl, grip or cpl) and starts from that method's
protocol hyperparameters (reference/PROTOCOL.md); every key the recipe sets overrides them.
CPL's alpha and beta come, in this order, from the recipe's own ``cpl_alpha``/``cpl_beta``,
from the dataset's ``cpl`` table (by prompt type and paradigm), and from the fallback below.
The resolved recipe is what a run records in its settings.json.
"""

from __future__ import annotations

from typing import Any, Mapping

from air_core.config import Recipe, from_dict
from air_core.workflow_checks import ConfigError

# FPL/GRIP (and CoOp/VPT) settings, menghini-neurips23-code methods_config/textual_fpl_config.yml:23-40: SGD
# momentum 0.9, lr 0.1, wd 0.1, batch 16, 150 epochs, 5 warm-up epochs ramped linearly from 0 then cosine
# (utils/schedulers.py:55-64), no gradient clipping; 20 % of the labels held out for validation, seed 0.
_SGD_FPL_GRIP = {"epochs": 150, "batch_size": 16, "lr": 0.1, "momentum": 0.9, "weight_decay": 0.1,
                 "warmup_epochs": 5, "warmup": "linear", "warmup_lr": 1e-4, "grad_clip": None,
                 "validation_holdout": 0.2, "validation_seed": 0}

BASE_DEFAULTS: dict[str, dict[str, Any]] = {
    # zero-shot CLIP in every paradigm: no epochs, so even SSL/TRZSL's labelled images train nothing
    "zero_shot": {"pseudo_labels": "none", "iterations": 1, **_SGD_FPL_GRIP, "epochs": 0,
                  "ssl_labeled_weight": "pseudo_over_labeled"},
    # CoOp/VPT: the labelled images only (in TRZSL a softmax over the seen classes, real_set.py)
    "none": {"pseudo_labels": "none", "iterations": 1, **_SGD_FPL_GRIP, "ssl_labeled_weight": "pseudo_over_labeled"},
    # one-shot FPL weighs SSL's labelled loss by P/L (semi_supervised_learning/textual_fpl.py:115)
    "fpl": {"pseudo_labels": "fpl", "iterations": 1, "top_k": 16, **_SGD_FPL_GRIP,
            "ssl_labeled_weight": "pseudo_over_labeled"},
    # GRIP's rounds weigh it by L/P (semi_supervised_learning/training_strategies.py:637, update_training_set)
    "grip": {"pseudo_labels": "grip", "iterations": 10, **_SGD_FPL_GRIP, "ssl_labeled_weight": "labeled_over_pseudo"},
    # CPL-ICML2024 scripts/run-textPT_ALL.sh:34-36 and README (lr 0.02), prompt.py:126 (clip 0.8), config
    # WARMUP_EPOCHS 2 and LAMBDA 1.0 (methods_config/textual_fpl_config_PLL.yml:32,86); no validation split
    # (ratio_train_val 1.0, :24). Its scheduler file is not public; the warm-up is taken to be menghini's ramp.
    "cpl": {"pseudo_labels": "cpl", "iterations": 10, "epochs": 50, "batch_size": 64, "lr": 0.02,
            "momentum": 0.9, "weight_decay": 0.05, "warmup_epochs": 2, "warmup": "linear", "warmup_lr": 1e-4,
            "grad_clip": 0.8, "validation_holdout": 0.0, "validation_seed": 0, "cpl_lambda": 1.0},
}

# CPL's alpha (%) and beta when neither the recipe nor the dataset gives them: the most common
# values of the protocol's per-dataset table (a dataset of your own should set its own).
CPL_FALLBACK = {"ul_ssl": {"alpha": 75.0, "beta": 0.95}, "trzsl": {"alpha": 75.0, "beta": "auto*2"}}

PROMPTS = ("text", "visual")
_CHOICES = {"pseudo_labels": ("none", "fpl", "grip", "cpl"), "synthetic": ("lora", "base"),
            "prototypes": ("synthetic", "real"), "warmup": ("linear", "constant"),
            "ssl_labeled_weight": ("pseudo_over_labeled", "labeled_over_pseudo")}


def synthetic_needed(recipe: Mapping[str, Any]) -> bool:
    """Whether a recipe (config entry or resolved) reads synthetic images at all.

    The synthetic loss needs them; the prototype classifier needs them unless its prototypes
    are real images (the control recipe), which needs no diffusion output.
    """
    beta = recipe.get("synthetic_beta") or 0
    fusion = recipe.get("fusion_lambda") or 0
    return beta > 0 or (fusion > 0 and recipe.get("prototypes", "synthetic") == "synthetic")


def methods_at(methods: Mapping[str, Mapping[str, Any]], paradigm: str, prompt: str) -> list[str]:
    """The methods that run on one (paradigm, prompt type) cell of the grid, in config order.

    A recipe runs on every cell unless it narrows them with its own ``paradigms`` / ``prompts``
    lists (the paper ran its ablations, tables 2 and 3, on UL with text prompts only).
    """
    return [name for name, recipe in methods.items() if runs_on(recipe, paradigm, prompt)]


def runs_on(recipe: Mapping[str, Any], paradigm: str | None = None, prompt: str | None = None) -> bool:
    """Whether a recipe's own ``paradigms`` / ``prompts`` (absent = all) include these; None = any."""
    return all(value is None or value in (recipe.get(key) or [value])
               for key, value in (("paradigms", paradigm), ("prompts", prompt)))


def grid_cells(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Every (paradigm, prompt, method) the config runs, per dataset and seed."""
    return [(paradigm, prompt, method) for paradigm in config["paradigms"] for prompt in config["prompts"]
            for method in methods_at(config["methods"], paradigm, prompt)]


def dataset_cpl(cpl: Mapping[str, Any] | None, prompt: str, paradigm: str) -> dict[str, Any]:
    """CPL's alpha and beta for one prompt type and paradigm from a dataset's ``cpl`` table.

    The table is ``{text|visual: {<paradigms>: {alpha, beta}}}`` where ``<paradigms>`` is a
    paradigm name or several joined by '_' (``ul_ssl``, ``trzsl``). Returns recipe keys
    ``cpl_alpha``/``cpl_beta`` for what the table has, nothing when it has no entry.
    """
    by_paradigm = (cpl or {}).get(prompt) or {}
    for key, values in by_paradigm.items():
        if paradigm in key.split("_") and values:
            return {f"cpl_{k}": v for k, v in values.items() if k in ("alpha", "beta")}
    return {}


def resolve_recipe(name: str, entry: Mapping[str, Any], prompt: str = "text", paradigm: str = "ul",
                   dataset: Mapping[str, Any] | None = None) -> Recipe:
    """The full recipe of one run: base defaults, then the dataset's CPL values, then the entry's keys.

    Args:
        name: the method's name (its key under ``methods``).
        entry: the method's config entry; ``base`` defaults to its ``pseudo_labels``, else grip.
        prompt: text or visual (picks the dataset's CPL values).
        paradigm: ul, ssl or trzsl (picks the dataset's CPL values and the fallback beta).
        dataset: the dataset's config entry; only its optional ``cpl`` table is read.
    """
    entry = {k: v for k, v in entry.items() if k != "name"}
    base = entry.get("base") or entry.get("pseudo_labels") or "grip"
    if base not in BASE_DEFAULTS:
        raise ConfigError(f"methods.{name}.base = '{base}' is not a base method; use one of {sorted(BASE_DEFAULTS)}")
    if prompt not in PROMPTS:
        raise ConfigError(f"prompt type '{prompt}' is not known; use one of {PROMPTS} in 'prompts'")
    fallback = CPL_FALLBACK["trzsl" if paradigm == "trzsl" else "ul_ssl"]
    settings: dict[str, Any] = {**BASE_DEFAULTS[base], "base": base,
                                "cpl_alpha": fallback["alpha"], "cpl_beta": fallback["beta"]}
    settings.update(dataset_cpl((dataset or {}).get("cpl"), prompt, paradigm))
    settings.update(entry)
    for key, allowed in _CHOICES.items():
        if settings.get(key, allowed[0]) not in allowed:
            raise ConfigError(f"methods.{name}.{key} = '{settings[key]}' is not allowed; use one of {allowed}")
    _check_cpl(name, settings)
    if settings.get("real_loss", 1.0) == 0 and not settings.get("synthetic_beta"):
        raise ConfigError(f"methods.{name}: real_loss and synthetic_beta are both 0, so nothing would train; "
                          "give one of them a positive weight")
    try:
        return from_dict(Recipe, settings, name=name)
    except ValueError as err:
        raise ConfigError(f"methods.{name}: {err}") from None


def _check_cpl(name: str, settings: Mapping[str, Any]) -> None:
    from air_core.cpl import parse_beta

    alpha = settings["cpl_alpha"]
    if not 0 < float(alpha) <= 100:
        raise ConfigError(f"methods.{name}.cpl_alpha = {alpha} is not a percentage in (0, 100]; "
                          "write 75 for the 75% quantile")
    try:
        parse_beta(settings["cpl_beta"], 100)
    except ValueError as err:
        raise ConfigError(f"methods.{name}.cpl_beta: {err}") from None

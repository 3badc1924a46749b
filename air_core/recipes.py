"""From a method's recipe to the fully resolved ``Recipe`` of one run.

A recipe names a ``base`` method (zero_shot, none, fpl, grip or cpl) and starts from what that
method's reference code runs (below, with the files and lines it comes from); every key the recipe
sets overrides it. CPL's alpha and beta come, in this order, from the recipe's own
``cpl_alpha``/``cpl_beta``, from the dataset's ``cpl`` table (by prompt type and paradigm), and from
the fallback below. The resolved recipe is what a run records in its settings.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from air_core.config import Recipe, from_dict
from air_core.errors import ConfigError

# FPL/GRIP (and CoOp/VPT) settings, menghini-neurips23-code methods_config/textual_fpl_config.yml:23-40: SGD
# momentum 0.9, lr 0.1, wd 0.1, batch 16, 150 epochs, 5 warm-up epochs ramped linearly from 0 then cosine
# (utils/schedulers.py:55-64), no gradient clipping; 20 % of the labels held out for validation, seed 0.
_SGD_FPL_GRIP = {
    "epochs": 150,
    "batch_size": 16,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 0.1,
    "warmup_epochs": 5,
    "warmup": "linear",
    "warmup_lr": 1e-4,
    "grad_clip": None,
    "validation_holdout": 0.2,
    "validation_seed": 0,
    "top_k": 16,
    "cpl_lambda": 1.0,
}

# The reference-code behaviours of menghini-neurips23-code at 2094fa5 (FPL, GRIP, CoOp/VPT) and of
# CPL-ICML2024 at c711980 (CPL), bugs included; docs/lineage.md has the lineage of every baseline number
# and config/schema.yaml each switch's file and line. CLEAN is every switch cleaned up (``mode: clean``).
_MENGHINI_QUIRKS = {
    "cpl_pool_cap": True,  # no CPL pools in this code base: the value is CPL's, unused
    "fpl_leaderboard": "no_break",  # utils/clip_pseudolabels.py:48-109
    "labeled_order": "draw",  # methods/main_SSL.py:105-145, main_TRZSL.py:102-115
    "warm_start_text": True,  # models/prompts_models.py:28 shares the initial prefix's storage
    "round0_template": "concat",  # utils/clip_pseudolabels.py:24, f"{template}{name}"
    "trzsl_split_seed": None,  # scripts/run_*_trzsl.sh: "500, 0, or 200"
}
_CPL_QUIRKS = {
    "cpl_pool_cap": True,  # utils/clip_pseudolabels.py:389-400
    "fpl_leaderboard": "no_break",  # unused: CPL-ICML2024 has no leaderboard loop, it fills class pools
    "labeled_order": "draw",  # methods/main_SSL.py:71-79 draws as menghini's; no hold-out (ratio_train_val 1.0)
    "warm_start_text": False,  # training_strategies.py:242,250, copy.deepcopy(initial_prefix)
    "round0_template": "format",
    "trzsl_split_seed": 500,  # scripts/run-textPT_ALL.sh:39,42: split 500, optimisation seeds 1, 2, 3
}
CLEAN = {
    "cpl_pool_cap": False,
    "fpl_leaderboard": "fall_through",
    "labeled_order": "sorted",
    "warm_start_text": False,
    "round0_template": "format",
    "trzsl_split_seed": None,
}

BASE_DEFAULTS: dict[str, dict[str, Any]] = {
    # zero-shot CLIP in every paradigm: no epochs, so even SSL/TRZSL's labelled images train nothing
    "zero_shot": {
        "pseudo_labels": "none",
        "iterations": 1,
        **_SGD_FPL_GRIP,
        "epochs": 0,
        "ssl_labeled_weight": "pseudo_over_labeled",
        **_MENGHINI_QUIRKS,
        "round0_template": "format",  # the zero-shot row's classifier is the formatted template
    },
    # CoOp/VPT: the labelled images only (in TRZSL a softmax over the seen classes, real_set.py)
    "none": {
        "pseudo_labels": "none",
        "iterations": 1,
        **_SGD_FPL_GRIP,
        "ssl_labeled_weight": "pseudo_over_labeled",
        **_MENGHINI_QUIRKS,
    },
    # one-shot FPL weighs SSL's labelled loss by P/L (semi_supervised_learning/textual_fpl.py:115)
    "fpl": {
        "pseudo_labels": "fpl",
        "iterations": 1,
        **_SGD_FPL_GRIP,
        "ssl_labeled_weight": "pseudo_over_labeled",
        **_MENGHINI_QUIRKS,
    },
    # GRIP's rounds weigh it by L/P (semi_supervised_learning/training_strategies.py:637, update_training_set)
    "grip": {
        "pseudo_labels": "grip",
        "iterations": 10,
        **_SGD_FPL_GRIP,
        "ssl_labeled_weight": "labeled_over_pseudo",
        **_MENGHINI_QUIRKS,
    },
    # CPL-ICML2024 scripts/run-textPT_ALL.sh:34-36 and README (lr 0.02), prompt.py:126 (clip 0.8), config
    # WARMUP_EPOCHS 2 and LAMBDA 1.0 (methods_config/textual_fpl_config_PLL.yml:32,86); no validation split
    # (ratio_train_val 1.0, :24); its utils/schedulers.py is byte-identical to menghini's (the linear ramp).
    "cpl": {
        "pseudo_labels": "cpl",
        "iterations": 10,
        "epochs": 50,
        "batch_size": 64,
        "lr": 0.02,
        "momentum": 0.9,
        "weight_decay": 0.05,
        "warmup_epochs": 2,
        "warmup": "linear",
        "warmup_lr": 1e-4,
        "grad_clip": 0.8,
        "validation_holdout": 0.0,
        "validation_seed": 0,
        "top_k": 16,
        "cpl_lambda": 1.0,
        "ssl_labeled_weight": "labeled_over_pseudo",
        **_CPL_QUIRKS,
    },
}

# CPL's alpha (%) and beta when neither the recipe nor the dataset gives them: the most common
# values of the protocol's per-dataset table (a dataset of your own should set its own).
CPL_FALLBACK = {"ul_ssl": {"alpha": 75.0, "beta": 0.95}, "trzsl": {"alpha": 75.0, "beta": "auto*2"}}

PROMPTS = ("text", "visual")
_CHOICES = {
    "pseudo_labels": ("none", "fpl", "grip", "cpl"),
    "prototypes": ("synthetic", "real"),
    "warmup": ("linear", "constant"),
    "ssl_labeled_weight": ("pseudo_over_labeled", "labeled_over_pseudo"),
    "mode": ("reference", "clean"),
    "fpl_leaderboard": ("no_break", "fall_through"),
    "labeled_order": ("draw", "sorted"),
    "round0_template": ("concat", "format"),
}


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


def resolve_recipe(
    name: str,
    entry: Mapping[str, Any],
    prompt: str = "text",
    paradigm: str = "ul",
    dataset_cpl_table: Mapping[str, Any] | None = None,
) -> Recipe:
    """The full recipe of one run: base defaults, then the dataset's CPL values, then the entry's keys.

    Args:
        name: the method's name (its key under ``methods``).
        entry: the recipe's keys (``air_core.experiment.Method.entry``); ``base`` defaults to its
            ``pseudo_labels``, else grip.
        prompt: text or visual (picks the dataset's CPL values).
        paradigm: ul, ssl or trzsl (picks the dataset's CPL values and the fallback beta).
        dataset_cpl_table: the dataset's ``cpl`` table, or None.
    """
    entry = {k: v for k, v in entry.items() if k != "name"}
    base = entry.get("base") or entry.get("pseudo_labels") or "grip"
    if base not in BASE_DEFAULTS:
        raise ConfigError(f"methods.{name}.base = '{base}' is not a base method; use one of {sorted(BASE_DEFAULTS)}")
    if prompt not in PROMPTS:
        raise ConfigError(f"prompt type '{prompt}' is not known; use one of {PROMPTS} in 'prompts'")
    fallback = CPL_FALLBACK["trzsl" if paradigm == "trzsl" else "ul_ssl"]
    mode = entry.get("mode", "reference")
    settings: dict[str, Any] = {
        **BASE_DEFAULTS[base],
        **(CLEAN if mode == "clean" else {}),
        "base": base,
        "mode": mode,
        "cpl_alpha": fallback["alpha"],
        "cpl_beta": fallback["beta"],
    }
    settings.update(dataset_cpl(dataset_cpl_table, prompt, paradigm))
    settings.update(entry)
    for key, allowed in _CHOICES.items():
        if settings.get(key, allowed[0]) not in allowed:
            raise ConfigError(f"methods.{name}.{key} = '{settings[key]}' is not allowed; use one of {allowed}")
    _check_cpl(name, settings)
    try:
        recipe = from_dict(Recipe, settings, name=name)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"methods.{name}: {err}") from None
    if not recipe.real_training and not recipe.synthetic_loss:
        raise ConfigError(
            f"methods.{name}: real_loss is 0 and there is no synthetic loss (synthetic_beta 0 or "
            "n_synthetic 0), so nothing would train; give one of them a positive weight"
        )
    return recipe


def _check_cpl(name: str, settings: Mapping[str, Any]) -> None:
    from air_core.cpl import parse_beta

    alpha = settings["cpl_alpha"]
    if not 0 < float(alpha) <= 100:
        raise ConfigError(
            f"methods.{name}.cpl_alpha = {alpha} is not a percentage in (0, 100]; write 75 for the 75% quantile"
        )
    try:
        parse_beta(settings["cpl_beta"], 100)
    except ValueError as err:
        raise ConfigError(f"methods.{name}.cpl_beta: {err}") from None

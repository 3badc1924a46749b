"""Bad input stops the run before any job: every config mistake, a missing model, a missing dataset.

Most mistakes are checked in-process with ``load_experiment``, which rules/common.smk runs before
Snakemake plans a job (a dry run costs seconds each); a few go through snakemake itself, to show that
it stops with the same message and leaves no results folder behind.
"""

import re

import pytest

from air_core.config_checks import check_config_schema
from air_core.errors import ConfigError
from air_core.experiment import load_experiment, schema
from tests.helpers import ROOT, snakemake, tiny_config


def plan(config: dict) -> None:
    """What rules/common.smk does with a config before Snakemake plans a job."""
    load_experiment(config)


def test_common_smk_resolves_the_experiment_once_and_onstart_checks_the_models():
    text = (ROOT / "rules" / "common.smk").read_text()
    assert text.count("load_experiment(config, workflow.configfiles") == 1
    assert "stop_if_models_missing(EXP" in (ROOT / "rules" / "models.smk").read_text()


def _one_class_folder(tmp_path):
    from PIL import Image

    (tmp_path / "only" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "only" / "cat" / "a.png")
    return {"layout": "imagefolder", "root": str(tmp_path / "only")}


def _set(path: str, value):
    """A mistake: set the dotted config key ``path`` to ``value``."""

    def mistake(config, tmp_path):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value(tmp_path) if callable(value) else value

    return mistake


def _drop(path: str):
    def mistake(config, tmp_path):
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node[part]
        del node[last]

    return mistake


def _dataset(entry):
    """A mistake: replace the tiny config's dataset by ``entry`` (a function of the test's tmp_path)."""
    return lambda config, tmp_path: config["datasets"].update(shapes=entry(tmp_path))


def _manifest_file(labels: list[int], names: list[str]):
    """A manifest_file dataset of 8x8 images, one row per label."""

    def entry(tmp_path):
        import pandas as pd
        from PIL import Image

        folder = tmp_path / "listed"
        folder.mkdir(exist_ok=True)
        for i in range(len(labels)):
            Image.new("RGB", (8, 8)).save(folder / f"{i}.png")
        table = {"path": [f"{i}.png" for i in range(len(labels))], "label": labels}
        if names:
            table["class_name"] = [names[label] for label in labels]
        pd.DataFrame(table).to_csv(folder / "manifest.csv", index=False)
        return {"layout": "manifest_file", "root": str(folder / "manifest.csv")}

    return entry


def _class_name_file(names: list[str]):
    """An image folder of one class folder per name, with a class-name file; visual prompts only, so that the
    learned text context (its own check) does not meet the long names."""

    def mistake(config, tmp_path):
        from PIL import Image

        for i in range(len(names)):
            (tmp_path / "named" / f"c{i}").mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "named" / f"c{i}" / "a.png")
        (tmp_path / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        entry = {"layout": "imagefolder", "root": str(tmp_path / "named"), "class_names": str(tmp_path / "names.txt")}
        config["datasets"]["shapes"] = entry
        config["prompts"] = ["visual"]

    return mistake


def _both(*mistakes):
    def mistake(config, tmp_path):
        for m in mistakes:
            m(config, tmp_path)

    return mistake


NAN, INF = float("nan"), float("inf")
LONG = " ".join(["dog"] * 80)  # 80 tokens: names that start with it differ only after CLIP's 77

# (id, mistake, the key the message must name, what the message must say the key accepts)
MISTAKES = [
    (
        "unknown dataset preset",
        _dataset(lambda t: {"preset": "flowers103", "data_root": str(t)}),
        "datasets.shapes.preset",
        "flowers102",
    ),
    ("preset without a data root", _dataset(lambda t: {"preset": "dtd"}), "datasets.shapes", "data_root"),
    ("unknown dataset layout", _set("datasets.shapes.layout", "coco"), "datasets.shapes.layout", "imagefolder"),
    (
        "missing dataset root",
        _dataset(lambda t: {"layout": "imagefolder", "root": str(t / "nowhere")}),
        "datasets.shapes.root",
        "is not a folder",
    ),
    (
        "missing class-name file",
        _dataset(lambda t: {"layout": "imagefolder", "root": str(t), "class_names": str(t / "names.txt")}),
        "datasets.shapes.class_names",
        "is not a file",
    ),
    (
        "test fraction out of range",
        _set("datasets.shapes.test_fraction", 1.5),
        "datasets.shapes.test_fraction",
        "maximum of 1",
    ),
    (
        "dataset name unsafe in a path",
        lambda c, t: c["datasets"].update({"my data": c["datasets"].pop("shapes")}),
        "datasets",
        "^[A-Za-z0-9_-]+$",
    ),
    ("empty dataset list", _set("datasets", {}), "datasets", "should be non-empty"),
    ("dataset list as a YAML list", _set("datasets", []), "datasets", "is not of type 'object'"),
    (
        "unknown method base",
        _set("methods.air_grip.base", "coop"),
        "methods.air_grip.base",
        "['zero_shot', 'none', 'fpl', 'grip', 'cpl']",
    ),
    (
        "unknown pseudo-labelling strategy",
        _set("methods.air_grip.pseudo_labels", "cpl?"),
        "methods.air_grip.pseudo_labels",
        "['none', 'fpl', 'grip', 'cpl']",
    ),
    (
        "unknown reference-switch value",
        _set("methods.air_grip.fpl_leaderboard", "nobreak"),
        "methods.air_grip.fpl_leaderboard",
        "['no_break', 'fall_through']",
    ),
    (
        "unknown recipe mode",
        _set("methods.air_grip.mode", "cleaned"),
        "methods.air_grip.mode",
        "['reference', 'clean']",
    ),
    (
        "negative TRZSL split seed",
        _set("methods.air_grip.trzsl_split_seed", -1),
        "methods.air_grip.trzsl_split_seed",
        "0",
    ),
    ("unknown CLIP dtype", _set("models.clip.cuda_dtype", "fp16"), "models.clip.cuda_dtype", "['float16', 'float32']"),
    (
        "negative fusion lambda",
        _set("methods.air_grip.fusion_lambda", -1),
        "methods.air_grip.fusion_lambda",
        "minimum of 0",
    ),
    (
        "negative synthetic beta",
        _set("methods.air_grip.synthetic_beta", -0.5),
        "methods.air_grip.synthetic_beta",
        "minimum of 0",
    ),
    ("zero learning rate", _set("methods.air_grip.lr", 0), "methods.air_grip.lr", "minimum of 0"),
    ("M = 0 generated images", _set("generate.images_per_class", 0), "generate.images_per_class", "minimum of 1"),
    (
        "negative M in a method",
        _set("methods.air_grip.n_synthetic", -1),
        "methods.air_grip.n_synthetic",
        "minimum of 0",
    ),
    (
        "a method's M above the generated M",
        _set("methods.air_grip.n_synthetic", 10),
        "methods.air_grip.n_synthetic",
        "generate.images_per_class",
    ),
    (
        "unknown SD variant",
        _set("methods.air_grip.synthetic", "sdxl"),
        "methods.air_grip.synthetic",
        "['lora', 'base']",
    ),
    ("malformed CPL beta", _set("methods.air_grip.cpl_beta", "auto"), "methods.air_grip.cpl_beta", "auto*g"),
    (
        "misspelt method key",
        _set("methods.air_grip.fusion_lamda", 1.0),
        "methods.air_grip.fusion_lamda",
        "fusion_lambda",
    ),
    ("empty method list", _set("methods", {}), "methods", "should be non-empty"),
    ("missing diffusion model spec", _drop("models.diffusion"), "models.diffusion", "Stable Diffusion"),
    ("missing CLIP architecture", _drop("models.clip.arch"), "models.clip.arch", "open_clip architecture"),
    ("wrong type", _set("lora.steps", "many"), "lora.steps", "is not of type 'integer'"),
    ("wrong type in a list", _set("seeds", [1.5]), "seeds.0", "is not of type 'integer'"),
    ("misspelt key", _set("generate.images_per_clas", 3), "generate.images_per_clas", "images_per_class"),
    ("misspelt top-level key", _set("seed", [1]), "seed", "seeds"),
    ("empty seed list", _set("seeds", []), "seeds", "should be non-empty"),
    ("repeated seed", _set("seeds", [1, 1]), "seeds", "non-unique"),
    ("negative seed", _set("seeds", [-1]), "seeds.0", "minimum of 0"),
    ("unknown paradigm", _set("paradigms", ["zsl"]), "paradigms.0", "['ul', 'ssl', 'trzsl']"),
    ("paradigm not in a list", _set("paradigms", "ul"), "paradigms", "is not of type 'array'"),
    ("unknown prompt type", _set("prompts", ["textual"]), "prompts.0", "['text', 'visual']"),
    ("unknown device", _set("device", "gpu"), "device", "['auto', 'cpu', 'cuda']"),
    ("prompt template without {}", _set("prompt_template", "a photo"), "prompt_template", "replaced by the class"),
    ("zero generation shards", _set("generate.shards", 0), "generate.shards", "minimum of 1"),
    (
        "a method narrowed to no paradigm of the grid",
        _set("methods.air_grip.paradigms", ["ssl"]),
        "methods.air_grip.paradigms",
        "would never run",
    ),
    (
        "unknown prompt type of a method",
        _set("methods.air_grip.prompts", ["image"]),
        "methods.air_grip.prompts.0",
        "['text', 'visual']",
    ),
    # Values that would crash a job after expensive stages: checked before any job (issue 19).
    (
        "generation resolution not a multiple of 8",
        _set("generate.resolution", 60),
        "generate.resolution",
        "multiple of 8",
    ),
    ("LoRA resolution not a multiple of 8", _set("lora.resolution", 36), "lora.resolution", "multiple of 8"),
    (
        "a variant's resolution not a multiple of 8",
        _set("sd_variants", {"lora": {"generate": {"resolution": 20}}}),
        "sd_variants.lora.generate.resolution",
        "multiple of 8",
    ),
    (
        "context too long for a class name",
        _set("methods.air_grip.n_ctx", 74),
        "methods.air_grip.n_ctx",
        "more than the CLIP's context of 77",
    ),
    (
        "prompt template with two {}",
        _set("prompt_template", "a {} photo of a {}"),
        "prompt_template",
        "exactly one '{}'",
    ),
    ("more shards than classes", _set("generate.shards", 5), "generate.shards", "use at most 3"),
    ("a one-class dataset", _dataset(_one_class_folder), "datasets.shapes", "at least 2"),
    ("TRZSL with 3 classes", _set("paradigms", ["ul", "trzsl"]), "datasets.shapes", "at least 2 seen and 1 unseen"),
    (
        "a dataset name YAML reads as a number",
        lambda c, t: c["datasets"].update({2024: c["datasets"].pop("shapes")}),
        "datasets",
        "quote it",
    ),
    (
        "a method name YAML reads as a boolean",
        lambda c, t: c["methods"].update({True: c["methods"].pop("air_grip")}),
        "methods",
        "quote it",
    ),
    ("empty results folder name", _set("results_dir", ""), "results_dir", "the working directory itself"),
    ("results folder '.'", _set("results_dir", "."), "results_dir", "the working directory itself"),
    (
        "a CLIP checkpoint path without quick_gelu",
        _set("models.clip.pretrained", lambda t: str(t / "finetuned-clip.safetensors")),
        "models.clip.quick_gelu",
        "trained with QuickGELU",
    ),
    (
        "a sweep value of the wrong type",
        _set("methods.air_grip.sweep", {"fusion_lambda": [0.5, "x"]}),
        "methods.air_grip.sweep.fusion_lambda",
        "is not of type 'number'",
    ),
    # Non-finite and out-of-domain numbers, and combinations the code cannot honour.
    ("NaN fusion lambda", _set("methods.air_grip.fusion_lambda", NAN), "methods.air_grip.fusion_lambda", "finite"),
    ("infinite learning rate", _set("methods.air_grip.lr", INF), "methods.air_grip.lr", "not a finite number"),
    (
        "NaN in a sweep",
        _set("methods.air_grip.sweep", {"fusion_lambda": [0, NAN]}),
        "methods.air_grip.sweep.fusion_lambda.1",
        "not a finite number",
    ),
    (
        "warm-up longer than the training",
        _set("methods.air_grip.warmup_epochs", 5),
        "methods.air_grip.warmup_epochs",
        "more than its 2 epochs",
    ),
    (
        "CPL's auto*g beyond the classes",
        _both(_set("methods.air_grip.pseudo_labels", "cpl"), _set("methods.air_grip.cpl_beta", "auto*1000")),
        "methods.air_grip.cpl_beta",
        "use a g of at most 3",
    ),
    (
        "SSL hold-out of every labelled image",
        _both(_set("paradigms", ["ul", "ssl"]), _set("methods.air_grip.validation_holdout", 0.9)),
        "methods.air_grip.validation_holdout",
        "none would train",
    ),
    (
        "a sweep value twice",
        _set("methods.air_grip.sweep", {"fusion_lambda": [1, 1.0]}),
        "methods.air_grip.sweep.fusion_lambda",
        "twice",
    ),
    (
        "an SD variant's LoRA with 0 steps",
        _set("sd_variants", {"lora": {"lora": {"steps": 0}}}),
        "sd_variants.lora.lora.steps",
        "minimum of 1",
    ),
    ("a seed of 2**32", _set("seeds", [2**32]), "seeds.0", "maximum of 4294967295"),
    ("a split seed of 2**32", _set("datasets.shapes.split_seed", 2**32), "datasets.shapes.split_seed", "maximum"),
    ("100000 threads", _set("threads", 100000), "threads", "maximum of 1024"),
    # Strings that Snakemake or str.format would read as fields.
    ("prompt template {{}}", _set("prompt_template", "a photo of a {{}}"), "prompt_template", "no other {...} field"),
    ("prompt template with {d}", _set("prompt_template", "a {} seen in {d}"), "prompt_template", "exactly one '{}'"),
    ("prompt template with {x}", _set("prompt_template", "a {} of {x}"), "prompt_template", "exactly one '{}'"),
    ("results folder with {x}", _set("results_dir", lambda t: str(t / "r{x}")), "results_dir", "no { or }"),
    ("CLIP checkpoint path with {x}", _set("models.clip.pretrained", "w{x}.pt"), "models.clip.pretrained", "no { or }"),
    # Every layout goes through the class checks at planning.
    ("a one-class manifest file", _dataset(_manifest_file([0, 0], ["cat"])), "datasets.shapes", "at least 2"),
    (
        "more shards than a manifest file's classes",
        _both(_dataset(_manifest_file([0, 0, 1, 1], ["cat", "dog"])), _set("generate.shards", 3)),
        "generate.shards",
        "use at most 2",
    ),
    (
        "a manifest file without class names",
        _dataset(_manifest_file([0, 1], [])),
        "datasets.shapes",
        "no 'class_name' column",
    ),
    (
        "class names equal within CLIP's context",  # CLIP would cut them: refused, naming the file's line
        _class_name_file([f"{LONG} cat", f"{LONG} cow", "bird"]),
        "datasets.shapes",
        "names.txt line 1) makes the prompt 'a photo of a {}' 87 tokens long, more than CLIP's context of 77",
    ),
    # File-name limits.
    (
        "a 250-character method name",
        lambda c, t: c["methods"].update({"m" * 250: c["methods"].pop("air_grip")}),
        "methods." + "m" * 250,
        "more than the 255 bytes",
    ),
    ("a 300-byte results folder name", _set("results_dir", lambda t: str(t / ("r" * 300))), "results_dir", "300 bytes"),
    (
        "a sweep whose members' names are too long",
        _both(
            lambda c, t: c["methods"].update({"s" * 240: c["methods"].pop("air_grip")}),
            _set(f"methods.{'s' * 240}.sweep", {"fusion_lambda": [0.5]}),
        ),
        f"methods.{'s' * 240}.sweep",
        "more than the 255 bytes",
    ),
]


@pytest.mark.parametrize("mistake,key,accepts", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_config_mistake_is_stopped_with_a_message_naming_the_key_and_what_it_accepts(tmp_path, mistake, key, accepts):
    config = tiny_config(tmp_path / "results")
    mistake(config, tmp_path)
    with pytest.raises(ConfigError) as err:
        plan(config)
    message = str(err.value)
    assert re.search(rf"(config key '|\b){re.escape(key)}\b", message), message
    line = next(line for line in message.splitlines() if key in line)
    assert accepts in line, message  # on the key's own line, not somewhere else in a long message


def test_the_tiny_config_itself_passes_every_check(tmp_path):
    plan(tiny_config(tmp_path / "results"))


@pytest.mark.parametrize("quick_gelu", [True, False])
def test_a_clip_checkpoint_path_that_says_its_activation_passes(tmp_path, quick_gelu):
    config = tiny_config(tmp_path / "results")
    config["models"]["clip"].update(pretrained=str(tmp_path / "finetuned-clip.safetensors"), quick_gelu=quick_gelu)
    assert load_experiment(config).clip.quick_gelu is quick_gelu


def test_every_mistake_is_reported_at_once(tmp_path):
    config = tiny_config(tmp_path / "results")
    config.update(seeds=[], paradigms=["zsl"])
    config["lora"]["steps"] = "many"
    with pytest.raises(ConfigError) as err:
        check_config_schema(config, schema())
    assert all(f"config key '{k}'" in str(err.value) for k in ("seeds", "paradigms.0", "lora.steps"))


# Through snakemake: one mistake per checking step (presets, schema, cross-key checks) stops the dry run.
THROUGH_SNAKEMAKE = [
    "unknown dataset preset",
    "empty seed list",
    "a method's M above the generated M",
    "a CLIP checkpoint path without quick_gelu",
    "prompt template with {d}",  # Snakemake itself would have rewritten it
    "results folder with {x}",  # Snakemake itself would have stopped with a bare WildcardError
]


@pytest.mark.workflow
@pytest.mark.parametrize("name", THROUGH_SNAKEMAKE)
def test_config_mistake_stops_snakemake_before_any_job(tmp_path, name):
    mistake, key, accepts = next(m[1:] for m in MISTAKES if m[0] == name)
    config = tiny_config(tmp_path / "results")
    mistake(config, tmp_path)
    proc = snakemake(tmp_path, config, "-n")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and key in out and accepts in out, out[-3000:]
    assert "Job stats" not in out and not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_a_missing_model_stops_the_run_before_any_job(tmp_path):
    """A real run (not -n): the onstart check finds the missing SD before the first job is started."""
    config = tiny_config(tmp_path / "results")
    config["models"]["diffusion"]["id"] = "someone/not-here"
    proc = snakemake(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert "someone/not-here" in out and "snakemake fetch_models" in out, out[-3000:]
    assert not re.search(r"^\s*(local)?rule \w+:", out, re.MULTILINE), out[-3000:]  # no job was started
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_a_truncated_clip_checkpoint_stops_the_run_before_any_job(tmp_path):
    """A real run (not -n): the onstart check reads the checkpoint's header before the first job loads it."""
    config = tiny_config(tmp_path / "results")
    config["models"]["clip"]["pretrained"] = path = _truncate(_tiny_clip_file(tmp_path))
    config["models"]["clip"]["quick_gelu"] = False  # a checkpoint path names its activation
    proc = snakemake(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and path in out and "cannot be read" in out, out[-3000:]
    assert not re.search(r"^\s*(local)?rule \w+:", out, re.MULTILINE), out[-3000:]  # no job was started
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_a_template_with_literal_braces_reaches_the_job_as_written(tmp_path):
    """The zero-shot job's command line holds the template unformatted: Snakemake leaves a function's value alone."""
    config = tiny_config(tmp_path / "results")
    config["prompt_template"] = "a {{blurry}} photo of a {}"
    proc = snakemake(tmp_path, config, "-n", "-p")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "--template='a {{blurry}} photo of a {}'" in out, out[-3000:]


@pytest.mark.workflow
def test_a_missing_dataset_stops_the_run_at_planning(tmp_path):
    config = tiny_config(tmp_path / "results")
    config["datasets"]["shapes"] = {"layout": "imagefolder", "root": str(tmp_path / "no-such-dataset")}
    proc = snakemake(tmp_path, config)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "datasets.shapes.root" in out and "no-such-dataset" in out, out[-3000:]
    assert "Building DAG of jobs" not in out and not (tmp_path / "results").exists()


def test_mistakes_cover_the_issue_list():
    ids = {m[0] for m in MISTAKES}
    wanted = {
        "unknown dataset preset",
        "unknown method base",
        "unknown pseudo-labelling strategy",
        "negative fusion lambda",
        "M = 0 generated images",
        "missing diffusion model spec",
        "wrong type",
        "misspelt key",
        "empty dataset list",
        "empty seed list",
        "unknown paradigm",
    }
    assert wanted <= ids and len(ids) == len(MISTAKES)


# Over 255 bytes, yet short enough in CLIP tokens for the prompt to fit its context (26, 25 and 51 tokens).
LONG_NAMES = [("internationalization " * 13).strip(), ("photography " * 25).strip(), ("éé photography " * 17).strip()]


@pytest.mark.parametrize("name", LONG_NAMES)
def test_a_long_class_name_plans_and_gets_a_folder_name_that_fits(tmp_path, name):
    from air_core.data.names import MAX_NAME_BYTES, slugify

    config = tiny_config(tmp_path / "results")
    _class_name_file([name, "z" + name[1:], "dog"])(config, tmp_path)
    plan(config)
    slugs = {slugify(name), slugify("z" + name[1:]), slugify(name[:-1] + "!")}  # the last shares 200 characters
    assert len(slugs) == 3 and all(len(s.encode()) <= MAX_NAME_BYTES for s in slugs)
    for slug in slugs:
        (tmp_path / slug).mkdir()  # what generate does for a class's images


def test_a_template_with_literal_braces_is_accepted_and_every_config_text_param_is_verbatim(tmp_path):
    """str.format's '{{' is a literal brace; Snakemake must pass the template (and every JSON of config text)
    through unformatted, which it does for a function's value only."""
    config = tiny_config(tmp_path / "results")
    config["prompt_template"] = "a {{blurry}} photo of a {}"
    assert plan(config) is None
    rules = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    assert not re.search(r"^\s+\w+=to_json\(", rules, re.MULTILINE)
    assert "template=verbatim(EXP.prompt_template)" in rules


def test_a_leading_tilde_in_results_dir_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tiny_config(tmp_path / "results")
    config["results_dir"] = "~/air-results"
    assert load_experiment(config).results_dir == str(tmp_path / "air-results")


# Model files: broken ones are named by the pre-job check (air_core/preflight.py), with what is wrong.


def _tiny_clip_file(tmp_path, name="clip.safetensors", width=None) -> str:
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    from air_core.models.clip import MODEL_CONFIGS

    arch = "air-tiny-vit"
    if width:  # the same architecture with another text width
        cfg = json.loads((MODEL_CONFIGS / f"{arch}.json").read_text())
        cfg["text_cfg"]["width"] = width
        (tmp_path / "other.json").write_text(json.dumps(cfg))
        arch = str(tmp_path / "other.json")
    from air_core.models.clip import _arch_name

    state = {k: v.contiguous() for k, v in open_clip.create_model(_arch_name(arch)).state_dict().items()}
    path = tmp_path / name
    save_file(state, str(path)) if name.endswith(".safetensors") else torch.save(state, path)
    return str(path)


def _truncate(path) -> str:
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    return str(path)


def _tiny_sd_folder(tmp_path):
    from air_core.models.diffusion import build_tiny_pipeline

    build_tiny_pipeline("air-tiny-sd", 0).save_pretrained(tmp_path / "sd")
    return tmp_path / "sd"


def _lora_file(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"unet.down.lora_A.weight": torch.zeros(4, 8)}, str(tmp_path / "lora.safetensors"))
    return str(tmp_path / "lora.safetensors")


CLIP_FILES = [
    ("a truncated CLIP safetensors", lambda t: _truncate(_tiny_clip_file(t)), "cannot be read"),
    ("a truncated CLIP torch checkpoint", lambda t: _truncate(_tiny_clip_file(t, "clip.pt")), "PytorchStreamReader"),
    ("a CLIP checkpoint of another width", lambda t: _tiny_clip_file(t, width=48), "tensors have other shapes"),
    ("a LoRA file given as the CLIP", _lora_file, "not the architecture's"),
]


@pytest.mark.parametrize("make,problem", [c[1:] for c in CLIP_FILES], ids=[c[0] for c in CLIP_FILES])
def test_a_broken_clip_checkpoint_is_named_before_any_job(tmp_path, make, problem):
    from air_core.preflight import broken_model_files

    config = tiny_config(tmp_path / "results")
    config["models"]["clip"]["pretrained"] = path = make(tmp_path)
    config["models"]["clip"]["quick_gelu"] = False  # a checkpoint path names its activation
    exp = load_experiment(config)
    problems = broken_model_files(exp, {"encode_real"})
    assert len(problems) == 1 and path in problems[0] and problem in problems[0], problems
    assert broken_model_files(exp, {"train_lora"}) == []  # a rule that does not load CLIP: not asked


def test_a_whole_clip_checkpoint_and_sd_folder_pass(tmp_path):
    from air_core.preflight import broken_model_files

    config = tiny_config(tmp_path / "results")
    config["models"]["clip"]["pretrained"] = _tiny_clip_file(tmp_path, "clip.pt")
    config["models"]["clip"]["quick_gelu"] = False
    config["models"]["diffusion"]["id"] = str(_tiny_sd_folder(tmp_path))
    assert broken_model_files(load_experiment(config), {"encode_real", "train_lora"}) == []


def _half_written_unet(tmp_path):
    folder = _tiny_sd_folder(tmp_path)
    _truncate(folder / "unet" / "diffusion_pytorch_model.safetensors")
    return folder


def _no_unet(tmp_path):
    import shutil

    folder = _tiny_sd_folder(tmp_path)
    shutil.rmtree(folder / "unet")
    return folder


@pytest.mark.parametrize(
    "make,problem",
    [(_half_written_unet, "is the file truncated"), (_no_unet, "has no unet/ folder")],
    ids=["half-written UNet", "no unet folder"],
)
def test_a_broken_local_sd_folder_is_named_before_any_job(tmp_path, make, problem):
    from air_core.preflight import stop_if_models_missing

    config = tiny_config(tmp_path / "results")
    config["models"]["diffusion"]["id"] = str(make(tmp_path))
    with pytest.raises(ConfigError, match=problem) as err:
        stop_if_models_missing(load_experiment(config), _Dag({"train_lora", "generate"}))
    assert config["models"]["diffusion"]["id"] in str(err.value)


def test_a_missing_local_sd_folder_is_named_as_a_folder(tmp_path):
    from air_core.preflight import missing_models

    config = tiny_config(tmp_path / "results")
    config["models"]["diffusion"]["id"] = str(tmp_path / "no" / "sd")
    problems = missing_models(load_experiment(config), {"generate"})
    assert len(problems) == 1 and "does not exist" in problems[0] and str(tmp_path / "no" / "sd") in problems[0]


def test_a_truncated_lora_file_is_named_unless_train_lora_makes_it_again(tmp_path):
    from air_core.preflight import broken_model_files

    config = tiny_config(tmp_path / "results")
    exp = load_experiment(config)
    path = tmp_path / "results" / "shapes" / "lora" / "lora" / "pytorch_lora_weights.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(open(_lora_file(tmp_path), "rb").read())
    assert broken_model_files(exp, {"generate"}) == []
    _truncate(path)
    problems = broken_model_files(exp, {"generate"})
    assert len(problems) == 1 and str(path) in problems[0] and "train_lora makes it again" in problems[0]
    assert broken_model_files(exp, {"generate", "train_lora"}) == []


def test_device_cuda_without_cuda_is_refused_before_any_job_where_the_jobs_run_here(tmp_path, monkeypatch):
    import torch

    from air_core.preflight import device_problem

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = tiny_config(tmp_path / "results")
    config["device"] = "cuda"
    exp = load_experiment(config)
    assert "config key 'device'" in device_problem(exp, local=True)
    assert device_problem(exp, local=False) is None  # a cluster's jobs run on its GPU nodes


class _Dag:
    """What the onstart check reads of Snakemake's DAG: the rules of the jobs that will run."""

    def __init__(self, rules):
        self.rules = rules

    def needrun_jobs(self):
        from types import SimpleNamespace

        return [SimpleNamespace(rule=SimpleNamespace(name=r)) for r in self.rules]


def _numeric_keys(node, path=()):
    """(dotted key, sub-schema) of every number or integer setting of the schema, in lists and maps too."""
    if not isinstance(node, dict):
        return
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if {"number", "integer"} & set(types):
        yield ".".join(path), node
    for key, sub in (node.get("properties") or {}).items():
        yield from _numeric_keys(sub, (*path, key))
    for part in ("items", "additionalProperties"):
        yield from _numeric_keys(node.get(part), (*path, "*"))


def test_every_number_of_the_schema_has_a_lower_bound_and_every_seed_fits_numpy():
    keys = list(_numeric_keys(schema()))
    assert len(keys) > 50
    unbounded = [k for k, sub in keys if not {"minimum", "exclusiveMinimum", "enum"} & set(sub)]
    assert unbounded == []
    seeds = [k for k, _ in keys if k.split(".")[-1].endswith("seed") or k == "seeds.*"]
    assert len(seeds) >= 12 and all(dict(keys)[k].get("maximum") == 2**32 - 1 for k in seeds), seeds


def test_a_truncated_hub_cache_file_of_a_clip_tag_is_named_before_any_job(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from air_core.preflight import broken_model_files
    from tests.fake_hub import CLIP_HUB_ID, _snapshot

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # a cache of this test's own
    weights = _snapshot(tmp_path / "hub", CLIP_HUB_ID) / "open_clip_model.safetensors"
    weights.write_bytes(open(_tiny_clip_file(tmp_path), "rb").read())
    config = tiny_config(tmp_path / "results")
    config["models"]["clip"] = {"arch": "ViT-B-32", "pretrained": "openai"}
    exp = load_experiment(config)
    assert broken_model_files(exp, {"encode_real"}) == []  # whole: its tensors are not compared with ViT-B-32's
    _truncate(weights)
    problems = broken_model_files(exp, {"encode_real"})
    assert len(problems) == 1 and str(weights) in problems[0] and "fetch the model again" in problems[0], problems

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

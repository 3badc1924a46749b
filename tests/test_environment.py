"""Where the workflow's software comes from: pyproject.toml (what is allowed), requirements.lock (what was
tested, `make setup` installs it), envs/air.yaml (the rules' conda environment) agree; and the rules find
air_core in the workflow's own folder, in an environment where the project is not installed."""

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.helpers import checkout_copy, snakemake_argv, tiny_config

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements(extra: str | None = None) -> dict[str, Requirement]:
    lines = PYPROJECT["optional-dependencies"][extra] if extra else PYPROJECT["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def lock_versions() -> dict[str, str]:
    """requirements.lock as {name: version}; every line that is not a comment must be `name==version`."""
    versions = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.+\-!]+)", line.strip())
            assert match, f"requirements.lock: '{line}' is not name==version"
            versions[canonicalize_name(match[1])] = match[2]
    return versions


def conda_pip_entries() -> list[str]:
    env = yaml.safe_load((ROOT / "envs" / "air.yaml").read_text())
    [pip] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def test_the_conda_environment_lists_pyprojects_dependencies_pinned_to_the_lock():
    entries = conda_pip_entries()
    assert not [e for e in entries if e.startswith("-") or "/" in e or ".." in e]  # no path, no pip option
    conda = {canonicalize_name(r.name): r for r in map(Requirement, entries)}
    assert not [r for r in conda.values() if r.url]
    wanted, lock = pyproject_requirements(), lock_versions()
    assert sorted(conda) == sorted(wanted)
    for name, req in conda.items():
        assert str(req.specifier) == f"=={lock[name]}", f"envs/air.yaml {req}: requirements.lock has {lock[name]}"
        assert wanted[name].specifier.contains(lock[name]), f"{name} {lock[name]} is outside {wanted[name]}"
        if any(s.operator == "==" for s in wanted[name].specifier):  # pinned in pyproject (torch): the same pin
            assert req.specifier == wanted[name].specifier


def test_the_lock_pins_every_requirement_within_pyprojects_ranges_and_not_the_project():
    lock = lock_versions()
    assert canonicalize_name(PYPROJECT["name"]) not in lock
    for name, req in {**pyproject_requirements(), **pyproject_requirements("test")}.items():
        assert name in lock, f"{req} is not in requirements.lock"
        assert req.specifier.contains(lock[name]), f"requirements.lock {name}=={lock[name]} is outside {req}"


def test_make_setup_installs_with_the_lock():
    recipe = (ROOT / "Makefile").read_text().split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert installs and all("-c requirements.lock" in line for line in installs)
    assert "requirements.lock" in recipe.splitlines()[0]  # a new lock reinstalls


def test_the_snakefiles_min_version_is_pyprojects_snakemake_floor():
    [floor] = [s.version for s in pyproject_requirements()["snakemake"].specifier if s.operator == ">="]
    assert re.search(r'min_version\("([^"]+)"\)', (ROOT / "Snakefile").read_text())[1] == floor


@pytest.fixture(scope="module")
def python_without_the_project(tmp_path_factory) -> Path:
    """A venv whose only packages are this interpreter's site-packages, read as a plain folder: its ``.pth``
    files are not run, so the editable install's import hook (``__editable__*.pth``) is not there."""
    venv = tmp_path_factory.mktemp("no-project") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (Path(purelib) / "installed-packages.pth").write_text("\n".join(paths) + "\n")
    return python


def clean_env(python: Path) -> dict[str, str]:
    """No PYTHONPATH (as under --sdm conda, which deletes it from a job's environment); the venv's python
    first on PATH, so the rules' `python` is that one."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.workflow
def test_rules_import_the_workflows_air_core_where_the_project_is_not_installed(python_without_the_project, tmp_path):
    python, env = python_without_the_project, clean_env(python_without_the_project)
    probe = [python, "-c", "import snakemake, torch, open_clip, air_core"]
    missing = subprocess.run(probe, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert missing.returncode != 0 and "No module named 'air_core'" in missing.stderr, missing.stderr[-2000:]
    config = tiny_config(tmp_path / "results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    # a script rule (python "$AIR_SCRIPTS/...": draw_shapes, manifest) and the `python -m air_core.cli` rule
    targets = [f"{tmp_path}/results/shapes/data/manifest.parquet", f"{tmp_path}/results/models/fetched.json"]
    args = ("--configfile", str(tmp_path / "config.yaml"), "--cores", "2", *targets)
    argv = [str(python), *snakemake_argv(tmp_path, *args, snakefile=checkout_copy() / "Snakefile")[1:]]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert all(Path(t).is_file() for t in targets)
    logs = tmp_path / "results" / "logs"
    assert "air-tiny-vit" in (logs / "fetch_models" / "fetch_models.log").read_text()


def test_config_readme_describes_every_top_level_key_of_the_schema():
    keys = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())["properties"]
    readme = (ROOT / "config" / "README.md").read_text()
    described = set(re.findall(r"^\| `(\w+)` \|", readme, re.MULTILINE))
    assert described >= set(keys), f"config/README.md lacks {sorted(set(keys) - described)}"
    assert "schema.yaml" in readme

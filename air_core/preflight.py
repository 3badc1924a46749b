"""Before the first job: are the models that the planned jobs load on this machine?

Run by the Snakefile's ``onstart`` handler, after planning: a missing model stops the run with the
place looked in and the command that fetches it, before any job is queued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from air_core.errors import ConfigError

if TYPE_CHECKING:
    from air_core.experiment import Experiment

# Which models each rule loads: the ones a run's jobs need must be on this machine.
RULES_USING_CLIP = {"encode_real", "zero_shot", "select", "train_prompts", "evaluate"}
RULES_USING_DIFFUSION = {"train_lora", "generate"}


def missing_models(exp: Experiment, rules: set[str]) -> list[str]:
    """Problems (model, place looked in, command to run) for the models that ``rules`` will load."""
    from air_core.models.availability import clip_problem, diffusion_problem

    problems = []
    # A model under results_dir is made by a rule of this run (the toy models): the DAG waits for it.
    if rules & RULES_USING_CLIP and not exp.made_by_workflow(exp.clip.pretrained):
        problems.append(clip_problem(exp.clip))
    if rules & RULES_USING_DIFFUSION and not exp.made_by_workflow(exp.diffusion.id):
        problems.append(diffusion_problem(exp.diffusion))
    return [p for p in problems if p]


def stop_if_models_missing(exp: Experiment, dag: Any) -> None:
    """The workflow's onstart check: raise before any job is queued if a needed model is missing."""
    rules = {job.rule.name for job in dag.needrun_jobs()}
    problems = missing_models(exp, rules)
    if problems:
        raise ConfigError("a model this run needs is missing:\n  - " + "\n  - ".join(problems))

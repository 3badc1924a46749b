#!/usr/bin/env python3
"""A stand-in SLURM on one machine, for testing the SLURM profile without a cluster.

One script plays every command that snakemake-executor-plugin-slurm (and its jobstep plugin) calls:
sbatch, squeue, sacct, srun, scancel, scontrol, sinfo, sacctmgr, sshare. `install(bin_dir)` writes a
wrapper per command into ``bin_dir``; put that folder first on PATH. Only the standard library is used.

State lives in $FAKE_SLURM_DIR: ``calls.jsonl`` (one JSON line per call: the command and its argv;
for sbatch also the parsed flags, the job id and the wrapped command), and ``jobs/<id>.json`` per job.
sbatch answers at once (``--parsable``: the job id) and runs the job in the background on this
machine: PENDING, then RUNNING, then COMPLETED or FAILED (CANCELLED after scancel). A batch script runs
as SLURM runs it: a copy, with its arguments, its ``#SBATCH`` lines read as options; each sbatch call
records the SLURM_*/SRUN_* variables its caller had (``slurm_env``: a job submitting jobs). Settings:

    FAKE_SLURM_SYNC=1          sbatch returns after the job ended (no waiting on the executor's status polls)
    FAKE_SLURM_OOM_ONCE=a,b    the first job of rules a and b ends OUT_OF_MEMORY without running (retries)
    FAKE_SLURM_STEP_FAIL_ONCE=x;y  the first job step (srun) whose Snakemake target job starts with x (or y),
                               e.g. "evaluate" or "evaluate:d=shapes,paradigm=ul,prompt=text,method=m,seed=2",
                               exits 1 without running: one member of a packed submission fails
    FAKE_SLURM_ACCOUNTS=x,y    accounts that sacctmgr/sshare report (the plugin validates -A against them)
    FAKE_SLURM_PARTITIONS      sinfo's partitions, default "cpu* gpu" (* marks the default)

    python tests/fake_slurm/fake_slurm.py install /tmp/fake-bin   # then: PATH=/tmp/fake-bin:$PATH
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

COMMANDS = ("sbatch", "squeue", "sacct", "srun", "scancel", "scontrol", "sinfo", "sacctmgr", "sshare")
PARTITIONS = os.environ.get("FAKE_SLURM_PARTITIONS", "cpu* gpu").split()
ACCOUNTS = [a for a in os.environ.get("FAKE_SLURM_ACCOUNTS", "").split(",") if a]


def state_dir() -> Path:
    path = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fake_slurm"))
    (path / "jobs").mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def locked():
    with open(state_dir() / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def log_call(record: dict) -> None:
    with locked(), open(state_dir() / "calls.jsonl", "a") as log:
        log.write(json.dumps({**record, "time": time.time()}) + "\n")


def job_path(job_id: str) -> Path:
    return state_dir() / "jobs" / f"{job_id}.json"


def read_job(job_id: str) -> dict:
    return json.loads(job_path(job_id).read_text())


def write_job(job: dict) -> None:
    tmp = job_path(job["id"]).with_suffix(".tmp")  # atomic: a concurrent sacct never reads half a file
    tmp.write_text(json.dumps(job))
    tmp.replace(job_path(job["id"]))


def update_job(job_id: str, **fields) -> None:
    with locked():
        write_job({**read_job(job_id), **fields})


def all_jobs() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(state_dir().glob("jobs/*.json"))]


def parse_flags(argv: list[str]) -> tuple[dict, list[str]]:
    """sbatch/srun options as {flag: value} (a bare flag maps to True), and the words after them."""
    short = {
        "-A": "--account",
        "-p": "--partition",
        "-t": "--time",
        "-D": "--chdir",
        "-C": "--constraint",
        "-J": "--job-name",
        "-o": "--output",
        "-c": "--cpus-per-task",
        "-n": "--ntasks",
        "-N": "--nodes",
    }
    with_value = {
        "--job-name",
        "--output",
        "--comment",
        "--account",
        "--partition",
        "--time",
        "--mem",
        "--mem-per-cpu",
        "--chdir",
        "--constraint",
        "--clusters",
        "--cpus-per-task",
        "--ntasks",
    }
    flags, i = {}, 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        if arg in short:
            arg = short[arg]
        elif arg[:2] in short and not arg.startswith("--"):  # -n1
            flags[short[arg[:2]]] = arg[2:]
            i += 1
            continue
        if "=" in arg:
            key, value = arg.split("=", 1)
            flags[key] = value
        elif arg in with_value:
            flags[arg] = argv[i + 1]
            i += 1
        else:
            flags[arg] = True
        i += 1
    return flags, argv[i:]


def script_flags(script: str) -> dict:
    """The #SBATCH lines at the top of a batch script, as flags (sbatch's own options win over them)."""
    words = []
    for line in script.splitlines()[1:]:
        if line.startswith("#SBATCH"):
            words += shlex.split(line[len("#SBATCH") :])
        elif line.strip() and not line.startswith("#"):
            break  # sbatch stops reading directives at the first command
    return parse_flags(words)[0]


def sbatch(argv: list[str]) -> int:
    flags, rest = parse_flags(argv)
    script_args: list[str] = []
    if "--wrap" in flags:
        command = flags["--wrap"]
    elif rest:
        command = Path(rest[0]).read_text() if rest[0] != "/dev/stdin" else sys.stdin.read()
        script_args = rest[1:]
        flags = {**script_flags(command), **flags}
    else:
        print("sbatch: error: no --wrap and no batch script", file=sys.stderr)
        return 1
    with locked():
        counter = state_dir() / "next_id"
        job_id = str(int(counter.read_text()) if counter.exists() else 1001)
        counter.write_text(str(int(job_id) + 1))
    output = str(flags.get("--output", "slurm-%j.out")).replace("%j", job_id)
    job = {
        "id": job_id,
        "name": flags.get("--job-name", ""),
        "state": "PENDING",
        "flags": flags,
        "command": command,
        "script_args": script_args if "--wrap" not in flags else None,
        "output": output,
        "workdir": flags.get("--chdir", os.getcwd()),
        "submitted": time.time(),
    }
    write_job(job)
    inherited = sorted(k for k in os.environ if k.startswith(("SLURM_", "SRUN_")))  # the submitter's own
    record = {"cmd": "sbatch", "argv": argv, "job_id": job_id, "flags": flags, "command": command}
    log_call({**record, "slurm_env": inherited})
    if out_of_memory_once(str(flags.get("--comment", ""))):
        update_job(job_id, state="OUT_OF_MEMORY", exit_code=137, ended=time.time())
    else:
        runner = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "_run", job_id],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if os.environ.get("FAKE_SLURM_SYNC") == "1":
            runner.wait()
    print(job_id if "--parsable" in flags else f"Submitted batch job {job_id}")
    return 0


def out_of_memory_once(comment: str) -> bool:
    """True for the first job of a rule named in FAKE_SLURM_OOM_ONCE (the plugin's comment: rule_<name>...)."""
    for rule in filter(None, os.environ.get("FAKE_SLURM_OOM_ONCE", "").split(",")):
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"):
            marker = state_dir() / f"oom_{rule}"
            with locked():
                if not marker.exists():
                    marker.touch()
                    return True
    return False


def run_job(job_id: str) -> int:
    """The background half of sbatch: run the job script as SLURM would, record how it ended."""
    job = read_job(job_id)
    flags = job["flags"]
    env = {
        **os.environ,
        "SLURM_JOB_ID": job_id,
        "SLURM_JOBID": job_id,
        "SLURM_JOB_NAME": job["name"],
        "SLURM_CPUS_PER_TASK": str(flags.get("--cpus-per-task", 1)),
        "SLURM_SUBMIT_DIR": job["workdir"],
    }
    if "--cpus-per-task" in flags:  # Slurm 22.05+: for the job's own srun steps
        env["SRUN_CPUS_PER_TASK"] = str(flags["--cpus-per-task"])
    if "--gpus" in flags or "gpu" in str(flags.get("--gres", "")):
        env["SLURM_GPUS"] = str(flags.get("--gpus", flags.get("--gres")))
    if job.get("script_args") is None:
        argv = ["/bin/sh", "-c", job["command"]]
    else:  # as slurmd does: a copy of the batch script (not the submitted path) run with its arguments
        copy = state_dir() / "jobs" / f"{job_id}.script"
        copy.write_text(job["command"])
        copy.chmod(0o755)
        argv = [str(copy), *job["script_args"]]
    Path(job["output"]).parent.mkdir(parents=True, exist_ok=True)
    with open(job["output"], "a") as out:
        proc = subprocess.Popen(
            argv,
            cwd=job["workdir"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        update_job(job_id, state="RUNNING", pid=os.getpid(), started=time.time())
        code = proc.wait()
    if read_job(job_id)["state"] != "CANCELLED":
        update_job(job_id, state="COMPLETED" if code == 0 else "FAILED", exit_code=code, ended=time.time())
    return 0


def srun(argv: list[str]) -> int:
    flags, command = parse_flags(argv)
    target = next((command[i + 1] for i, a in enumerate(command[:-1]) if a == "--target-jobs"), "")
    failed = step_fails_once(target)
    log_call(
        {
            "cmd": "srun",
            "argv": argv,
            "flags": flags,
            "job_id": os.environ.get("SLURM_JOB_ID"),
            "target": target,
            "failed": failed,
        }
    )
    if failed:
        print(f"fake_slurm: job step {target} fails (FAKE_SLURM_STEP_FAIL_ONCE)", file=sys.stderr)
        return 1
    os.execvp(command[0], command)


def step_fails_once(target: str) -> bool:
    """True for the first job step whose target job starts with a prefix in FAKE_SLURM_STEP_FAIL_ONCE."""
    for prefix in filter(None, os.environ.get("FAKE_SLURM_STEP_FAIL_ONCE", "").split(";")):
        if target.startswith(prefix):
            marker = state_dir() / f"step_failed_{hashlib.sha1(prefix.encode()).hexdigest()[:12]}"
            with locked():
                if not marker.exists():
                    marker.touch()
                    return True
    return False


def job_states(argv: list[str]) -> int:
    """sacct/squeue status queries: '<id>|<STATE>' per job of the asked --name."""
    name = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--name"), None)
    for job in all_jobs():
        if name is None or job["name"] == name:
            print(f"{job['id']}|{job['state']}")
    return 0


def sacct(argv: list[str]) -> int:
    if "--name" in argv:
        return job_states(argv)
    if any("Account" in a for a in argv):  # the plugin guessing an account from the user's past jobs
        print(ACCOUNTS[0] if ACCOUNTS else "")
        return 0
    if any("nodelist" in a for a in argv):
        print("localhost")
    return 0  # --format=Reason: nothing to say


def scancel(argv: list[str]) -> int:
    for job_id in (a for a in argv if a.isdigit()):
        job = read_job(job_id)
        if job["state"] in ("PENDING", "RUNNING"):
            update_job(job_id, state="CANCELLED")
            if job.get("pid"):
                try:
                    os.killpg(os.getpgid(job["pid"]), signal.SIGTERM)
                except ProcessLookupError:
                    pass
    return 0


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "install":
        install(Path(args[0]))
        return 0
    if command == "_run":
        return run_job(args[0])
    if command not in ("sbatch", "srun"):
        log_call({"cmd": command, "argv": args})
    if command == "sbatch":
        return sbatch(args)
    if command == "srun":
        return srun(args)
    if command == "squeue":
        return job_states(args)
    if command == "sacct":
        return sacct(args)
    if command == "scancel":
        return scancel(args)
    if command == "scontrol":
        print("MinJobAge               = 300 sec\nMaxArraySize            = 1001")
        return 0
    if command == "sinfo":
        print("PARTITION\n" + "\n".join(PARTITIONS))
        return 0
    if command in ("sacctmgr", "sshare"):
        print("\n".join(ACCOUNTS))
        return 0
    print(f"fake_slurm: unknown command {command}", file=sys.stderr)
    return 1


def install(bin_dir: Path) -> None:
    """Write one executable wrapper per SLURM command into ``bin_dir``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for command in COMMANDS:
        wrapper = bin_dir / command
        wrapper.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))} {command} "$@"\n'
        )
        wrapper.chmod(0o755)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

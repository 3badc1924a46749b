#!/usr/bin/env bash
# The whole workflow as one SLURM job that submits the rest, for clusters where Snakemake may not run on
# the login node (docs/slurm.md, "From inside a job"). From the workflow's folder:
#
#   sbatch profiles/slurm/submit_workflow.sh all --configfile config/config.yaml
#
# Every argument goes to `snakemake --profile profiles/slurm`. Snakemake runs in the job's working directory
# (where sbatch was called, or sbatch -D) with the Snakefile of AIR_WORKFLOW_DIR (default: that same
# directory). The options below are defaults: sbatch's own options win (sbatch -t 7-0 -A myproject ...).
# The job must outlive the workflow: it only waits for the jobs it submits, with 2 cores for the local rules.
#SBATCH --job-name=air-workflow
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=3-00:00:00
#SBATCH --output=air-workflow-%j.log
#SBATCH --signal=B:INT@600
# --signal: 10 minutes before the time limit SLURM sends SIGINT to Snakemake (exec'd below, so it is the
# batch shell), which cancels the jobs it submitted and exits; the same command again resumes the workflow.
set -euo pipefail

# sbatch runs a copy of this script, so its own path says where the workflow is only when bash runs it
# (inside salloc); under sbatch: AIR_WORKFLOW_DIR, else the folder sbatch was called from.
script_home=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -n ${AIR_WORKFLOW_DIR:-} ]]; then
    workflow_dir=$AIR_WORKFLOW_DIR
elif [[ -f "$script_home/Snakefile" ]]; then
    workflow_dir=$script_home
else
    workflow_dir=${SLURM_SUBMIT_DIR:-$PWD}
fi
if [[ ! -f "$workflow_dir/Snakefile" || ! -f "$workflow_dir/profiles/slurm/config.yaml" ]]; then
    echo "submit_workflow.sh: '$workflow_dir' is not the workflow's folder (no Snakefile, profiles/slurm):" \
        "call sbatch from there, or set AIR_WORKFLOW_DIR to it" >&2
    exit 2
fi
local_cores=${SLURM_CPUS_PER_TASK:-2}
echo "submit_workflow.sh: SLURM job ${SLURM_JOB_ID:-none} runs the workflow of $workflow_dir in $PWD," \
    "local rules on $local_cores cores"

# This job's SLURM_* and SRUN_* variables describe this job, not the ones it submits: sbatch passes the
# environment on (--export=ALL), so a job would inherit e.g. SRUN_CPUS_PER_TASK, SLURM_MEM_PER_NODE or
# SLURM_GPUS from here. The SLURM plugin, started inside a job, deletes every SLURM_* variable itself (and
# warns), SLURM_CONF too, which clusters with their slurm.conf elsewhere need for sbatch and sacct
# (snakemake-executor-plugin-slurm issues 113 and 164). So they go here, SLURM_CONF kept, and the plugin
# sees no job around it.
for var in $(compgen -e); do
    case $var in
        SLURM_CONF) ;;
        SLURM_* | SRUN_*) unset "$var" ;;
    esac
done

exec snakemake --snakefile "$workflow_dir/Snakefile" --profile "$workflow_dir/profiles/slurm" \
    --local-cores "$local_cores" "$@"

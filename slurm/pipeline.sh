#!/usr/bin/env bash
# pipeline.sh - submit a model folder's whole pipeline to Slurm, each job waiting for the one before (afterok).
#
#   slurm/pipeline.sh MODEL [--shards N] [--nodes N] [--report_to T] [-- --key value ...]   # from the repository root
#
# Submits train.slurm for every sft/grpo recipe and, for the generation recipe, an array job of N shards
# (generate.slurm) then its merge job, in the order of `python -m r1recipes.pipeline plan --model MODEL`,
# and prints one `<jobid> <recipe>` line per job (two for the generation recipe: the array, then the merge).
# With an eval.yaml, evaluate.slurm evaluates the starting model and each trained stage beside the pipeline
# (`<jobid> <recipe> <output>`; R1_EVAL_GPUS GPUs for a vLLM evaluation), as `make pipeline` does.
# Recipes whose stage.json exists are skipped, so a rerun once the jobs have ended submits only what is left
# (nothing when the pipeline is complete). An unknown MODEL fails before anything is submitted. Inputs the
# package builds (tiny models, synthetic data) are built by the first job that needs them. `--nodes` sets the
# nodes of each training job (a GRPO recipe with vllm_mode: server gets at least 2). Each job asks for the GPUs
# per node its recipe is sized for (`num_processes`) and launches with the recipe's `accelerate` config; on N
# nodes the runner divides gradient accumulation by N, so the global batch stays the recipe's (or the job
# stops at once, saying why it cannot). Before anything is submitted, `make check` estimates every recipe's memory
# per GPU on the cluster's cards (R1_GPU_MEMORY_GB, default 79.6): when one does not fit, its report is printed and
# nothing is submitted (R1_CHECK=0 submits anyway). Overrides after `--` are make's ARGS: `--key value` goes to
# every recipe with the key, `stage3_sft.key=value` to that recipe alone. `--report_to` (R1_REPORT_TO) sets the trackers of every training job, given to it as
# `--report_to T` (docs/tracking.md); an unknown or uninstalled one fails before anything is submitted. Jobs run in
# the current directory and log to runs/slurm/<job name>-<id>.log.
SLURM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Cluster settings: edit here, or set them in the environment (R1_PARTITION=gpu slurm/pipeline.sh ...).
# Empty means Slurm's default. The jobs get this environment (sbatch passes it on).
R1_PARTITION=${R1_PARTITION:-}
R1_ACCOUNT=${R1_ACCOUNT:-}
R1_TIME=${R1_TIME:-}                      # time limit of each job, e.g. 2-00:00:00
R1_NODES=${R1_NODES:-1}                   # nodes of each training job (--nodes)
R1_SHARDS=${R1_SHARDS:-4}                 # array tasks of the generation recipe, one node each (--shards)
R1_GPUS_PER_NODE=${R1_GPUS_PER_NODE:-}    # e.g. 8; empty: each recipe's own (num_processes), none for CPU recipes
R1_CPUS_PER_TASK=${R1_CPUS_PER_TASK:-}    # CPUs of each job's task (one task per node)
R1_MODULES=${R1_MODULES:-}                # environment modules each job loads, e.g. "cuda/12.4"
R1_ACCELERATE=${R1_ACCELERATE:-}          # a config of recipes/accelerate_configs/; empty: each recipe's `accelerate`
R1_PYTHON=${R1_PYTHON:-$SLURM_DIR/../.venv/bin/python}
R1_LOG_DIR=${R1_LOG_DIR:-runs/slurm}
R1_SBATCH_ARGS=${R1_SBATCH_ARGS:-}        # any other sbatch options, e.g. "--qos=high --exclusive"
R1_GPU_MEMORY_GB=${R1_GPU_MEMORY_GB:-79.6} # one GPU's memory in GiB as nvidia-smi shows it (H100 80GB), for the check
R1_CHECK=${R1_CHECK:-1}                   # 0: submit without `make check`'s verdict (it still runs and prints)
R1_REPORT_TO=${R1_REPORT_TO:-}            # training jobs' trackers: tensorboard, trackio, wandb, none; empty: the recipes'
R1_EVAL_GPUS=${R1_EVAL_GPUS:-8}           # GPUs of each evaluation job of a vLLM evaluation recipe (data parallel)

set -euo pipefail

die() { echo "pipeline.sh: error: $*" >&2; exit 2; }
usage() { sed -n '4,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"; }

MODEL=""
OVERRIDES=()
while (($#)); do
    case $1 in
        --shards) R1_SHARDS=${2:-}; shift 2 || die "--shards needs a number" ;;
        --nodes) R1_NODES=${2:-}; shift 2 || die "--nodes needs a number" ;;
        --report_to) R1_REPORT_TO=${2:-}; shift 2 || die "--report_to needs a tracker" ;;
        --) shift; OVERRIDES=("$@"); break ;;
        -h | --help) usage; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) [[ -z $MODEL ]] || die "one MODEL only, got '$MODEL' and '$1'"; MODEL=$1; shift ;;
    esac
done
positive --shards "$R1_SHARDS"
positive --nodes "$R1_NODES"
[[ -d recipes ]] || die "no recipes/ in $PWD: run from the repository root"
[[ -x $R1_PYTHON ]] || die "no Python at $R1_PYTHON: run make install, or set R1_PYTHON"
PIPELINE=("$R1_PYTHON" -m r1recipes.pipeline)

# Every recipe, its runner, output folder and state; an unknown MODEL or tracker is an error here (its line says why).
# Each line ends with the recipe's share of the overrides (those of its keys, quoted): see `make help` on ARGS.
QUOTED=()
((${#OVERRIDES[@]} == 0)) || QUOTED=(--args "$(printf '%q ' "${OVERRIDES[@]}")")   # quoted as train.slurm does
PLAN=$("${PIPELINE[@]}" plan --model "$MODEL" --report_to "$R1_REPORT_TO" "${QUOTED[@]}")
TRACK=()
[[ -z $R1_REPORT_TO ]] || TRACK=(--report_to "$R1_REPORT_TO")
export -n R1_REPORT_TO   # the jobs get it on their command line (TRACK), not a second time from the environment
command -v sbatch >/dev/null || die "sbatch not found: run on a Slurm login node"

# Before anything is submitted: does every recipe fit the cluster's GPUs (python -m r1recipes.pipeline check)?
CHECK=("${PIPELINE[@]}" check --model "$MODEL" --nodes "$R1_NODES" --shards "$R1_SHARDS"
       --gpu_memory_gb "$R1_GPU_MEMORY_GB" --accelerate "$R1_ACCELERATE")
CHECK+=("${QUOTED[@]}")
[[ -z $R1_GPUS_PER_NODE ]] || CHECK+=(--gpus "$R1_GPUS_PER_NODE")
status=0
REPORT=$("${CHECK[@]}" 2>&1) || status=$?
if ((status == 1)) && [[ $R1_CHECK != 0 ]]; then
    echo "$REPORT" >&2
    die "a recipe does not fit ${R1_GPU_MEMORY_GB} GiB GPUs (above); R1_GPU_MEMORY_GB=<GiB> for your cards, or R1_CHECK=0 to submit anyway"
fi
((status != 2)) || die "the check refused the run: ${REPORT##*$'\n'}"
echo "check: ${REPORT##*$'\n'}" >&2

export R1_PYTHON R1_MODULES R1_ACCELERATE
CLUSTER=(--parsable --chdir="$PWD")
[[ -z $R1_PARTITION ]] || CLUSTER+=(--partition="$R1_PARTITION")
[[ -z $R1_ACCOUNT ]] || CLUSTER+=(--account="$R1_ACCOUNT")
[[ -z $R1_TIME ]] || CLUSTER+=(--time="$R1_TIME")
[[ -z $R1_CPUS_PER_TASK ]] || CLUSTER+=(--cpus-per-task="$R1_CPUS_PER_TASK")
read -ra EXTRA <<<"$R1_SBATCH_ARGS"
CLUSTER+=("${EXTRA[@]}")
mkdir -p "$R1_LOG_DIR"

# sbatch "$@": the job id in JOB; on a failure, the jobs this run submitted are cancelled (all or nothing)
JOBS=()
submit() {
    local out
    if ! out=$(sbatch "${CLUSTER[@]}" "$@"); then
        ((${#JOBS[@]} == 0)) || { scancel "${JOBS[@]}" || true; echo "cancelled ${JOBS[*]}" >&2; }
        die "sbatch failed: nothing of this run is left queued"
    fi
    JOB=${out%%;*}   # --parsable prints "jobid" or "jobid;cluster"
    JOBS+=("$JOB")
}

# A recipe value, or DEFAULT when the recipe does not set KEY.
value() {
    "${PIPELINE[@]}" get "$1" "$2" --default "$3"
}

# --gpus-per-node for a recipe's jobs: R1_GPUS_PER_NODE, else what the recipe is sized for (`num_processes` of a
# training recipe, on each node: with --nodes N the runner rescales accumulation to keep the global batch; the
# `tensor_parallel_size` of a vLLM generation recipe, per array task), else none (a CPU recipe).
gpus_for() {
    local gpus=$R1_GPUS_PER_NODE
    if [[ -z $gpus ]]; then
        if [[ $2 == generate ]]; then
            [[ $(value "$1" backend auto) != vllm ]] || gpus=$(value "$1" tensor_parallel_size 1)
        else
            gpus=$(value "$1" num_processes 0)
        fi
    fi
    GPUS=()
    [[ -z $gpus || $gpus == 0 ]] || GPUS=(--gpus-per-node="$gpus")
}

# An evaluation job's --gpus-per-node: R1_GPUS_PER_NODE, else R1_EVAL_GPUS for a vLLM recipe, else none (a CPU one).
eval_gpus_for() {
    local gpus=$R1_GPUS_PER_NODE
    [[ -n $gpus || $(value "$1" backend auto) != vllm ]] || gpus=$R1_EVAL_GPUS
    GPUS=()
    [[ -z $gpus || $gpus == 0 ]] || GPUS=(--gpus-per-node="$gpus")
}

PREVIOUS=""   # the last training or generation job: the next one waits for it
TRAINED=""    # the job that trains the model the next evaluation line evaluates; empty when it is complete
while IFS=$'\t' read -r recipe runner output state share <&3; do
    eval "ARGV=($share)"   # the recipe's overrides, or an evaluation's --model and --output, quoted by the plan
    if [[ $state == complete ]]; then
        echo "skip $recipe: $output is complete" >&2
        [[ $runner == evaluate ]] || TRAINED=""
        continue
    fi
    if [[ $runner == evaluate ]]; then   # beside the pipeline: the next stage does not wait for it
        after=()
        [[ -z $TRAINED ]] || after=(--dependency="afterok:$TRAINED")
        eval_gpus_for "$recipe"
        submit "${after[@]}" "${GPUS[@]}" --job-name="r1-$MODEL-eval-$(basename "$output")" \
            --output="$R1_LOG_DIR/%x-%j.log" "$SLURM_DIR/evaluate.slurm" --config "$recipe" "${ARGV[@]}"
        echo "$JOB $recipe $output"
        continue
    fi
    after=()
    [[ -z $PREVIOUS ]] || after=(--dependency="afterok:$PREVIOUS")
    name=r1-$MODEL-$(basename "$recipe" .yaml)
    gpus_for "$recipe" "$runner"
    if [[ $runner == generate ]]; then
        submit "${after[@]}" "${GPUS[@]}" --job-name="$name" --array="0-$((R1_SHARDS - 1))" \
            --output="$R1_LOG_DIR/%x-%A_%a.log" "$SLURM_DIR/generate.slurm" "$recipe" "${ARGV[@]}"
        echo "$JOB $recipe"
        submit --dependency="afterok:$JOB" --job-name="$name-merge" \
            --output="$R1_LOG_DIR/%x-%j.log" "$SLURM_DIR/generate.slurm" "$recipe" "${ARGV[@]}" --merge true
    else
        nodes=$R1_NODES
        if [[ $runner == grpo && $(value "$recipe" use_vllm false) == true ]] &&
            [[ $(value "$recipe" vllm_mode colocate) == server ]]; then
            ((nodes >= 2)) || nodes=2   # the last node serves generation
        fi
        submit "${after[@]}" "${GPUS[@]}" --job-name="$name" --nodes="$nodes" --ntasks-per-node=1 \
            --output="$R1_LOG_DIR/%x-%j.log" "$SLURM_DIR/train.slurm" "$recipe" "${ARGV[@]}" "${TRACK[@]}"
    fi
    echo "$JOB $recipe"
    PREVIOUS=$JOB
    TRAINED=$JOB
done 3<<<"$PLAN"
((${#JOBS[@]})) || echo "nothing to submit: every recipe of $MODEL is complete" >&2

#!/usr/bin/env bash
# The training engine's GPU checks in one go, for a session that has a GPU for a few minutes:
#   1. vectorised SAC, K = 64 HalfCheetah-sized members (256x256, B = 256) >= 30x one run's updates/s, with
#      torch.compile off, on, and in reduce-overhead mode (CUDA graphs); BRO's DMC size alongside;
#   2. PQL on MuJoCo Warp with 4096 envs (env steps/s, updates/s, measured utd);
#   3. a single run against a plain CleanRL-style loop on the GPU;
#   4. the engine runs on CUDA: a single SAC run, a vectorised chunk of BRO members (sweep --vectorize) and a PQL
#      run on MuJoCo Warp train to the end.
#
#   benchmarks/gpu_check.sh            # on the GPU machine, from the repository root (about 8 minutes on an H100)
#   benchmarks/gpu_check.sh --tiny     # every step at toy sizes on the CPU: checks this script itself
#   benchmarks/gpu_check.sh [--tiny] --group torch   # step 1 only: it needs nothing but torch (no simulator)
#   benchmarks/gpu_check.sh [--tiny] --group sim     # steps 2-4, appending to the summary of a torch group before it
#   (a bare GPU machine with no package index: benchmarks/gpu_wheels.sh here, then benchmarks/gpu_device.sh there,
#   which runs the torch group while the simulators' wheels travel)
#
# Results go to ${OUT:-gpu_check_out}/ (one log per step, the JSON tables, summary.txt); a step that fails or
# misses its target is reported in the summary and the script goes on. Python: ${PY:-.venv/bin/python}.
# GPU time is lent in short slices: the steps run most important first, and none starts past the deadline,
# ${DEADLINE} (seconds since the epoch) if set, else ${BUDGET:-540} s from now (each step is cut to what is left), so
# a slice ends with the main tables written rather than half of everything.
set -uo pipefail

PY=${PY:-.venv/bin/python}
OUT=${OUT:-gpu_check_out}
TINY=0
GROUP=all
while (( $# )); do
    case $1 in
        --tiny) TINY=1 ;;
        --group) GROUP=${2:-}; shift ;;
        *) echo "gpu_check: unknown argument '$1' (--tiny, --group torch|sim)" >&2; exit 2 ;;
    esac
    shift
done
[[ $GROUP == all || $GROUP == torch || $GROUP == sim ]] || { echo "gpu_check: --group is torch or sim" >&2; exit 2; }
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
[[ $GROUP == sim ]] || : > "$SUMMARY"

DEADLINE=${DEADLINE:-$(( $(date +%s) + ${BUDGET:-$(( TINY ? 1200 : 540 ))} ))}  # --tiny: MuJoCo Warp on the CPU is slow
step() {  # step NAME TIMEOUT_S COMMAND...: run, log, record the outcome (cut to the time left, or skipped)
    local name=$1 limit=$2
    shift 2
    local left=$((DEADLINE - $(date +%s)))
    if (( left < 30 )); then
        echo "-- $name: skipped, ${left} s left before the deadline" | tee -a "$SUMMARY"
        return
    fi
    (( limit > left )) && limit=$left
    local start=$SECONDS
    echo "== $name: $*" | tee -a "$SUMMARY"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    echo "-- $name: exit $rc after $((SECONDS - start)) s" | tee -a "$SUMMARY"
}

{
    echo "date: $(date -u +%FT%TZ), steps: $GROUP, $((DEADLINE - $(date +%s))) s to the deadline"
    echo "host: $(hostname), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$PY" -c 'import torch, rlscale; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(), "rlscale", rlscale.__version__)'
} | tee -a "$SUMMARY"

if (( TINY )); then
    DEV=cpu; KS=(1 2); SIZE=mini; SECS=0.2; BLOCKS=1; MIN=0; STEPS=600; CHUNK_STEPS=250
    WARP=(--warp-envs 8 --warp-steps 6 --warp-device cpu --gym-steps 24 --seconds 0.5)
    TRAIN=(--updates 20 --blocks 1 --env-steps 1000 --min-ratio 0)  # 1000: a utd of 1e-3 updates once
    WARP_LIMIT=420  # MuJoCo Warp's kernels on the CPU: 4 min 22 s for these 8 envs on a loaded 2-core machine
else
    DEV=cuda; KS=(1 8 64); SIZE=paper; SECS=1; BLOCKS=2; MIN=30; STEPS=3000; CHUNK_STEPS=3000
    WARP=(--warp-envs 4096)
    TRAIN=(--updates 300 --blocks 5 --env-steps 3000)
    WARP_LIMIT=180  # a fresh machine compiles MuJoCo Warp's CUDA kernels first (its kernel cache is empty)
fi

if [[ $GROUP != sim ]]; then
    # 1. K members vs one run: SAC at the paper's Gym size (the 30x target), eager, compiled, CUDA graphs;
    #    BRO's DMC size alongside
    BENCH=("$PY" benchmarks/bench_vectorized.py --device "$DEV" --sizes "$SIZE" --ks "${KS[@]}" --skip-env
           --seconds "$SECS" --blocks "$BLOCKS" --target-k "${KS[-1]}" --target-size "$SIZE" --min-ratio "$MIN")
    step vectorized_sac 150 "${BENCH[@]}" --algos sac --json "$OUT/vectorized_sac.json"
    step vectorized_sac_compile 150 "${BENCH[@]}" --algos sac --compile --json "$OUT/vectorized_sac_compile.json"
    step vectorized_sac_cudagraphs 150 "${BENCH[@]}" --algos sac --compile reduce-overhead \
        --json "$OUT/vectorized_sac_cudagraphs.json"
    step vectorized_bro 120 "${BENCH[@]}" --algos bro --min-ratio 0 --json "$OUT/vectorized_bro.json"
fi

if [[ $GROUP != torch ]]; then
    # 2. PQL at scale on MuJoCo Warp, and 3. a single run against a CleanRL-style loop
    step pql_warp "$WARP_LIMIT" "$PY" benchmarks/bench_pql.py --device "$DEV" "${WARP[@]}"
    step single_vs_cleanrl 90 "$PY" benchmarks/bench_train.py --device "$DEV" "${TRAIN[@]}"

    # 4. the engine on the device: one run, one chunk, one PQL run, each to the end
    RUNS="$OUT/runs"
    rm -rf "$RUNS"
    # warm-up 300: the replay must hold a batch of 256 at the first update
    step train_single 90 "$PY" -m rlscale.cli train --env gym:HalfCheetah-v4 --algo sac --utd 2 --batch-size 256 \
        --learning-rate 3e-4 --env-steps "$STEPS" --eval-every $((STEPS / 2)) --eval-episodes 1 --warmup-steps 300 \
        --device "$DEV" -o "$RUNS/single"
    cat > "$OUT/chunk.yaml" <<EOF
name: chunk
algo: bro
envs: [dmc:cartpole-balance]
utd: [1]
batch_size: [64, 128]
learning_rate: [3.0e-4, 1.0e-3]
seeds: 2
env_steps: $CHUNK_STEPS
eval_every: $((CHUNK_STEPS / 2))
eval_episodes: 1
warmup_steps: 200
critic_width: 128
action_repeat: 4
EOF
    step train_chunk 90 "$PY" -m rlscale.cli sweep "$OUT/chunk.yaml" -o "$RUNS/chunk" --vectorize --device "$DEV" \
        --threads 1
    if (( TINY )); then PQL_ENV=(--env gym:Pendulum-v1 --num-envs 8); else PQL_ENV=(--env warp:Ant --num-envs 1024); fi
    step train_pql 90 "$PY" -m rlscale.cli train "${PQL_ENV[@]}" --algo pql --utd 0.25 --batch-size 1024 \
        --learning-rate 3e-4 --env-steps $((STEPS * 8)) --eval-every $((STEPS * 4)) --eval-episodes 2 \
        --warmup-steps $((STEPS * 2)) --device "$DEV" -o "$RUNS/pql"
    step collect 60 "$PY" -m rlscale.cli collect "$RUNS" -o "$OUT/runs.parquet"
fi

echo "== done ($GROUP); logs and tables in $OUT" | tee -a "$SUMMARY"

#!/usr/bin/env bash
# On the lent GPU machine, from the repository root, with the parts benchmarks/gpu_wheels.sh cut: one call a part,
# back to back (the machine goes back when idle for 30 s).
#   bash benchmarks/gpu_device.sh stash .whl/01 [--tiny]  # keep a part in /tmp/stash; part 01 also starts the
#                                                         # steps that need only torch (the 30x table) in the background
#   bash benchmarks/gpu_device.sh stash .whl/02 [--tiny]  # keep a part; bring back the torch steps' tables so far
#   bash benchmarks/gpu_device.sh run .whl/05 [--tiny]    # keep the last, join the parts, install, wait for the
#                                                         # torch steps, run the simulator steps; bring back everything
# The torch steps need no simulator, so they use the GPU while the wheels travel. They run on a snapshot of the
# checkout in /tmp/src (each call refreshes the checkout) and none starts later than TORCH_BUDGET (300 s) after part
# 01 arrived; the simulator steps then have until BUDGET (540 s) after it, so the whole check holds the machine for
# about BUDGET plus its start (about 11 of a session's 15 minutes). The wheels go to /tmp/site (python3's own
# packages, torch among them, stay as they are) and rlscale is imported from the checkout.
# The check writes to /tmp/gpu_check; what comes back ($OUT, at most 8 files) is its summary and JSON tables after
# every call, and after the last one an archive of its logs.
set -uo pipefail

verb=${1:?stash or run}
part=${2:?a part folder such as .whl/01}
shift 2
RESULTS=${OUT:?the folder whose files come back (the device tool sets OUT)}
PY=${PY:-python3}
CHECK=/tmp/gpu_check

fail() { echo "gpu_device: $*"; bring_back; exit 1; }
bring_back() {  # the summary and tables so far, as files and in the call's output
    [[ -f $CHECK/summary.txt ]] || return 0
    cp "$CHECK"/summary.txt "$CHECK"/*.json "$RESULTS/" 2>/dev/null
    echo "--- $CHECK/summary.txt:"
    cat "$CHECK/summary.txt"
}

if [[ $(basename "$part") == 01 ]]; then  # a new set: no part, result or snapshot of an older one
    rm -rf /tmp/stash "$CHECK" /tmp/src
    mkdir -p "$CHECK" /tmp/src || exit 1
    tar --exclude=./.whl -cf - . | tar -C /tmp/src -xf - || exit 1
    now=$(date +%s)
    echo $((now + ${BUDGET:-540})) > "$CHECK/deadline"
    # setsid: the steps outlive this call (the device tool ends the rest of a call's processes when it returns);
    # flock: they hold torch.lock while they run, so the last call also sees them end without finishing
    (cd /tmp/src && PYTHONPATH=/tmp/src PY=$PY PYTHONUNBUFFERED=1 OUT=$CHECK DEADLINE=$((now + ${TORCH_BUDGET:-300})) \
        setsid flock "$CHECK/torch.lock" bash -c 'touch "$OUT/torch.started"
            bash benchmarks/gpu_check.sh "$@" --group torch && touch "$OUT/torch.done"' gpu_check "$@" \
        > "$CHECK/torch.log" 2>&1 < /dev/null &)
    sleep 2
    [[ -e $CHECK/torch.started ]] || fail "the torch steps did not start: $(tail -n 3 "$CHECK/torch.log")"
    echo "started the torch steps in the background: ${TORCH_BUDGET:-300} s for them, ${BUDGET:-540} s for all"
fi
mkdir -p /tmp/stash && cp "$part"/wheels.tar.* /tmp/stash/ || fail "no part in $part"
echo "stashed $(ls /tmp/stash | wc -l) part(s): $(du -sh /tmp/stash | cut -f1)"
if [[ $verb == stash ]]; then bring_back; exit 0; fi

rm -rf /tmp/wheels /tmp/site
cat /tmp/stash/wheels.tar.* | tar -C /tmp -xf - || fail "the parts do not join: one is missing"
"$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/wheels/*.whl || fail "pip install"
deadline=$(cat "$CHECK/deadline")
until [[ -e $CHECK/torch.done ]] || flock -n "$CHECK/torch.lock" true || (( $(date +%s) >= deadline )); do
    sleep 2
done
[[ -e $CHECK/torch.done ]] || echo "gpu_device: the torch steps failed or were still running at the deadline"
PYTHONPATH=/tmp/site:$PWD PY=$PY PYTHONUNBUFFERED=1 OUT=$CHECK DEADLINE=$deadline \
    bash benchmarks/gpu_check.sh "$@" --group sim
tar -czf "$RESULTS/gpu_check.tar.gz" -C /tmp --exclude=gpu_check/runs gpu_check
bring_back

#!/usr/bin/env bash
# On the lent GPU machine, from the repository root, with the parts benchmarks/gpu_wheels.sh cut:
#   bash benchmarks/gpu_device.sh stash .whl/01        # keep a part in /tmp/stash (the machine stays warm between calls)
#   bash benchmarks/gpu_device.sh run .whl/05 [--tiny] # keep the last, join them, install, run gpu_check.sh
# The wheels go to /tmp/site (python3's own packages, torch among them, stay as they are) and rlscale is imported from
# the checkout. The check writes to /tmp/gpu_check; what comes back ($OUT: a few files) is its summary, its JSON tables
# and one archive of its logs.
set -uo pipefail

verb=${1:?stash or run}
part=${2:?a part folder such as .whl/01}
shift 2
[[ $(basename "$part") == 01 ]] && rm -rf /tmp/stash  # a new set: no part of an older one
mkdir -p /tmp/stash && cp "$part"/wheels.tar.* /tmp/stash/ || exit 1
echo "stashed $(ls /tmp/stash | wc -l) part(s): $(du -sh /tmp/stash | cut -f1)"
[[ $verb == stash ]] && exit 0

RESULTS=${OUT:?the folder whose files come back (the device tool sets OUT)}
PY=${PY:-python3}
rm -rf /tmp/wheels /tmp/site /tmp/gpu_check
cat /tmp/stash/wheels.tar.* | tar -C /tmp -xf - || { echo "gpu_device: the parts do not join: one is missing"; exit 1; }
"$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site /tmp/wheels/*.whl || exit 1
PYTHONPATH=/tmp/site:$PWD PY=$PY PYTHONUNBUFFERED=1 OUT=/tmp/gpu_check BUDGET=${BUDGET:-480} \
    bash benchmarks/gpu_check.sh "$@"
tar -czf "$RESULTS/gpu_check.tar.gz" -C /tmp --exclude=gpu_check/runs gpu_check
cp /tmp/gpu_check/summary.txt /tmp/gpu_check/*.json "$RESULTS/"

#!/usr/bin/env bash
# The packages gpu_check.sh needs that a bare GPU machine lacks, as wheels cut into parts that travel one per call.
#
# The lent GPU machine has Python 3.12 with torch 2.11, numpy, pandas, scipy, statsmodels, matplotlib, seaborn,
# pyarrow and the like, but no simulators, and reaches no package index. What it lacks (MuJoCo, dm_control,
# Gymnasium, MuJoCo Warp and their own small needs) is about 240 MB of wheels, and one call carries 64 MiB with the
# working tree. So: download them here at constraints.txt's versions, pack them into one tar, and cut it into parts
# of PART_MIB; each device call carries one part (.whl/NN) and stashes it while the machine is warm; the first one
# also starts the checks that need only torch, so the GPU works while the parts travel, and the last one joins them,
# installs into /tmp/site and runs the simulator checks (benchmarks/gpu_device.sh).
#
#   benchmarks/gpu_wheels.sh               # writes .whl/01, .whl/02, ... and prints the device calls
#   PYTHON_VERSION=3.11 benchmarks/gpu_wheels.sh   # the same set for this machine's Python (to test the set here)
#
# Needs the network (PyPI); writes only under ${DEST:-.whl} (.gitignore holds /.whl*/).
set -euo pipefail

PYTHON_VERSION=${PYTHON_VERSION:-3.12}
DEST=${DEST:-.whl}
PART_MIB=${PART_MIB:-48}  # 64 MiB a call, less the working tree (about 11 MB)
PACKAGES=(mujoco dm-control dm-env dm-tree labmaze glfw pyopengl gymnasium farama-notifications mujoco-warp warp-lang)

pin() {  # the version constraints.txt holds for $1
    local line
    line=$(grep -i "^$1==" constraints.txt) || { echo "gpu_wheels: constraints.txt pins no $1" >&2; exit 2; }
    echo "${line#*==}"
}

rm -rf "$DEST"
mkdir -p "$DEST/wheels"
py=${PYTHON_VERSION/./}
for name in "${PACKAGES[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
        --implementation cp --abi "cp$py" --abi abi3 --abi none \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
        -d "$DEST/wheels" "$name==$(pin "$name")"
done
tar -C "$DEST" -cf "$DEST/wheels.tar" wheels
rm -r "$DEST/wheels"
split -b "${PART_MIB}M" -d -a 2 "$DEST/wheels.tar" "$DEST/wheels.tar."
rm "$DEST/wheels.tar"
n=0
for chunk in "$DEST"/wheels.tar.*; do
    n=$((n + 1))
    part=$(printf '%s/%02d' "$DEST" "$n")
    mkdir -p "$part"
    mv "$chunk" "$part/"
done
git check-ignore -q "$DEST" || echo "gpu_wheels: $DEST is not ignored by git, so every device call would send it" >&2

echo "wrote $n parts under $DEST ($(du -sh "$DEST" | cut -f1)), Python $PYTHON_VERSION wheels of: ${PACKAGES[*]}"
echo "device calls, each as soon as the one before returns (the machine goes back after 30 s idle; one part each):"
for k in $(seq 1 "$n"); do
    part=$(printf '%s/%02d' "$DEST" "$k")
    if (( k < n )); then verb=stash; limit=120; else verb=run; limit=600; fi
    echo "  run(carry=[\"$part\"], command=\"bash benchmarks/gpu_device.sh $verb $part\", timeout_s=$limit)"
done

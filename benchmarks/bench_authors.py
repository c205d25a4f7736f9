"""Import the paper authors' Gym runs and fit them with `rlscale fit` in under 10 s on a 2-core machine.

Through the CLI entry point in-process, as a user would: `rlscale import authors gym_sweep` and
`gym_ours` (from the local copy named by RLSCALE_AUTHORS_DATA, else the tests' default copy),
`rlscale fit hparams` on the grid (100 bootstrap samples) and `rlscale fit frontier` on the fitted
runs (100 bootstrap samples, the authors' fitted max returns, B(σ) from the grid's laws, δ = 4e9).
Prints the wall time of each step with the process's CPU time beside it (on a machine shared with
other jobs, the CPU time is the better estimate of the idle-machine wall time), the machine load and
the fitted numbers; exits 1 when the total wall time misses the target. Without the authors' files
it says where they were looked for and exits 0.

``--blas-threads N`` runs the whole benchmark again in a subprocess with OPENBLAS_NUM_THREADS=N (and
OMP_NUM_THREADS=N) to show what the BLAS thread pool costs the small optimiser calls on a busy machine.

    .venv/bin/python benchmarks/bench_authors.py [--target 10] [--blas-threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FITTED_MAX_RETURNS = {"HalfCheetah-v4": 9800, "Walker2d-v4": 4950, "Ant-v4": 6625, "Humanoid-v4": 6450}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=10.0, help="seconds allowed for all four steps (default: 10)")
    parser.add_argument("--blas-threads", type=int, metavar="N", help="also run with N BLAS threads, for comparison")
    args = parser.parse_args()

    data = Path(os.environ.get("RLSCALE_AUTHORS_DATA") or Path(__file__).resolve().parents[2] / "shared" / "authors")
    if not (data / "gym" / "gym_sweep.zip").is_file():
        print(f"skipped: the authors' Gym zips are not in {data} (set RLSCALE_AUTHORS_DATA=DIR)")
        return 0
    os.environ["RLSCALE_AUTHORS_DATA"] = str(data)
    from rlscale.cli import main as cli

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        max_returns = [a for env, r in FITTED_MAX_RETURNS.items() for a in ("--max-return", f"{env}={r}")]
        steps = {
            "import gym_sweep": ["import", "authors", "gym_sweep", "-o", str(out / "grid.parquet"), "--quiet"],
            "import gym_ours": ["import", "authors", "gym_ours", "-o", str(out / "ours.parquet"), "--quiet"],
            "fit hparams (grid)": ["fit", "hparams", str(out / "grid.parquet"), "-o", str(out / "hp"),
                                   "--n-bootstrap", "100"],
            "fit frontier (fitted runs)": ["fit", "frontier", str(out / "ours.parquet"), "-o", str(out / "fr"),
                                           "--delta", "4e9", "--hparams", str(out / "hp" / "hparams.json"),
                                           "--n-bootstrap", "100", *max_returns],
        }
        times, cpu = {}, {}
        for name, argv in steps.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli(argv)
            times[name], cpu[name] = time.perf_counter() - start, time.process_time() - start_cpu
            if code != 0:
                print(f"{name} failed with exit code {code}", file=sys.stderr)
                return 1
        hparams = json.loads((out / "hp" / "hparams.json").read_text())
        frontier = json.loads((out / "fr" / "frontier.json").read_text())
    total = sum(times.values())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"authors' Gym runs from {data}; BLAS threads: {threads}")
    print("  " + ", ".join(f"{name} {sec:.2f} s (cpu {cpu[name]:.2f} s)" for name, sec in times.items()))
    print(f"total {total:.2f} s, cpu {sum(cpu.values()):.2f} s (target < {args.target:g} s); load average (1 min) "
          "before/after: "
          f"{load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    b, lr = hparams["batch_size"]["shared"]["Ant-v4"], hparams["learning_rate"]["shared"]["Ant-v4"]
    top = frontier["thresholds"][-1]
    law = frontier["utd_law"] or {}
    print(f"rlscale's method: B* ∝ σ^{b['exponent']:+.3f}, η* ∝ σ^{lr['exponent']:+.3f}; D_J(800): D_min "
          f"{top['d_min']:.3g}, α {top['alpha']:.3f}; σ*(F) = {law.get('coef', float('nan')):.3g}·F^"
          f"{law.get('exponent', float('nan')):.3f}")
    if args.blas_threads is not None and "OPENBLAS_NUM_THREADS" not in os.environ:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.blas_threads), "OMP_NUM_THREADS": str(args.blas_threads)}
        subprocess.run([sys.executable, __file__, "--target", str(args.target)], env=env, check=False)
    if total > args.target:
        print(f"MISSED: {total:.2f} s > {args.target:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

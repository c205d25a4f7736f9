"""Fit the paper authors' Gym runs with `rlscale fit analysis`, both methods, in under 10 s on a 2-core machine.

Through the CLI entry point in-process, as a user would: `rlscale import authors gym_sweep` and `gym_ours`
(from the local copy named by RLSCALE_AUTHORS_DATA, else the tests' default copy), then `rlscale fit analysis`
of the grid plus the fitted runs (100 bootstrap samples, δ = 4e9) once with `--method paper` (with the authors'
published B*(σ) law for compute, as their code reads it) and once with `--method rlscale` (on the authors'
fitted-run max returns). The target is on the two fits together (the imports are reported apart). Prints the
wall time of each step with the process's CPU time beside it (on a machine shared with other jobs the CPU time
is the honest estimate of the idle-machine wall time), the machine load and the fitted numbers; exits 1 when
the fits' total wall time misses the target. Without the authors' files it says where they were looked for and
exits 0.

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

#: the authors' published shared-slope B*(σ) law of their Gym grid (their compute reads it from disk)
PUBLISHED_BATCH_LAW = {"exponent": -0.3096, "coef": {"Ant-v4": 415.8, "HalfCheetah-v4": 412.0, "Humanoid-v4": 313.2,
                                                     "Walker2d-v4": 322.8}, "source": "the authors' published law"}
FITS = ("fit analysis --method paper", "fit analysis --method rlscale")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=10.0,
                        help="seconds allowed for the two fits together, imports apart (default: 10)")
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
        (out / "law.json").write_text(json.dumps(PUBLISHED_BATCH_LAW))
        grid, ours = str(out / "grid.parquet"), str(out / "ours.parquet")
        common = [grid, "--fitted", ours, "--delta", "4e9", "--n-bootstrap", "100"]
        steps = {
            "import gym_sweep": ["import", "authors", "gym_sweep", "-o", grid, "--quiet"],
            "import gym_ours": ["import", "authors", "gym_ours", "-o", ours, "--quiet"],
            FITS[0]: ["fit", "analysis", *common, "-o", str(out / "paper"), "--metrics", str(out / "paper.json"),
                      "--method", "paper", "--batch-law", str(out / "law.json")],
            FITS[1]: ["fit", "analysis", *common, "-o", str(out / "rlscale"), "--metrics", str(out / "rlscale.json"),
                      "--method", "rlscale", "--fitted-max-return-preset", "paper-fitted"],
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
        metrics = {m: json.loads((out / f"{m}.json").read_text()) for m in ("paper", "rlscale")}
    total = sum(times[f] for f in FITS)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"authors' Gym runs from {data}; BLAS threads: {threads}")
    print("  " + ", ".join(f"{name} {sec:.2f} s (cpu {cpu[name]:.2f} s)" for name, sec in times.items()))
    print(f"both fits {total:.2f} s, cpu {sum(cpu[f] for f in FITS):.2f} s (target < {args.target:g} s); imports "
          f"{sum(times.values()) - total:.2f} s; load average (1 min) before/after: {load_before:.2f} / "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for method, m in metrics.items():
        b, lr = m["hparams"]["batch_size"]["Ant-v4"], m["hparams"]["learning_rate"]["Ant-v4"]
        top = m["data_efficiency"][max(m["data_efficiency"], key=lambda k: float(k.split("=")[1]))]
        law = m["budget"].get("utd_law") or {}
        print(f"{method} method: B* ∝ σ^{b.get('exponent', float('nan')):+.4f}, η* ∝ σ^"
              f"{lr.get('exponent', float('nan')):+.4f}; D_J(800): D_min {top.get('d_min', float('nan')):.4g}, α "
              f"{top.get('exponent', float('nan')):.4f} ({top.get('status')}); σ*(F) = "
              f"{law.get('coef', float('nan')):.4g}·F^{law.get('exponent', float('nan')):.4f}")
    if args.blas_threads is not None and "OPENBLAS_NUM_THREADS" not in os.environ:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(args.blas_threads), "OMP_NUM_THREADS": str(args.blas_threads)}
        subprocess.run([sys.executable, __file__, "--target", str(args.target)], env=env, check=False)
    if total > args.target:
        print(f"MISSED: {total:.2f} s > {args.target:g} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``rlscale sweep`` (run a YAML grid of ``rlscale train`` runs) and ``rlscale collect`` (runs -> one table)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run every run of a sweep YAML (grid or fitted), each as an 'rlscale train' would",
        description="Run a sweep file's runs into OUT/NAME folders with --workers concurrent training "
        "processes (GPUs handed out round-robin). Finished runs are skipped, unfinished ones resume, failed ones "
        "are reported and never re-run silently; a run folder whose config differs from the file's is refused "
        "(--rerun-changed retrains it), and so is an OUT holding runs that an earlier version of the same-named "
        "sweep ran and this one no longer lists. One sweep driver per OUT and one writer per run folder (locks); the "
        "worker processes die with the driver; Ctrl-C or SIGTERM stops them, records them interrupted, and the "
        "same command resumes them. Outcomes go to OUT/sweep_<name>.json; the exit code is 1 when "
        "any run failed.",
    )
    p.add_argument("sweep", help="sweep YAML file (see sweeps/*.yaml)")
    p.add_argument("-o", "--output", required=True, dest="out_dir", help="folder that holds the run folders")
    p.add_argument("--workers", type=int, help="local executor: concurrent runs (default 1)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: GPUs when torch sees any, else CPU (default auto)")
    p.add_argument("--threads", type=int, help="torch CPU threads per run (default: CPU cores / workers)")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local: --workers processes here; ray: one Ray task per run on a cluster, run folders on a "
                   "filesystem every node sees (default local)")
    p.add_argument("--address", help="ray: 'auto' (the cluster this machine belongs to) or ray://HOST:PORT "
                   "(default: start a local Ray instance)")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs each run asks for (default 1)")
    p.add_argument("--gpus-per-run", type=float,
                   help="ray: GPUs each run asks for, fractional shares one GPU (default: 1 if the cluster has GPUs "
                   "and --device is not cpu, else 0)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the runs that crashed or were killed last time (diverged runs need their folder "
                   "removed)")
    p.add_argument("--rerun-changed", action="store_true",
                   help="retrain from scratch the runs whose folder holds another config than the sweep file now "
                   "gives them (their old results are deleted); without it such a sweep is refused")
    p.add_argument("--vectorize", action="store_true",
                   help="local executor: train the runs that differ only in seed, learning rate and batch size as "
                   "one batched process per chunk (each chunk is one job of --workers; pql runs stay single)")
    p.add_argument("--max-members", type=int,
                   help="--vectorize: most runs per chunk (default 64 with GPUs, else 16)")
    p.add_argument("--dry-run", action="store_true", help="print the runs and their commands; run nothing")
    p.set_defaults(handler=_sweep)

    c = subparsers.add_parser(
        "collect",
        help="concatenate finished runs' curves into one validated run table",
        description="Concatenate the curve.parquet of every finished run under RUNS into one run table "
        "(Parquet or CSV by suffix, written atomically). Skipped runs are reported on stderr, one line each.",
    )
    c.add_argument("runs", help="folder with run folders (searched recursively, through links)")
    c.add_argument("-o", "--output", required=True, help="run table to write (.parquet or .csv)")
    c.add_argument("--include-unfinished", action="store_true",
                   help="also include running/interrupted and failed runs' curves up to where they stopped")
    c.set_defaults(handler=_collect)


def _sweep(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from rlscale.cli.train import config_flags
    from rlscale.errors import RlscaleError
    from rlscale.io import check_writable_path
    from rlscale.train.sweep import (
        MAX_MEMBERS,
        Chunk,
        LocalExecutor,
        SweepInterrupted,
        changed_runs,
        load_sweep,
        plan,
        run_sweep,
        vector_jobs,
        visible_gpus,
    )

    if args.workers is not None and args.workers < 1:
        raise RlscaleError(f"--workers must be >= 1, got {args.workers}")
    if args.executor == "ray":
        if args.workers is not None:
            raise RlscaleError("--workers is for --executor local; with ray, --cpus-per-run/--gpus-per-run and the "
                               "cluster's size set how many runs go at once")
        if args.cpus_per_run <= 0:
            raise RlscaleError(f"--cpus-per-run must be > 0, got {args.cpus_per_run:g}")
        if args.gpus_per_run is not None and args.gpus_per_run < 0:
            raise RlscaleError(f"--gpus-per-run must be >= 0, got {args.gpus_per_run:g}")
    elif args.address is not None or args.gpus_per_run is not None or args.cpus_per_run != 1.0:
        raise RlscaleError("--address, --cpus-per-run and --gpus-per-run need --executor ray")
    if args.vectorize and args.executor == "ray":
        raise RlscaleError("--vectorize needs --executor local (Ray runs one task per run)")
    if args.max_members is not None and not args.vectorize:
        raise RlscaleError("--max-members needs --vectorize")
    if args.max_members is not None and args.max_members < 1:
        raise RlscaleError(f"--max-members must be >= 1, got {args.max_members}")
    if args.threads is not None and args.threads < 1:
        raise RlscaleError(f"--threads must be >= 1, got {args.threads}")
    sweep = load_sweep(args.sweep)
    out_dir = Path(args.out_dir)
    check_writable_path(out_dir, folder=True)
    gpus = [] if args.device == "cpu" or args.executor == "ray" else visible_gpus()
    if args.device == "cuda" and not gpus:
        raise RlscaleError("--device cuda requested but torch sees no CUDA device")

    max_members = args.max_members or MAX_MEMBERS["cuda" if gpus else "cpu"]
    if args.dry_run:
        changed = changed_runs(sweep, out_dir)
        todo, settled = plan(sweep, out_dir, retry_failed=args.retry_failed, rerun_changed=args.rerun_changed)
        chunks: dict[str, str] = {}
        if args.vectorize:
            items, notes = vector_jobs(sweep, todo, out_dir, max_members)
            for note in notes:
                print(f"rlscale: {note}", file=sys.stderr)
            for i, job in enumerate(j for j in items if isinstance(j, Chunk)):
                chunks.update({spec.name: f"vectorised chunk {i} ({len(job.runs)} members)" for spec in job.runs})
        for spec in sweep.runs:
            state = (settled[spec.name].status if spec.name in settled
                     else "changed: to rerun" if spec.name in changed else "to run")
            how = chunks.get(spec.name, f"rlscale train {' '.join(config_flags(spec.config))} -o {out_dir / spec.name}")
            print(f"{spec.name}\t{state}\t{how}")
        print(f"sweep {sweep.name}: {len(sweep.runs)} runs, {len(todo)} to run, "
              f"{sum(r.status == 'skipped' for r in settled.values())} finished, "
              f"{sum(r.status == 'failed' for r in settled.values())} failed before; "
              f"devices: {_devices(args, gpus)}")
        return 0

    if args.executor == "ray":
        from rlscale.train.ray_executor import RayExecutor, import_ray

        import_ray()  # before any file is written: without Ray, one line and nothing else
        executor = RayExecutor(address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                               device=args.device, threads=args.threads)
    else:
        executor = LocalExecutor(workers=args.workers or 1, gpus=gpus, threads=args.threads)
    try:
        report = run_sweep(sweep, out_dir, executor, retry_failed=args.retry_failed,
                           rerun_changed=args.rerun_changed, vectorize=args.vectorize, max_members=max_members)
    except SweepInterrupted as exc:
        print(exc.report.summary())
        print("rlscale: interrupted", file=sys.stderr)
        return 130
    print(report.summary())
    failed = report.counts()["failed"]
    if failed:
        print(f"rlscale: {failed} run(s) failed; reasons in {report.path}", file=sys.stderr)
        return 1
    return 0


def _devices(args: argparse.Namespace, gpus: list[str]) -> str:
    if args.executor == "ray":
        gpu = "auto" if args.gpus_per_run is None else f"{args.gpus_per_run:g}"
        return f"ray at {args.address or 'a new local instance'}, {args.cpus_per_run:g} CPU + {gpu} GPU per run"
    return ", ".join("cuda:" + g for g in gpus) if gpus else "cpu"


def _collect(args: argparse.Namespace) -> int:
    import sys

    from rlscale import io
    from rlscale.train.collect import collect_runs

    io.check_writable_path(args.output)
    io.table_suffix(args.output)  # before collecting: a name that says neither Parquet nor CSV is refused
    table, notes = collect_runs(args.runs, include_unfinished=args.include_unfinished, progress=True)
    for note in notes:
        print(f"rlscale: {note}", file=sys.stderr)
    io.write_table(args.output, table)
    skipped = sum(note.startswith("skipped") for note in notes)
    print(f"wrote {args.output}: {table['run_id'].nunique()} runs, {len(table)} rows ({skipped} skipped)")
    return 0

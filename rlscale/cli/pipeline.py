"""``rlscale pipeline``: the steps ``dvc.yaml`` chains, each resolving ``params.yaml``'s active preset."""

from __future__ import annotations

import argparse
from pathlib import Path

STEPS = ("grid", "fitted", "hparams", "frontier", "notebook", "overview")
TITLES = {"dmc": "DMC", "gym": "Gym", "isaac": "Isaac Gym"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pipeline", help="one step of dvc.yaml (train, fit, draw) with params.yaml's active preset",
        description="One step of the reproduction pipeline, with the settings of params.yaml's active preset "
        "(`dvc exp run -S preset=paper` switches it). Each step prints the plain rlscale/papermill commands it "
        "runs. grid/fitted: train the sweep sweeps/<preset>_<benchmark>[_fitted].yaml into runs/ and collect "
        "data/runs/<benchmark>[_fitted].parquet with its provenance; hparams/frontier: fit into "
        "results/<benchmark>/; notebook NAME: execute notebooks/NAME.ipynb into figures/<benchmark>/; "
        "overview: Figure 1 over all benchmarks into figures/.")
    p.add_argument("step", choices=STEPS)
    p.add_argument("benchmark", nargs="?", help="benchmark of params.yaml (all steps but overview)")
    p.add_argument("notebook", nargs="?", help="notebook name without .ipynb (step notebook)")
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import yaml

    from rlscale import pipeline
    from rlscale.errors import RlscaleError

    if args.step == "overview":
        names = (yaml.safe_load(Path(args.params).read_text()) or {}).get("benchmarks") or []
        benches = [pipeline.load_params(args.params, name) for name in names]
        if not benches:
            raise RlscaleError(f"{args.params}: no benchmarks")
        pipeline.run_notebook("fig01_overview", pipeline.overview_parameters(benches, TITLES), Path("figures"),
                              "fig01_overview")
        return 0
    if args.benchmark is None:
        raise RlscaleError(f"pipeline {args.step}: give a benchmark")
    params = pipeline.load_params(args.params, args.benchmark)
    if args.step in ("grid", "fitted"):
        pipeline.train(params, args.step)
    elif args.step == "hparams":
        pipeline.fit_hparams(params)
    elif args.step == "frontier":
        pipeline.fit_frontier(params)
    else:
        if args.notebook is None:
            raise RlscaleError("pipeline notebook: give the benchmark and the notebook name")
        out = Path("figures") / params.name
        pipeline.run_notebook(args.notebook, pipeline.notebook_parameters(params, out, args.notebook), out,
                              f"{params.name}/{args.notebook}")
    return 0

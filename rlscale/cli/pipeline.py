"""``rlscale pipeline``: the steps ``dvc.yaml`` chains, each resolving ``params.yaml``'s active preset."""

from __future__ import annotations

import argparse

STEPS = ("grid", "fitted", "baseline", "hparams", "analysis", "figures", "notebook", "overview", "authors")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pipeline", help="one step of dvc.yaml (train, fit, draw) with params.yaml's active preset",
        description="One step of the reproduction pipeline, with the settings of params.yaml's active preset "
        "(`dvc exp run -S preset=paper` switches it). Each step prints the plain rlscale/papermill commands it "
        "is equivalent to. grid/fitted/baseline: train the sweep sweeps/<preset>_<benchmark>[_fitted|_baseline].yaml "
        "into runs/ and collect data/runs/<benchmark>[_fitted|_baseline].parquet with its provenance; hparams: the "
        "proposals the fitted runs train at (results/<benchmark>/proposed_hparams.csv) and the constant baseline the "
        "baseline runs train at (baseline_hparams.csv); analysis: every law, fitted once, into "
        "results/<benchmark>/analysis and metrics.json; figures: every figure and table notebook of the "
        "benchmark into figures/<benchmark>/; notebook NAME: one of them; overview: Figure 1 into figures/; "
        "authors: the authors preset, their published runs fitted with the paper method and rlscale's, every "
        "figure, table and paper_vs_rlscale into build/authors/ (git-ignored).")
    p.add_argument("step", choices=STEPS)
    p.add_argument("benchmark", nargs="?", help="benchmark of params.yaml (all steps but overview)")
    p.add_argument("notebook", nargs="?", help="notebook name without .ipynb (step notebook)")
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from rlscale import pipeline
    from rlscale.errors import RlscaleError

    if args.step == "overview":
        pipeline.overview(args.params)
        return 0
    if args.step == "authors":
        pipeline.authors()
        return 0
    if args.benchmark is None:
        raise RlscaleError(f"pipeline {args.step}: give a benchmark")
    params = pipeline.load_params(args.params, args.benchmark)
    if args.step in pipeline.TRAIN_KINDS:
        pipeline.train(params, args.step)
    elif args.step == "hparams":
        pipeline.fit_hparams(params)
    elif args.step == "analysis":
        pipeline.analyse(params)
    elif args.step == "figures":
        pipeline.figures(params)
    else:
        if args.notebook is None:
            raise RlscaleError("pipeline notebook: give the benchmark and the notebook name")
        pipeline.figures(params, [args.notebook])
    return 0

"""``rlscale train``: one run (train, evaluate, checkpoint; re-running the same command resumes)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one run (SAC/BRO on gym:/dmc: tasks); re-running the same command resumes it",
        description="Train one run into OUTPUT (config.json, status.json, curve.parquet, checkpoint.pt). "
        "Re-running the same command resumes from the last checkpoint; a finished run is a no-op.",
    )
    p.add_argument("--env", required=True, help="BACKEND:ID, e.g. gym:HalfCheetah-v4, dmc:walker-walk")
    p.add_argument("--algo", required=True, help="agent: sac, bro or pql (parallel envs, see --num-envs)")
    p.add_argument("--utd", type=float, required=True, help="updates per env step sigma (< 1: one every 1/sigma)")
    p.add_argument("--batch-size", type=int, required=True, help="batch size B")
    p.add_argument("--learning-rate", type=float, required=True, help="critic and actor learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-steps", type=int, required=True, help="environment steps D to train for")
    p.add_argument("--eval-every", type=int, required=True, help="evaluate every this many env steps")
    p.add_argument("--eval-episodes", type=int, default=10, help="deterministic episodes per evaluation")
    p.add_argument("--critic-width", type=int, help="critic hidden width (default: the agent's)")
    p.add_argument("--critic-depth", type=int, help="critic hidden layers / blocks (default: the agent's)")
    p.add_argument("--warmup-steps", type=int, default=5000, help="random-action steps before updates start")
    p.add_argument("--buffer-size", type=int, default=1_000_000, help="replay capacity")
    p.add_argument("--val-fraction", type=float, default=0.05,
                   help="fraction of collected transitions held out (never trained on) for val_td_error")
    p.add_argument("--checkpoint-every", type=int,
                   help="checkpoint at the first episode end after this many env steps (default: --eval-every)")
    p.add_argument("--action-repeat", type=int, help="dmc only: physics steps per action (default 1)")
    p.add_argument("--reset-every", type=int,
                   help="bro only: gradient steps between full network resets (default 2.5e6)")
    p.add_argument("--num-envs", type=int, default=16,
                   help="pql only: parallel envs (gym:/dmc: vectorised on CPU, warp:/isaac: on the GPU; default 16)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:K (default auto)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = torch's default)")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep checkpoint.pt after the run finishes")
    p.add_argument("-o", "--output", required=True, help="run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import contextlib
    import sys

    if args.env.startswith("isaac:"):  # Isaac Gym refuses to load after torch; without it, envs.vector says how
        with contextlib.suppress(ImportError):
            import isaacgym  # noqa: F401

    from rlscale.train.parallel import ParallelConfig, ParallelTrainer
    from rlscale.train.run import RunFailed, TrainConfig, Trainer

    pql = args.algo == "pql"
    config = (ParallelConfig if pql else TrainConfig)(
        env=args.env, algo=args.algo, utd=args.utd, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, env_steps=args.env_steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        critic_width=args.critic_width, critic_depth=args.critic_depth, warmup_steps=args.warmup_steps,
        buffer_size=args.buffer_size, val_fraction=args.val_fraction, checkpoint_every=args.checkpoint_every,
        action_repeat=args.action_repeat, reset_every=args.reset_every, **({"num_envs": args.num_envs} if pql else {}),
    )
    trainer = (ParallelTrainer if pql else Trainer)(config, args.output, device=args.device, threads=args.threads,
                                                    quiet=args.quiet, keep_checkpoint=args.keep_checkpoint)
    try:
        status = trainer.run()
    except RunFailed as exc:
        print(f"rlscale: run failed: {exc} (table kept up to the failure in {args.output})", file=sys.stderr)
        return 1
    if not args.quiet and trainer.resumed_from is not None:
        print(f"rlscale: resumed {args.output} from env step {trainer.resumed_from}", file=sys.stderr)
    if not args.quiet and trainer.resumed_from is None and status.get("env_step") == config.env_steps:
        print(f"rlscale: {args.output} finished ({config.env_steps} env steps)", file=sys.stderr)
    return 0

"""The run config: the one dataclass every setting of a training run comes from.

:class:`RunConfig` holds what defines a run's results (two runs with equal configs give equal curves
on CPU). Everything else is derived from its fields and their :func:`setting` metadata: the
``rlscale train`` flags and their help (``rlscale.cli.train``), the sweep-file keys and their checks
(:mod:`rlscale.train.sweep`), the ``settings`` record in a run folder's ``config.json`` and the job
a sweep hands to a worker process or a Ray task (:mod:`rlscale.train.worker`). :class:`Runtime` holds
how a run is executed (device, threads), which never changes its results.

This module imports nothing heavy, so that building the command line stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from rlscale.errors import RlscaleError

PQL_NUM_ENVS = 16  # parallel envs of a PQL run when num_envs is not given
MEMBER_KEYS = ("seed", "learning_rate", "batch_size")  # what the members of one chunk may differ in


@dataclass(frozen=True)
class Check:
    """A constraint on a setting's value, with the words that describe it in messages."""

    text: str
    ok: Callable[[Any], bool]


POSITIVE = Check("> 0", lambda v: v > 0)
NON_NEGATIVE = Check(">= 0", lambda v: v >= 0)
FRACTION = Check(">= 0 and < 1", lambda v: 0 <= v < 1)
DISCOUNT = Check("> 0 and <= 1", lambda v: 0 < v <= 1)
ANY = Check("", lambda v: True)


def one_of(*options: str) -> Check:
    return Check(" or ".join(options), lambda v: v in options)


def setting(default: Any = dataclasses.MISSING, *, help: str | Callable[[], str], check: Check = ANY,
            legacy: Callable[[Mapping[str, Any]], Any] | None = None) -> Any:
    """A config field: its default (none: required), the help line users see (a callable: text read from the
    agent registry when the command line is built), and its value check. Which agents or env backends take a
    setting, and its default there, come from the registries (:func:`owners`), not from the help.

    ``legacy`` gives, from a stored config's other values, the value a run had before this setting existed,
    when the setting changed what runs do: an old ``config.json`` without the key still describes its run.
    """
    return field(default=default, metadata={"help": help, "check": check, "legacy": legacy})


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Every setting of one training run (a folder's ``config.json`` ``settings``; one ``rlscale train``)."""

    env: str = setting(help="BACKEND:ID, e.g. gym:HalfCheetah-v4, dmc:walker-walk, warp:Ant (pql)")
    algo: str = setting(help=lambda: "agent: " + ", ".join(f"{a} ({e.about})" if e.about else a
                                                           for a, e in _agents().items()))
    utd: float = setting(help="updates-to-data ratio sigma: gradient updates per env step (< 1: one update "
                         "every 1/sigma steps)", check=POSITIVE)
    batch_size: int = setting(help="batch size B", check=POSITIVE)
    learning_rate: float = setting(help="learning rate eta of the critic, and of the actors unless the agent takes "
                                   "actor_learning_rate", check=POSITIVE)
    seed: int = setting(0, help="seed of the initial weights and every random stream", check=NON_NEGATIVE)
    env_steps: int = setting(help="environment steps D to train for", check=POSITIVE)
    eval_every: int = setting(help="evaluate (one curve row) every this many env steps", check=POSITIVE)
    eval_episodes: int = setting(10, help="deterministic episodes per evaluation", check=POSITIVE)
    train_return_window: int = setting(
        1000, help="each row's train_return: mean return of the training episodes that ended in this many env "
        "steps up to the row (the authors log theirs every 1000 env steps)", check=POSITIVE,
        legacy=lambda v: v["eval_every"])
    critic_width: int | None = setting(None, help="critic hidden width", check=POSITIVE)
    critic_depth: int | None = setting(None, help="critic hidden layers (residual blocks of a BroNet critic)",
                                       check=POSITIVE)
    warmup_steps: int = setting(5000, help="env steps of uniformly random actions before the first update",
                                check=NON_NEGATIVE)
    buffer_size: int = setting(1_000_000, help="replay capacity in transitions", check=POSITIVE)
    val_fraction: float = setting(0.0, help="fraction of collected transitions held out, never trained on (the "
                                  "val_td_error probe; the paper trains on every transition)", check=FRACTION,
                                  legacy=lambda v: 0.05)
    actor_learning_rate: float | None = setting(
        None, help="the actors' own learning rate (learning_rate is then the critic's; the authors' SAC set-up)",
        check=POSITIVE, legacy=lambda v: v["learning_rate"] if v["algo"] == "sac" else None)
    target_entropy: float | None = setting(
        None, help="the temperature's entropy target per action dimension (the target is this times |A|)",
        legacy=lambda v: -1.0 if v["algo"] == "sac" else None)
    weight_init: str | None = setting(
        None, help="initial weights: torch (each layer's PyTorch default) or orthogonal (jaxrl's: gain sqrt 2, the "
        "actor's output layer gain 1, zero biases)", check=one_of("torch", "orthogonal"))
    log_std_bounds: str | None = setting(
        None, help="how the actor's log-std is bounded: squash (tanh into [-5, 2], CleanRL's) or clip (clipped to "
        "[-10, 2], jaxrl's)", check=one_of("squash", "clip"))
    temperature_loss: str | None = setting(
        None, help="the temperature's loss: log_alpha (log alpha times the entropy gap, CleanRL's) or alpha (alpha "
        "times the gap, jaxrl's: the same fixed point, steps scaled by alpha)", check=one_of("log_alpha", "alpha"))
    checkpoint_every: int | None = setting(None, help="env steps between checkpoints, taken at the next episode "
                                           "end (default: eval_every)", check=POSITIVE)
    action_repeat: int | None = setting(None, help="physics steps per action", check=POSITIVE)
    gamma: float = setting(0.99, help="discount factor", check=DISCOUNT)
    reset_every: int | None = setting(None, help="gradient steps between full network resets (every network, "
                                      "target and optimiser re-initialised)", check=POSITIVE)
    num_envs: int | None = setting(None, help=lambda: f"{_parallel_agents()} only: parallel environments N (default: "
                                   f"{PQL_NUM_ENVS}); gym:/dmc: run them on the CPU, warp:/isaac: on the GPU",
                                   check=POSITIVE)
    asynchronous: bool = setting(False, help=lambda: f"{_parallel_agents()} on gym:/dmc: only: one process per "
                                 "environment (gymnasium's AsyncVectorEnv) instead of stepping them in turn")
    newest_window: int | None = setting(None, help="transitions that count as the newest data in the overfitting "
                                        "probe (newest_td_error) (default: those collected since the previous "
                                        "evaluation, about eval_every)", check=POSITIVE)

    def __post_init__(self) -> None:
        entry = _agents().get(self.algo)
        if entry is not None and entry.parallel and self.num_envs is None:  # stored resolved: equal runs, equal configs
            object.__setattr__(self, "num_envs", PQL_NUM_ENVS)

    # ----------------------------------------------------------------- checks
    def validate(self) -> RunConfig:
        """Every value and every relation between values; one line naming each bad setting."""
        from rlscale.envs import parse_env_name

        bad = [f"{name}={getattr(self, name)!r} (must be {spec.metadata['check'].text})"
               for name, spec in _fields().items() if not _valid(self, name)]
        if bad:
            raise RlscaleError("invalid setting(s): " + ", ".join(bad))
        backend, _ = parse_env_name(self.env)
        agents = _agents()
        if self.algo not in agents:
            raise RlscaleError(f"unknown algo '{self.algo}'; available: {', '.join(sorted(agents))}")
        for name in _fields():
            value, (algos, backends) = getattr(self, name), owners(name)
            if value is not None and algos and self.algo not in algos:
                raise RlscaleError(f"invalid setting(s): {name}={value} is for algo {' or '.join(algos)} only")
            if value is not None and backends and backend not in backends:
                raise RlscaleError(f"invalid setting(s): {name}={value} is for {' or '.join(backends)}: "
                                   "environments only")
        parallel = agents[self.algo].parallel
        if not parallel and (self.num_envs is not None or self.asynchronous):
            raise RlscaleError(f"num_envs and asynchronous are for parallel-env agents (pql), not {self.algo}")
        if parallel:
            steps = {"env_steps": self.env_steps, "eval_every": self.eval_every, "warmup_steps": self.warmup_steps,
                     "checkpoint_every": self.checkpoint_every}
            off = [f"{k}={v}" for k, v in steps.items() if v is not None and v % self.num_envs]
            if off:
                raise RlscaleError(f"{', '.join(off)} must be multiple(s) of num_envs={self.num_envs} "
                                   "(one parallel step collects num_envs transitions)")
        self._check_updates()
        return self

    def _check_updates(self) -> None:
        """Refuse a run that would train nothing, or whose first batch is larger than its replay holds.

        Updates after env step t are floor(utd * (t - warmup_steps)) (:mod:`rlscale.train.learners`), so
        the first one comes at t1 = warmup_steps + ceil(1 / utd); the replay then holds about
        (1 - val_fraction) * min(t1, buffer_size) transitions. The paper's own set-up (5000 warm-up steps,
        batches up to 1024) never trips either check.
        """
        ratio = exact_ratio(self.utd)
        total = math.floor(ratio * max(0, self.env_steps - self.warmup_steps))
        if self.env_steps <= self.warmup_steps:
            raise RlscaleError(f"env_steps={self.env_steps} <= warmup_steps={self.warmup_steps}: the run would do no "
                               "update; raise env_steps or lower warmup_steps")
        if total == 0:
            need = f" (to at least {math.ceil(1 / ratio) + self.warmup_steps})" if ratio else ""
            raise RlscaleError(f"utd={self.utd!r} gives floor(utd * (env_steps - warmup_steps)) = 0 updates: the run "
                               f"would train nothing; raise utd or env_steps{need}")
        first = self.warmup_steps + math.ceil(1 / ratio)
        held = math.floor((1 - self.val_fraction) * min(first, self.buffer_size))
        if self.batch_size > held:
            need = math.ceil(self.batch_size / (1 - self.val_fraction))  # transitions that hold a batch
            if math.floor((1 - self.val_fraction) * need) < self.batch_size:  # float rounding left it one short
                need += 1
            # the replay holds the smaller of the two: advise raising each one that is short, and only those
            short = " and ".join(name for name, value in (("warmup_steps", first), ("buffer_size", self.buffer_size))
                                 if value < need)
            raise RlscaleError(
                f"batch_size={self.batch_size} is larger than the ~{held} transitions the replay holds at the first "
                f"update (env step {first}, buffer_size {self.buffer_size}, val_fraction {self.val_fraction:g} held "
                f"out): lower batch_size or raise {short} to at least {need}")

    # ----------------------------------------------------------------- views
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> RunConfig:
        """Build from plain values (JSON, YAML), checking each, so the ``config.json`` of older runs (fewer
        settings) still reads: an absent optional key takes the value runs had before it existed (its
        ``legacy``, e.g. ``val_fraction`` 0.05 and SAC's actor at the critic's learning rate), else its
        default."""
        unknown = sorted(set(values) - set(_fields()))
        if unknown:
            raise RlscaleError(f"{source}: unknown setting(s) {', '.join(unknown)}")
        missing = [k for k in required_keys() if k not in values]
        if missing:
            raise RlscaleError(f"{source}: missing required setting(s) {', '.join(missing)}")
        parsed = {k: parse_value(k, v, source) for k, v in values.items()}
        for name, spec in _fields().items():
            if name not in parsed and spec.metadata["legacy"] is not None:
                parsed[name] = spec.metadata["legacy"](parsed)
        return cls(**parsed)

    def resolved(self) -> dict[str, Any]:
        """Every setting, those left unset (None) replaced by what the run then uses (the agent's and the env
        backend's defaults, ``checkpoint_every`` = ``eval_every``): a run that spells out a default is the same
        run as one that leaves it unset, so it resumes, reruns and collects as that run."""
        from rlscale.envs import OPTION_DEFAULTS

        values = self.to_dict()
        entry = _agents().get(self.algo)
        defaults = {**(entry.defaults if entry else {}), **OPTION_DEFAULTS.get(self.env.partition(":")[0], {})}
        unknown = sorted(set(defaults) - set(values))
        if unknown:
            raise RlscaleError(f"the defaults of agent {self.algo} name {', '.join(unknown)}, which are no run setting "
                               "(RunConfig field); an agent's other constants belong in its module")
        for name, value in defaults.items():
            if values[name] is None:
                values[name] = value
        values["checkpoint_every"] = self.checkpoint_interval
        return values

    def shared(self) -> tuple[tuple[str, Any], ...]:
        """Every setting (resolved) but those the members of one chunk may differ in (:data:`MEMBER_KEYS`)."""
        return tuple((k, v) for k, v in self.resolved().items() if k not in MEMBER_KEYS)

    def differences(self, other: RunConfig) -> list[str]:
        """``"name: mine -> other"`` for every setting that differs once resolved (a spelled-out default is
        no difference)."""
        a, b = self.resolved(), other.resolved()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or self.eval_every

    @property
    def env_options(self) -> dict[str, Any]:
        """Backend options of ``make_env``: the settings the backend's option table names, where set (so backends
        without options accept it)."""
        from rlscale.envs import OPTION_DEFAULTS

        names = OPTION_DEFAULTS.get(self.env.partition(":")[0], {})
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass(frozen=True)
class Runtime:
    """How a run executes; never part of its results (a run may resume on another device or thread count)."""

    device: str = setting("auto", help="auto, cpu, cuda or cuda:K")
    threads: int = setting(1, help="torch CPU threads (0 = torch's default)", check=NON_NEGATIVE)
    keep_checkpoint: bool = setting(False, help="keep checkpoint.pt after the run finishes")
    quiet: bool = setting(False, help="no progress bar and no summary lines")


# ---------------------------------------------------------------------------------------------- values
def exact_ratio(utd: float) -> Fraction:
    """The utd as the exact fraction the learners count updates with (1/3 stays 1/3, not 0.333...)."""
    return Fraction(utd).limit_denominator(1_000_000)


@functools.cache  # a class's fields and hints are fixed: validating a 3,200-run sweep asks 86,400 times
def _fields(cls: type = RunConfig) -> Mapping[str, dataclasses.Field]:
    return types.MappingProxyType({f.name: f for f in dataclasses.fields(cls)})


@functools.cache
def _hints(cls: type) -> Mapping[str, Any]:
    return types.MappingProxyType(typing.get_type_hints(cls))


def required_keys(cls: type = RunConfig) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]


def value_type(name: str, cls: type = RunConfig) -> tuple[type, bool]:
    """The field's scalar type and whether it may be None (``int | None`` -> ``(int, True)``)."""
    hint = _hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0] if args else hint), type(None) in typing.get_args(hint)


def describe(name: str, cls: type = RunConfig) -> str:
    """What a value of the field must be, e.g. ``an integer > 0``."""
    typ, _ = value_type(name, cls)
    kind = {int: "an integer", float: "a number", bool: "true or false", str: "a non-empty string"}[typ]
    text = _fields(cls)[name].metadata["check"].text
    if typ is str and text:  # a choice: its values say it all
        return text
    return f"{kind} {text}".strip()


def parse_value(name: str, value: Any, source: str, cls: type = RunConfig) -> Any:
    """``value`` as the field's type, checked; one line naming ``source`` and the key otherwise.

    A number written ``3e-4`` is a string in YAML 1.1: numeric strings are accepted for numbers.
    """
    typ, optional = value_type(name, cls)
    if value is None and optional:
        return None
    if typ in (int, float) and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if typ is bool:
        ok = isinstance(value, bool)
    elif typ is str:
        ok = isinstance(value, str) and bool(value)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (typ is float or float(value).is_integer())
    ok = ok and _fields(cls)[name].metadata["check"].ok(value)
    if not ok:
        raise RlscaleError(f"{source}: '{name}' must be {describe(name, cls)}, got {value!r}")
    return typ(value)


def _valid(config: Any, name: str) -> bool:
    try:
        parse_value(name, getattr(config, name), "", type(config))
    except RlscaleError:
        return False
    return True


def _agents() -> Mapping[str, Any]:
    from rlscale.agents import AGENTS  # imports nothing heavy; late, so that agents may import this module

    return AGENTS


def _parallel_agents() -> str:
    return "parallel-env agents (" + ", ".join(a for a, e in _agents().items() if e.parallel) + ")"


def owners(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The agents and the env backends that take setting ``name``, each with what it uses where a run leaves it
    unset: those whose registry (``AGENTS[...].defaults``, ``rlscale.envs.OPTION_DEFAULTS``) names it. Empty: a
    setting of every agent, or of every backend. The registries are the one place that says so: validation and
    the help are read from them."""
    from rlscale.envs import OPTION_DEFAULTS

    return ({a: e.defaults[name] for a, e in _agents().items() if name in e.defaults},
            {b: d[name] for b, d in OPTION_DEFAULTS.items() if name in d})


def help_line(name: str, cls: type = RunConfig) -> str:
    """The field's help, with its default: the field's own, or, for a setting the registries give, which agents
    or backends take it and what each uses when it is left unset."""
    spec = _fields(cls)[name]
    text = spec.metadata["help"]
    text = text() if callable(text) else text
    shown = all(spec.default is not hidden for hidden in (dataclasses.MISSING, None, False))  # 0 is shown
    if shown:
        return f"{text} (default: {spec.default})"
    algos, backends = owners(name) if cls is RunConfig else ({}, {})
    given = algos or backends
    if not given:
        return text
    if algos:
        scope = "" if algos.keys() == _agents().keys() else f"algo {' or '.join(algos)} only; "
    else:
        scope = " or ".join(f"{b}:" for b in backends) + " environments only; "
    values = set(given.values())
    default = values.pop() if len(values) == 1 else ", ".join(f"{k} {v}" for k, v in given.items())
    return f"{text} ({scope}default: {default})"

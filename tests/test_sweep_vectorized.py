"""``rlscale sweep --vectorize``: chunking, a killed chunk recorded failed and resumed, the single-run table."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from rlscale import io
from rlscale.cli import main
from rlscale.errors import RlscaleError
from rlscale.runs import ROW_KEY, validate_run_table
from rlscale.train.sweep import Chunk, LocalExecutor, load_sweep, plan, run_sweep, vector_jobs

TINY = """\
name: tiny
algo: sac
envs: [gym:Pendulum-v1]
utd: [1]
batch_size: [16, 32]
learning_rate: [1e-3]
seeds: 1
env_steps: 400
eval_every: 200
eval_episodes: 1
warmup_steps: 50
critic_width: 16
critic_depth: 1
"""


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_runs_are_grouped_by_every_setting_but_seed_lr_and_batch_size_and_chunked(tmp_path):
    text = TINY.replace("utd: [1]", "utd: [0.5, 1]").replace("seeds: 1", "seeds: 3")
    sweep = load_sweep(_write(tmp_path, text))
    items, notes = vector_jobs(sweep, sweep.runs, tmp_path / "out", max_members=4)
    assert notes == [] and all(isinstance(j, Chunk) for j in items)
    assert [len(j.runs) for j in items] == [3, 3, 3, 3]  # two groups of 6, each cut into near-equal chunks
    for job in items:
        assert len({s.config.shared() for s in job.runs}) == 1 and job.report == tuple(s.name for s in job.runs)
    assert sorted(s.name for j in items for s in j.runs) == sorted(s.name for s in sweep.runs)
    exact, _ = vector_jobs(sweep, sweep.runs, tmp_path / "out", max_members=3)
    assert [len(j.runs) for j in exact] == [3, 3, 3, 3]  # as few chunks as max_members allows: 6 = 3 + 3
    single, _ = vector_jobs(sweep, sweep.runs[:1], tmp_path / "out", max_members=4)
    assert single == [sweep.runs[0]]  # a group of one is an ordinary run
    with pytest.raises(RlscaleError, match="max_members= must be >= 1, got 0"):
        vector_jobs(sweep, sweep.runs, tmp_path / "out", max_members=0)


def test_partial_single_runs_stay_single_and_interrupted_chunks_resume_as_they_were_cut(tmp_path):
    sweep = load_sweep(_write(tmp_path, TINY.replace("seeds: 1", "seeds: 3")))
    out = tmp_path / "out"
    names = [s.name for s in sweep.runs]  # bs16 s0..s2, bs32 s0..s2
    chunk = [names[0], names[4]]
    for name in chunk:  # a vectorised chunk killed earlier; one member's folder holds a single run instead
        io.write_json(out / name / "status.json", {"status": "running", "env_step": 200, "vectorized": chunk})
    io.write_json(out / names[1] / "status.json", {"status": "running", "env_step": 200})
    items, _ = vector_jobs(sweep, sweep.runs, out, max_members=16)
    assert items[0] == Chunk((sweep.runs[0], sweep.runs[4]), tuple(chunk))
    assert items[1] == sweep.runs[1]
    assert [s.name for s in items[2].runs] == [names[2], names[3], names[5]]
    # a chunk one of whose members finished before resumes whole, but reports only the members it trains now
    out, chunk = tmp_path / "out2", [names[2], names[5]]
    io.write_json(out / names[2] / "status.json", {"status": "running", "env_step": 200, "vectorized": chunk})
    io.write_json(out / names[5] / "status.json", {"status": "finished", "env_step": 400, "vectorized": chunk})
    todo = [s for s in sweep.runs if s.name != names[5]]
    items, _ = vector_jobs(sweep, todo, out, max_members=16)
    assert items == [Chunk((sweep.runs[2], sweep.runs[5]), (names[2],)),
                     Chunk(tuple(sweep.runs[k] for k in (0, 1, 3, 4)), tuple(names[k] for k in (0, 1, 3, 4)))]


def test_pql_runs_fall_back_to_single_runs_with_a_notice(tmp_path, capsys):
    path = _write(tmp_path, TINY.replace("algo: sac", "algo: pql\nnum_envs: 2"))
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--vectorize", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "algo pql trains N parallel envs" in err and err.count("\n") == 1
    assert out.count("rlscale train --env") == 2
    for algo in ("sac", "bro"):
        path = _write(tmp_path, TINY.replace("algo: sac", f"algo: {algo}"))
        assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--vectorize", "--dry-run"]) == 0
        assert capsys.readouterr().out.count("vectorised chunk 0 (2 members)") == 2


def test_vectorize_flag_errors_are_one_line(tmp_path, capsys):
    path = _write(tmp_path, TINY)
    for extra, message in [(["--max-members", "4"], "needs --vectorize"),
                           (["--vectorize", "--max-members", "0"], "must be >= 1"),
                           (["--vectorize", "--executor", "ray"], "needs --executor local")]:
        assert main(["sweep", str(path), "-o", str(tmp_path / "out"), *extra]) == 2
        assert message in capsys.readouterr().err


def test_a_killed_chunk_is_recorded_failed_resumes_on_retry_and_matches_the_single_run_sweep(tmp_path):
    sweep = load_sweep(_write(tmp_path, TINY))
    out = tmp_path / "vec"
    executor = LocalExecutor(workers=1, threads=1)
    thread = threading.Thread(target=run_sweep, args=(sweep, out, executor),
                              kwargs={"vectorize": True, "progress": False})
    thread.start()
    deadline = time.monotonic() + 120
    while not all((out / s.name / "checkpoint.pt").exists() for s in sweep.runs):
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    with executor._lock:
        (proc,) = executor._procs.values()
    proc.kill()
    thread.join()
    summary = json.loads((out / "sweep_tiny.json").read_text())
    assert summary["counts"]["failed"] == 2
    assert {r["reason"] for r in summary["runs"]} == {"killed by signal 9"}
    todo, settled = plan(sweep, out)
    assert todo == [] and all("when failed runs are retried" in r.reason
                              for r in settled.values())  # recoverable, not lost
    started = {s.name: (out / s.name / "config.json").read_text() for s in sweep.runs}

    report = run_sweep(sweep, out, executor, retry_failed=True, vectorize=True, progress=False)
    assert report.counts()["finished"] == 2
    assert {r.device for r in report.results.values()} == {"cpu, vectorised"}
    assert started == {s.name: (out / s.name / "config.json").read_text() for s in sweep.runs}  # resumed, not redone
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "single"), "--workers", "2"]) == 0
    tables = {}
    for name in ("vec", "single"):
        assert main(["collect", str(tmp_path / name), "-o", str(tmp_path / f"{name}.parquet")]) == 0
        tables[name] = validate_run_table(pd.read_parquet(tmp_path / f"{name}.parquet"))
    assert list(tables["vec"].columns) == list(tables["single"].columns)
    keys = [*ROW_KEY, "run_id", "critic_params", "updates"]
    rows = {name: sorted(map(tuple, t[keys].astype(str).to_numpy())) for name, t in tables.items()}
    assert rows["vec"] == rows["single"] and len(rows["vec"]) == 2 * 2


def test_a_diverging_member_fails_alone_and_the_others_of_its_chunk_finish_their_whole_curves(tmp_path):
    """An absurd learning rate makes two members' numbers non-finite: they are recorded failed with the trainer's
    reason (tables kept up to the failure), while their chunk's other members train on to full curves and are
    recorded finished, although the chunk's process exits 1."""
    text = TINY.replace("learning_rate: [1e-3]", "learning_rate: [1e-3, 1e12]").replace("batch_size: [16, 32]",
                                                                                      "batch_size: [16]")
    sweep = load_sweep(_write(tmp_path, text.replace("seeds: 1", "seeds: 2")))
    out = tmp_path / "out"
    report = run_sweep(sweep, out, LocalExecutor(workers=1, threads=1), vectorize=True, progress=False)
    assert {r.device for r in report.results.values()} == {"cpu, vectorised"}  # one chunk of four
    for spec in sweep.runs:
        result, run = report.results[spec.name], out / spec.name
        rows = pd.read_parquet(run / "curve.parquet")["env_step"].tolist() if (run / "curve.parquet").exists() else []
        status = json.loads((run / "status.json").read_text())
        if spec.config.learning_rate == 1e-3:
            assert result.status == status["status"] == "finished" and result.returncode == 1, result
            assert rows == [200, 400]
        else:
            assert result.status == status["status"] == "failed" and result.reason == status["reason"], result
            failed_at = re.fullmatch(r"non-finite \w+ at env step (\d+)", result.reason)
            assert failed_at is not None and rows == [t for t in (200, 400) if t < int(failed_at.group(1))]

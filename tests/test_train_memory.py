"""A training process keeps the memory an update frees, instead of mapping it afresh every step."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the allocator settings are glibc's")

# Frees a 16 MB tensor and prints how much of it left the process's resident memory (MB).
PROBE = textwrap.dedent("""
    import os, sys, torch
    if sys.argv[1] == "tuned":
        from rlscale.train.loop import keep_freed_memory
        assert keep_freed_memory()
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    x = torch.ones(4 << 20)  # 16 MB, touched
    before = rss()
    del x
    print(before - rss())
""")


def _released_mb(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


@glibc
def test_a_tuned_process_keeps_a_freed_tensor_resident_and_an_untuned_one_hands_it_back():
    assert _released_mb("default") > 12  # glibc maps a 16 MB block on its own and unmaps it when freed
    assert _released_mb("tuned") < 1     # kept in the heap for the next update's temporaries


@glibc
def test_every_training_process_keeps_freed_memory(tmp_path):
    from rlscale.train.config import RunConfig, Runtime
    from rlscale.train.loop import MMAP_THRESHOLD
    from rlscale.train.worker import Job

    job = Job(((RunConfig(env="gym:Pendulum-v1", algo="sac", utd=1, batch_size=8, learning_rate=1e-3,
                          env_steps=40, eval_every=20, eval_episodes=1, warmup_steps=20, critic_width=8),
                str(tmp_path / "run")),), Runtime(quiet=True))
    probe = textwrap.dedent(f"""
        import os, sys, torch
        from rlscale.train.worker import Job, run_job
        run_job(Job.from_json(sys.stdin.read()))
        x = torch.ones({MMAP_THRESHOLD // 2 // 4})
        before = int(open("/proc/self/statm").read().split()[1])
        del x
        print((before - int(open("/proc/self/statm").read().split()[1])) * os.sysconf("SC_PAGE_SIZE") / 2**20)
    """)
    done = subprocess.run([sys.executable, "-c", probe], input=job.to_json(), capture_output=True, text=True,
                          check=True)
    assert float(done.stdout.split()[-1]) < 1

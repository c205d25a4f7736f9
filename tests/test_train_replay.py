"""The replay buffer: K members in one tensor, per-member batches, and the newest-data window."""

from __future__ import annotations

import numpy as np
import torch

from rlscale.train.replay import ReplayBuffer

OBS, ACT = 2, 1
W = ReplayBuffer(1, 1, OBS, ACT, torch.device("cpu")).width


def _rows(k: int, n: int, start: float) -> np.ndarray:
    """Rows whose reward column counts up from ``start`` (member k adds 1000 k)."""
    rows = np.zeros((k, n, W), dtype=np.float32)
    rows[:, :, OBS + ACT] = start + np.arange(n)[None] + 1000 * np.arange(k)[:, None]
    return rows


def test_a_row_is_obs_action_reward_next_obs_terminated():
    buffer = ReplayBuffer(1, 4, OBS, ACT, torch.device("cpu"))
    assert buffer.width == 2 * OBS + ACT + 2 == buffer.storage.shape[-1]
    assert [c.stop - c.start for c in buffer.columns] == [OBS, ACT, 1, OBS, 1]

def test_each_member_keeps_its_own_rows_and_samples_its_own_batch_size():
    buffer = ReplayBuffer(2, 10, OBS, ACT, torch.device("cpu"))
    keep = np.array([[True, True, True], [True, False, True]])
    buffer.add(_rows(2, 3, 0), keep)
    assert buffer.size.tolist() == [3, 2] and buffer.added.tolist() == [3, 2]
    batch = buffer.sample([4, 2], [np.random.default_rng(0), np.random.default_rng(1)])
    assert batch.reward.shape == (2, 4)
    assert set(batch.reward[0].tolist()) <= {0.0, 1.0, 2.0} and set(batch.reward[1, :2].tolist()) <= {1000.0, 1002.0}
    assert batch.weight[1].tolist() == [0.5, 0.5, 0.0, 0.0]  # member 1 averages over its 2 rows only


def test_the_newest_window_is_the_most_recent_rows_across_the_ring_end():
    buffer = ReplayBuffer(1, 5, OBS, ACT, torch.device("cpu"))
    for start in (0, 3, 6):  # 9 rows into 5 slots: the buffer holds rewards 4..8
        buffer.add(_rows(1, 3, start), np.ones((1, 3), dtype=bool))
    rng = [np.random.default_rng(0)]
    assert sorted(buffer.newest([3], 1024, rng).reward[0].tolist()) == [6.0, 7.0, 8.0]
    drawn = buffer.newest([5], 2, rng)  # more than the cap: drawn from the window
    assert drawn.reward.shape == (1, 2) and set(drawn.reward[0].tolist()) <= {4.0, 5.0, 6.0, 7.0, 8.0}


def test_a_member_state_round_trips():
    a = ReplayBuffer(2, 4, OBS, ACT, torch.device("cpu"))
    a.add(_rows(2, 6, 0), np.ones((2, 6), dtype=bool))
    b = ReplayBuffer(2, 4, OBS, ACT, torch.device("cpu"))
    for k in range(2):
        b.load_member_state(k, a.member_state(k))
    assert torch.equal(a.storage, b.storage) and b.pos.tolist() == a.pos.tolist() and b.added.tolist() == [6, 6]

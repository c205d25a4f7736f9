"""The replay buffer: K members' ring buffers in one ``[K, capacity, row]`` tensor on the agent's device.

Each transition is one row ``[obs, action, reward, next_obs, terminated]``, so adding a step's
transitions is one write (one host-to-device copy on CUDA, a numpy write on CPU) and sampling is one
gather; the batch fields are column views of the gathered rows. A single run is K = 1; a chunk adds
one transition per member per step; a PQL run adds N per step to its one member, while its learner
threads sample concurrently (``concurrent``: rows are written, and on CUDA an event recorded, before
``size`` grows, so a learner never samples an unwritten row).

Indices are drawn from each member's own generator: a numpy ``Generator`` (checkpointed with the run's
other streams; member k draws exactly what a single run with its seed draws) or, for learner threads
on the device, a ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rlscale.agents.base import Batch, member_weights


class ReplayBuffer:
    def __init__(self, members: int, capacity: int, obs_dim: int, action_dim: int, device: torch.device, *,
                 concurrent: bool = False) -> None:
        self.members, self.capacity, self.device = members, int(capacity), torch.device(device)
        bounds = np.cumsum([0, obs_dim, action_dim, 1, obs_dim, 1])
        self.columns = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(5)]
        self.width = int(bounds[-1])  # of a row [obs, action, reward, next_obs, terminated], what add() takes
        self.storage = torch.zeros((members, self.capacity, self.width), device=self.device)
        self._host = self.storage.numpy() if self.device.type == "cpu" else None  # shares memory: no copy
        self.size = np.zeros(members, dtype=np.int64)
        self.pos = np.zeros(members, dtype=np.int64)
        self.added = np.zeros(members, dtype=np.int64)  # transitions ever added (the newest-data window)
        self.concurrent = concurrent
        self._member_index = torch.arange(members, device=self.device)[:, None]
        self.written: torch.cuda.Event | None = None  # concurrent readers' streams wait on the latest write

    def add(self, rows: np.ndarray | torch.Tensor, keep: np.ndarray) -> None:
        """Append ``rows[k, j]`` (``[K, n, row]``) to member k's buffer wherever ``keep[k, j]``."""
        kk, jj = np.nonzero(keep)
        if len(kk) == 0:
            return
        counts = keep.sum(1)
        slots = (self.pos[kk] + (np.cumsum(keep, 1) - 1)[kk, jj]) % self.capacity
        if self._host is not None and isinstance(rows, np.ndarray):
            self._host[kk, slots] = rows[kk, jj]
        else:
            rows = torch.as_tensor(rows, device=self.device)
            pick = torch.as_tensor(np.stack([kk, jj]), device=self.device)
            self.storage[pick[0], torch.as_tensor(slots, device=self.device)] = rows[pick[0], pick[1]]
            if self.concurrent and self.device.type == "cuda":
                event = torch.cuda.Event()
                event.record()
                self.written = event
        self.pos = (self.pos + counts) % self.capacity
        self.added = self.added + counts
        self.size = np.minimum(self.size + counts, self.capacity)  # last: readers see rows only once written

    def sample(self, counts: Sequence[int], generators: Sequence[np.random.Generator | torch.Generator]) -> Batch:
        """``counts[k]`` transitions of member k, uniformly over what it holds."""
        if isinstance(generators[0], torch.Generator):  # learner threads: indices drawn on the device
            if self.written is not None:
                torch.cuda.current_stream().wait_event(self.written)
            sizes = self.size
            idx = torch.stack([torch.randint(0, int(sizes[k]), (counts[k],), device=self.device, generator=g)
                               for k, g in enumerate(generators)])
            return self._gather(idx, counts)
        idx = np.zeros((self.members, max(counts)), dtype=np.int64)
        for k, (count, g) in enumerate(zip(counts, generators, strict=True)):
            if count:
                idx[k, :count] = g.integers(0, self.size[k], size=count)
        return self._gather(idx, counts)

    def newest(self, windows: Sequence[int], cap: int, generators: Sequence[np.random.Generator]) -> Batch:
        """Member k's ``windows[k]`` most recently added transitions (all of them, or ``cap`` of them drawn
        uniformly when there are more)."""
        counts = [min(w, cap) for w in windows]
        idx = np.zeros((self.members, max(max(counts), 1)), dtype=np.int64)
        for k, (w, count, g) in enumerate(zip(windows, counts, generators, strict=True)):
            back = np.arange(w) if count == w else g.integers(0, w, size=count)
            idx[k, :count] = (self.pos[k] - 1 - back) % self.capacity
        return self._gather(idx, counts)

    def _gather(self, idx: np.ndarray | torch.Tensor, counts: Sequence[int]) -> Batch:
        idx = torch.as_tensor(idx, device=self.device)
        rows = self.storage[self._member_index, idx]
        c = self.columns
        return Batch(obs=rows[..., c[0]], action=rows[..., c[1]], reward=rows[..., c[2].start],
                     next_obs=rows[..., c[3]], terminated=rows[..., c[4].start],
                     weight=member_weights(counts, idx.shape[1], self.device))

    def member_state(self, k: int) -> dict[str, Any]:
        """Member k's filled rows on the CPU, so a checkpoint early in a long run stays small."""
        size = int(self.size[k])
        return {"size": size, "pos": int(self.pos[k]), "added": int(self.added[k]),
                "storage": self.storage[k, :size].cpu()}

    def load_member_state(self, k: int, state: dict[str, Any]) -> None:
        self.size[k], self.pos[k], self.added[k] = int(state["size"]), int(state["pos"]), int(state["added"])
        self.storage[k, : self.size[k]] = state["storage"].to(self.device)

"""Adam and AdamW over member-stacked parameters, with one learning rate per member.

Written here because ``torch.optim`` takes one learning rate per parameter group, not one per slice
of a stacked tensor: the K members of a chunk live in the same tensors and differ in learning rate.
The update is torch's fused AdamW kernel (``torch._fused_adamw_``, what ``torch.optim.AdamW(fused=True)``
runs; decoupled weight decay, none for plain Adam), without amsgrad or maximize, called once per distinct
learning rate on the slices of the members that share it (on the whole tensors when all do).
``tests/test_agents_optim.py`` checks it against torch's own optimisers member by member.

Why the fused kernel rather than torch.optim's multi-tensor ("foreach") ops: those make eight passes over
every parameter, gradient and moment, one kernel each, and K members' 256-wide actors (2 MB per weight
matrix at K = 8) do not fit in the caches between passes; the fused kernel makes one. On one CPU thread it
took a K = 8 BRO actor step from 4.0 ms to 0.9 ms. The kernel pairs a parameter with its gradient in memory
order, so a gradient laid out otherwise is copied into the parameter's layout first; ``Linear`` keeps its
weights laid out as autograd hands over their gradients, so that copy is rare. Every tensor reaches the kernel as
a contiguous view of its memory (dimensions in memory order): on CPU the kernel copies a non-contiguous gradient
and then updates from the original anyway (torch 2.13), and that wasted transposed copy of K = 8 BRO members'
256-wide weights took 1-3 ms per matrix, a tenth of their update on an AVX-512 CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class Adam:
    """Adam on ``params`` (each ``[K, ...]``), ``lr`` one number or one per member; ``weight_decay`` is
    AdamW's decoupled decay. :meth:`step` takes the gradients (as ``torch.autograd.grad`` returns them)."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float | Sequence[float], *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        k = self.params[0].shape[0]
        lrs = [float(lr)] * k if isinstance(lr, int | float) else [float(x) for x in lr]
        # each learning rate's members as runs of neighbours: a sweep's chunk lists a learning rate's seeds together,
        # and the kernel pays per tensor, so it takes a run of members as one slice (a step of K = 8 SAC mini critics
        # with 2 learning rates took 8-10 times as long as with one when it took each member's slice alone)
        runs: dict[float, list[slice]] = {}
        for start, member_lr in enumerate(lrs):
            group = runs.setdefault(member_lr, [])
            if group and group[-1].stop == start:
                group[-1] = slice(group[-1].start, start + 1)
            else:
                group.append(slice(start, start + 1))
        self._groups = list(runs.items())  # all members sharing one: one slice, the whole tensors
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        # each group's parameters and moments as the kernel takes them, in memory order and sliced once: they are
        # updated in place
        self._orders = [_memory_order(p) for p in self.params]
        with torch.no_grad():
            self._state = [[_members(_in_order(ts, self._orders), group)
                            for ts in (self.params, self.exp_avg, self.exp_avg_sq)] for _, group in self._groups]
        self.step_count = 0
        self._step = torch.zeros((), device=self.params[0].device)  # the kernel reads the step from a tensor

    def step(self, grads: Sequence[torch.Tensor]) -> None:
        if torch.compiler.is_compiling():
            # traced by torch.compile: left out of the graph (a graph break, as around ``autograd.grad``). The fused
            # kernel is already one pass per tensor list, and torch 2.13's functionalisation refuses its in-place
            # update of tensors from outside the graph. Disabled here, not by a decorator: torch.compiler.disable
            # imports torch._dynamo, three seconds of every training process's start-up, and only a trace has it
            return torch.compiler.disable(Adam._step_eagerly)(self, grads)
        return self._step_eagerly(grads)

    @torch.no_grad()
    def _step_eagerly(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        self._step.fill_(self.step_count)
        # the kernel pairs a parameter with its gradient in memory order: a gradient laid out otherwise is copied
        grads = _in_order([g if g.stride() == p.stride() else torch.empty_like(p).copy_(g)
                           for p, g in zip(self.params, grads, strict=True)], self._orders)
        beta1, beta2 = self.betas
        for (lr, group), (params, exp_avg, exp_avg_sq) in zip(self._groups, self._state, strict=True):
            group_grads = _members(grads, group)
            torch._fused_adamw_(params, group_grads, exp_avg, exp_avg_sq, [], [self._step] * len(params), lr=lr,
                                beta1=beta1, beta2=beta2, weight_decay=self.weight_decay, eps=self.eps,
                                amsgrad=False, maximize=False)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step_count, "exp_avg": [t.clone() for t in self.exp_avg],
                "exp_avg_sq": [t.clone() for t in self.exp_avg_sq]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step"])
        with torch.no_grad():
            torch._foreach_copy_(self.exp_avg, [t.to(p.device) for t, p in zip(state["exp_avg"], self.params,
                                                                                  strict=True)])
            torch._foreach_copy_(self.exp_avg_sq, [t.to(p.device) for t, p in zip(state["exp_avg_sq"], self.params,
                                                                                     strict=True)])


def _members(tensors: Sequence[torch.Tensor], group: list[slice]) -> list[torch.Tensor]:
    """Each tensor's slices of the members in ``group`` (runs of members), tensor by tensor."""
    return [t[members] for t in tensors for members in group]


def _memory_order(t: torch.Tensor) -> list[int] | None:
    """The permutation of ``t``'s dimensions after the member dimension that makes it contiguous (None: it is): the
    elementwise update is the same on any view, and the member dimension stays first so that members slice alike."""
    order = [0, *sorted(range(1, t.dim()), key=lambda d: -t.stride(d))]
    return None if order == sorted(order) else order


def _in_order(tensors: Sequence[torch.Tensor], orders: Sequence[list[int] | None]) -> list[torch.Tensor]:
    """Each tensor as its contiguous view, at every step: a permute costs about 5 us, so only where one is needed."""
    return [t if order is None else t.permute(order) for t, order in zip(tensors, orders, strict=True)]

"""Adam and AdamW over member-stacked parameters, with one learning rate per member.

Written here because ``torch.optim`` takes one learning rate per parameter group, not one per slice
of a stacked tensor: the K members of a chunk live in the same tensors and differ in learning rate.
The update is torch.optim.Adam's (and AdamW's, with ``weight_decay``) multi-tensor ("foreach") update,
without amsgrad, maximize or capturable; ``tests/test_agents_optim.py`` checks it against torch's own
optimisers member by member. When every member has the same learning rate (a single run, or the
temperature's optimiser) the learning rate is a Python number, as in torch.
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
        lrs = [float(lr)] * self.params[0].shape[0] if isinstance(lr, int | float) else [float(x) for x in lr]
        if len(set(lrs)) == 1:
            self.lr: float | torch.Tensor = lrs[0]
        else:
            self.lr = torch.tensor(lrs, device=self.params[0].device)
            self._shapes = [(-1,) + (1,) * (p.dim() - 1) for p in self.params]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    def _per_param(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x.view(shape) for shape in self._shapes]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**self.step_count
        bias_correction2_sqrt = (1 - beta2**self.step_count) ** 0.5
        grads = list(grads)
        if self.weight_decay:
            if isinstance(self.lr, float):
                torch._foreach_mul_(self.params, 1 - self.lr * self.weight_decay)
            else:
                torch._foreach_mul_(self.params, self._per_param(1 - self.lr * self.weight_decay))
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        if isinstance(self.lr, float):
            torch._foreach_addcdiv_(self.params, self.exp_avg, denom, -self.lr / bias_correction1)
        else:
            update = torch._foreach_div(self.exp_avg, denom)
            torch._foreach_mul_(update, self._per_param(self.lr * (-1.0 / bias_correction1)))
            torch._foreach_add_(self.params, update)

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

"""AdamW and SGD on torch's fused kernels, without ``torch.optim``'s start-up cost.

Building any ``torch.optim`` optimizer imports ``torch._dynamo`` (its methods are wrapped to
keep the compiler out), which takes seconds: longer than training the fable. These classes
call the same fused kernels (``torch._fused_adamw_``, ``torch._fused_sgd_``) directly, and
read and write ``state_dict`` in ``torch.optim``'s own layout, so checkpoints written by
either resume with either.
"""

from __future__ import annotations

import torch

BETAS = (0.9, 0.999)
EPS = 1e-8


class FusedOptimizer:
    """What the trainer needs of an optimizer: param_groups (for the rate), step,
    zero_grad, state_dict and load_state_dict."""

    def __init__(self, params: list[torch.nn.Parameter], group: dict) -> None:
        self.params = list(params)
        self.param_groups = [{**group, "params": list(range(len(self.params)))}]
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {
            "state": {i: dict(slots) for i, slots in self.state.items()},
            "param_groups": [dict(group) for group in self.param_groups],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["state"]
        group = dict(state_dict["param_groups"][0])
        if len(group.get("params", [])) != len(self.params):
            raise ValueError("the saved optimizer is for a different number of weights")
        self.param_groups = [{**self.param_groups[0], **group}]
        self.state = {}
        for i, p in enumerate(self.params):
            slots = saved.get(i, saved.get(str(i)))
            if slots:
                self.state[i] = {
                    k: v.to(p.device) if k == "step" else v.to(p.device, p.dtype)
                    for k, v in slots.items()
                    if isinstance(v, torch.Tensor)
                }


class AdamW(FusedOptimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), fused."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        group = {
            "lr": lr,
            "betas": BETAS,
            "eps": EPS,
            "weight_decay": weight_decay,
            "amsgrad": False,
            "maximize": False,
            "foreach": None,
            "capturable": False,
            "differentiable": False,
            "fused": True,
            "decoupled_weight_decay": True,
        }
        super().__init__(params, group)

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params, grads, avgs, squares, steps = [], [], [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            slots = self.state.get(i)
            if not slots:
                slots = self.state[i] = {
                    "step": torch.zeros((), dtype=torch.float32, device=p.device),
                    "exp_avg": torch.zeros_like(p),
                    "exp_avg_sq": torch.zeros_like(p),
                }
            params.append(p)
            grads.append(p.grad)
            avgs.append(slots["exp_avg"])
            squares.append(slots["exp_avg_sq"])
            steps.append(slots["step"])
        if not params:
            return
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adamw_(
            params,
            grads,
            avgs,
            squares,
            [],
            steps,
            lr=float(group["lr"]),
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            amsgrad=False,
            maximize=False,
        )


class SGD(FusedOptimizer):
    """Plain SGD with weight decay, as pytorch/examples trains its LSTM."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        group = {
            "lr": lr,
            "momentum": 0,
            "dampening": 0,
            "weight_decay": weight_decay,
            "nesterov": False,
            "maximize": False,
            "foreach": None,
            "differentiable": False,
            "fused": True,
        }
        super().__init__(params, group)

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        params = [p for p in self.params if p.grad is not None]
        grads = [p.grad for p in params]
        if not params:
            return
        if group["weight_decay"]:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        torch._foreach_add_(params, grads, alpha=-float(group["lr"]))

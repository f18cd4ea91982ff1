"""AdamW and SGD on torch's fused kernels, without ``torch.optim``'s start-up cost.

Building any ``torch.optim`` optimizer imports ``torch._dynamo`` (its methods are wrapped to
keep the compiler out), which takes seconds: longer than training the fable. These classes
call the same fused kernels (``torch._fused_adamw_``, ``torch._fused_sgd_``) directly, and
read and write ``state_dict`` in ``torch.optim``'s own layout, so checkpoints written by
either resume with either.

A sparse gradient (an untied input embedding, ``nn.Embedding(sparse=True)``) is stepped
lazily: only the rows the batch read move, as in TensorFlow's LazyAdam and torch's
SparseAdam. On a 33k-word vocabulary a dense step reads and writes every row's weights and
moments each time, and that was a fifth of a training step on a CPU.
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

    def step(self) -> None:
        raise NotImplementedError  # AdamW and SGD below

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

    def __init__(
        self, params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
    ) -> None:
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
        params: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        avgs: list[torch.Tensor] = []
        squares: list[torch.Tensor] = []
        steps: list[torch.Tensor] = []
        beta1, beta2 = group["betas"]
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
            if p.grad.is_sparse:
                _lazy_adamw(p, p.grad, slots, float(group["lr"]), beta1, beta2, group)
                continue
            params.append(p)
            grads.append(p.grad)
            avgs.append(slots["exp_avg"])
            squares.append(slots["exp_avg_sq"])
            steps.append(slots["step"])
        if not params:
            return
        torch._foreach_add_(steps, 1)
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


def _lazy_adamw(
    p: torch.Tensor, grad: torch.Tensor, slots: dict, lr: float, beta1: float, beta2: float,
    group: dict,
) -> None:  # fmt: skip
    """AdamW on the rows a sparse gradient touches; the others keep their weights and moments.

    The same update as ``torch.optim.AdamW`` for each row read (its step count is the
    parameter's, so the bias correction is too); a row not read neither decays nor moves.
    """
    grad = grad.coalesce()  # each row once
    rows, values = grad.indices()[0], grad.values()  # [R], [R, dim]
    slots["step"] += 1
    step = float(slots["step"])
    avg = slots["exp_avg"][rows].mul_(beta1).add_(values, alpha=1 - beta1)
    square = slots["exp_avg_sq"][rows].mul_(beta2).addcmul_(values, values, value=1 - beta2)
    slots["exp_avg"][rows] = avg
    slots["exp_avg_sq"][rows] = square
    weights = p[rows].mul_(1 - lr * group["weight_decay"])
    denominator = (square / (1 - beta2**step)).sqrt_().add_(group["eps"])
    p[rows] = weights.addcdiv_(avg, denominator, value=-lr / (1 - beta1**step))


def clip_grad_norm_(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_`` that also takes sparse gradients (which torch's
    norm kernels do not); returns the total norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not any(g.is_sparse for g in grads):
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    for p in params:
        if p.grad is not None and p.grad.is_sparse:
            p.grad = p.grad.coalesce()  # each row once: the norm of its values is the norm
    grads = [p.grad for p in params if p.grad is not None]
    parts = [g._values() if g.is_sparse else g for g in grads]
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in parts]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    torch._foreach_mul_(parts, scale)
    return total


class SGD(FusedOptimizer):
    """Plain SGD with weight decay, as pytorch/examples trains its LSTM."""

    def __init__(
        self, params: list[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
    ) -> None:
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
        params: list[torch.Tensor] = [p for p in self.params if p.grad is not None]
        grads = [g for p in params if (g := p.grad) is not None]  # every one of them
        if not params:
            return
        if group["weight_decay"]:
            grads = list(torch._foreach_add(grads, params, alpha=group["weight_decay"]))
        torch._foreach_add_(params, grads, alpha=-float(group["lr"]))

"""The optimizers: torch.optim's update and state layout, and lazy steps on sparse rows."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_tui.core.training.optim import AdamW, clip_grad_norm_


def _pair(rows: int = 6, dim: int = 4) -> tuple[torch.nn.Embedding, torch.nn.Embedding]:
    torch.manual_seed(0)
    dense = torch.nn.Embedding(rows, dim)
    sparse = torch.nn.Embedding(rows, dim, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    return dense, sparse


def _backward(table: torch.nn.Embedding, tokens: torch.Tensor, seed: int) -> None:
    torch.manual_seed(seed)
    target = torch.randn(*tokens.shape, table.embedding_dim)
    ((table(tokens) - target) ** 2).sum().backward()


def test_a_sparse_step_is_adamw_when_every_row_is_read() -> None:
    dense, sparse = _pair()
    tokens = torch.tensor([[0, 1, 2, 3, 4, 5, 2, 2]])  # every row, some twice
    dense_opt = AdamW(list(dense.parameters()), lr=0.01, weight_decay=0.1)
    sparse_opt = AdamW(list(sparse.parameters()), lr=0.01, weight_decay=0.1)
    for step in range(4):
        for table, opt in ((dense, dense_opt), (sparse, sparse_opt)):
            opt.zero_grad()
            _backward(table, tokens, seed=step)
            opt.step()
    assert sparse.weight.grad is None or sparse.weight.grad.is_sparse
    torch.testing.assert_close(sparse.weight, dense.weight, rtol=1e-5, atol=1e-6)
    for slot in ("exp_avg", "exp_avg_sq", "step"):  # torch.optim's layout, resumable by either
        torch.testing.assert_close(sparse_opt.state[0][slot], dense_opt.state[0][slot])


def test_a_sparse_step_leaves_the_rows_not_read_alone() -> None:
    _, sparse = _pair()
    opt = AdamW(list(sparse.parameters()), lr=0.01, weight_decay=0.1)
    before = sparse.weight.detach().clone()
    _backward(sparse, torch.tensor([[1, 4, 4]]), seed=1)
    opt.step()
    moved = (sparse.weight != before).any(-1)
    assert moved.tolist() == [False, True, False, False, True, False]
    untouched = torch.tensor([0, 2, 3, 5])
    assert not opt.state[0]["exp_avg"][untouched].any()  # no decay, no moment, no move


def test_clipping_sparse_and_dense_gradients_together_is_torchs() -> None:
    dense, sparse = _pair()
    linear = torch.nn.Linear(4, 3)
    expected_linear = torch.nn.Linear(4, 3)
    expected_linear.load_state_dict(linear.state_dict())
    tokens = torch.tensor([[0, 3, 3, 5]])
    linear(sparse(tokens)).pow(2).sum().backward()
    expected_linear(dense(tokens)).pow(2).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(
        [*dense.parameters(), *expected_linear.parameters()], 0.5
    )
    total = clip_grad_norm_([*sparse.parameters(), *linear.parameters()], 0.5)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(sparse.weight.grad.to_dense(), dense.weight.grad)
    torch.testing.assert_close(linear.weight.grad, expected_linear.weight.grad)
    unclipped = clip_grad_norm_([*sparse.parameters(), *linear.parameters()], math.inf)
    assert unclipped.item() == pytest.approx(0.5, rel=1e-4)  # already clipped to 0.5

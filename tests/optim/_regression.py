"""A small least-squares problem for convergence tests of optimizers without a torch oracle."""

from __future__ import annotations

from collections.abc import Callable

import torch


def regression_loss_ratio(make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
                          steps: int = 200) -> float:
    """Fit a linear model to noisy synthetic linear data, full batch, for ``steps`` steps; return
    the initial loss divided by the final loss."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(128, 8, generator=generator)
    true_weight = torch.randn(8, 1, generator=generator)
    targets = inputs @ true_weight + 0.5 + 0.01 * torch.randn(128, 1, generator=generator)
    model = torch.nn.Linear(8, 1)
    with torch.no_grad():
        model.weight.copy_(0.1 * torch.randn(1, 8, generator=generator))
        model.bias.fill_(0.1)
    optimizer = make_optimizer(list(model.parameters()))

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(model(inputs), targets)

    initial = loss().item()
    for _ in range(steps):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    return initial / loss().item()

"""Muon beyond the generic database tests: the Newton–Schulz iteration against an SVD, the
learning-rate adjustment, 2-D only, and torch's handling of bfloat16 and Tensor lr."""

from __future__ import annotations

import math

import pytest
import torch

from optimkit.optim import Muon
from optimkit.optim.muon import adjusted_lr, newton_schulz
from tests._harness import assert_params_close, drive_in_lockstep, random_params, seeded_grads, twin_params

#: Parameters and gradients are drawn in float32 and cast (to bfloat16 as well).
_GRADS = seeded_grads(2000, draw_dtype=torch.float32)


def _matrices(shapes: tuple[tuple[int, int], ...] = ((6, 4), (3, 5)),
              dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    return random_params(shapes, dtype, draw_dtype=torch.float32)


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (6, 6)])
def test_newton_schulz_approaches_the_orthogonal_polar_factor(shape: tuple[int, int]) -> None:
    """With the classic cubic coefficients (1.5, -0.5, 0) the iteration converges to U V^T
    (from the SVD G = U S V^T), up to bfloat16 precision."""
    g = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    result = newton_schulz(g, (1.5, -0.5, 0.0), 60, 1e-7)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    assert result.dtype == torch.bfloat16 and result.shape == g.shape
    torch.testing.assert_close(result.double(), u @ vh, rtol=0, atol=0.05)


def test_default_quintic_puts_singular_values_near_one() -> None:
    g = torch.randn(16, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    result = newton_schulz(g, (3.4445, -4.7750, 2.0315), 5, 1e-7)
    singular_values = torch.linalg.svdvals(result.double())
    # Keller Jordan's coefficients trade exactness for speed: roughly within (0.5, 1.5).
    assert singular_values.min() > 0.5 and singular_values.max() < 1.5


def test_newton_schulz_rejects_what_torch_rejects() -> None:
    g = torch.randn(3, 3)
    with pytest.raises(ValueError, match="Number of steps must be less than 100 for computational efficiency"):
        newton_schulz(g, (1.0, 0.0, 0.0), 100, 1e-7)
    with pytest.raises(ValueError, match="Input tensor gradient must be a 2D matrix"):
        newton_schulz(torch.randn(3), (1.0, 0.0, 0.0), 5, 1e-7)
    with pytest.raises(ValueError, match="Coefficients must be a tuple of exactly 3 values"):
        newton_schulz(g, (1.0, 0.0), 5, 1e-7)  # type: ignore[arg-type]


def test_adjusted_learning_rates() -> None:
    assert adjusted_lr(0.1, None, torch.Size([8, 2])) == pytest.approx(0.1 * 2.0)  # sqrt(8 / 2)
    assert adjusted_lr(0.1, "original", torch.Size([2, 8])) == pytest.approx(0.1)  # wide: no boost
    assert adjusted_lr(0.1, "match_rms_adamw", torch.Size([2, 9])) == pytest.approx(0.1 * 0.2 * 3.0)


def test_update_is_the_scaled_orthogonalised_gradient() -> None:
    """With no momentum carried over (momentum 0, no Nesterov) and no decay, one step moves the
    weights by -adjusted_lr * NS(g): nothing else enters."""
    (w,) = _matrices(((6, 3),))
    before = w.detach().clone()
    grad = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    w.grad = grad
    Muon([w], lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0).step()
    ortho = newton_schulz(grad, (3.4445, -4.7750, 2.0315), 5, 1e-7)
    expected = before - 0.1 * math.sqrt(6 / 3) * ortho.double()
    torch.testing.assert_close(w.detach(), expected, rtol=1e-12, atol=1e-14)


def test_only_matrices_are_accepted_like_torch() -> None:
    for cls in (Muon, torch.optim.Muon):
        with pytest.raises(ValueError, match=r"Muon only supports 2D parameters whereas we found a parameter "
                                             r"with size: torch.Size\(\[3\]\)"):
            cls([torch.zeros(3, 3, requires_grad=True), torch.zeros(3, requires_grad=True)])


def test_a_vector_added_later_fails_at_step_like_torch() -> None:
    for cls in (Muon, torch.optim.Muon):
        w, b = torch.zeros(3, 3, requires_grad=True), torch.zeros(3, requires_grad=True)
        opt = cls([w])
        opt.add_param_group({"params": [b]})
        w.grad, b.grad = torch.ones(3, 3), torch.ones(3)
        with pytest.raises(ValueError, match="Param gradient must be a 2D matrix"):
            opt.step()


def test_complex_and_sparse_are_rejected_like_torch() -> None:
    for cls in (Muon, torch.optim.Muon):
        z = torch.zeros(3, 2, dtype=torch.complex64, requires_grad=True)
        z.grad = torch.ones_like(z)
        with pytest.raises(RuntimeError, match="Muon does not support complex parameters"):
            cls([z]).step()
        w = torch.zeros(4, 2, requires_grad=True)
        w.grad = torch.eye(4, 2).to_sparse()
        with pytest.raises(RuntimeError, match="Muon does not support sparse gradients"):
            cls([w]).step()


@pytest.mark.parametrize("nesterov", [True, False])
def test_bfloat16_parameters_equal_torch(nesterov: bool) -> None:
    """In bfloat16 torch's cast is a no-op, so without Nesterov the buffer itself is normalised in
    place; the trajectory and the buffers must still be torch's."""
    ours_params, theirs_params = twin_params([(6, 4), (3, 5)], torch.bfloat16, draw_dtype=torch.float32)
    ours = Muon(ours_params, lr=0.02, nesterov=nesterov)
    theirs = torch.optim.Muon(theirs_params, lr=0.02, nesterov=nesterov)
    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 4, _GRADS)
    for a, b in zip(ours_params, theirs_params):
        assert torch.equal(a, b)
        assert torch.equal(ours.state[a]["momentum_buffer"], theirs.state[b]["momentum_buffer"])


def test_tensor_lr_equals_torch() -> None:
    ours_params, theirs_params = twin_params([(6, 4), (3, 5)], draw_dtype=torch.float32)
    ours = Muon(ours_params, lr=torch.tensor(0.02))  # type: ignore[arg-type]
    theirs = torch.optim.Muon(theirs_params, lr=torch.tensor(0.02))
    drive_in_lockstep((ours, theirs), (ours_params, theirs_params), 4, _GRADS)
    assert_params_close(ours_params, theirs_params)


def test_tensor_lr_must_have_one_element() -> None:
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        Muon(_matrices(), lr=torch.tensor([0.1, 0.2]))  # type: ignore[arg-type]


def test_state_and_sparsity_names() -> None:
    params = _matrices()
    opt = Muon(params)
    assert opt.state_names_to_sparsify() == ["momentum_buffer"]
    opt.preinitialize()
    assert all(opt.state[p]["momentum_buffer"].shape == p.shape for p in params)

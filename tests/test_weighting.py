import pytest
import torch

from remul.weighting import ConstantWeighting, GradNormWeighting, make_weighting


def _tiny():
    torch.manual_seed(0)
    lin1 = torch.nn.Linear(3, 4)
    head = torch.nn.Linear(4, 2)
    x = torch.randn(8, 3)
    h = torch.tanh(lin1(x))
    out = head(h)
    l_task = (out[:, 0] - 1).pow(2).mean()
    l_equi = (out[:, 1] + 0.5).abs().mean()
    return head, l_task, l_equi


def test_gradnorm_step_matches_algorithm_1_by_hand():
    alpha0, beta0, gamma, eta = 0.7, 1.3, 1.5, 0.1
    head, l_task, l_equi = _tiny()
    gn = GradNormWeighting(alpha0, beta0, gamma, eta)
    total = gn.total(l_task, l_equi, head.weight)
    # the model's loss uses the weights before the update
    assert total.item() == pytest.approx(alpha0 * l_task.item() + beta0 * l_equi.item())

    # Algorithm 1 by hand, with autograd through the weights w
    w = torch.tensor([alpha0, beta0], dtype=torch.float64, requires_grad=True)
    g1 = torch.autograd.grad(l_task, head.weight, retain_graph=True)[0].double()
    g2 = torch.autograd.grad(l_equi, head.weight, retain_graph=True)[0].double()
    G = torch.stack([(w[0] * g1).norm(), (w[1] * g2).norm()])
    L = torch.tensor([l_task.item(), l_equi.item()], dtype=torch.float64)
    L0 = L.clone()  # first step: ratios against the first step's losses
    r = (L / L0) / (L / L0).mean()
    target = (G.mean() * r**gamma).detach()
    l_grad = (G - target).abs().sum()
    (dw,) = torch.autograd.grad(l_grad, w)
    w_new = (w.detach() - eta * dw).clamp_min(1e-6)
    w_new = w_new * (alpha0 + beta0) / w_new.sum()
    assert gn.alpha == pytest.approx(w_new[0].item(), rel=1e-6)
    assert gn.beta == pytest.approx(w_new[1].item(), rel=1e-6)
    assert gn.alpha + gn.beta == pytest.approx(alpha0 + beta0)


def test_gradnorm_second_step_uses_first_losses_and_stays_positive():
    gn = GradNormWeighting(1.0, 1.0, gamma=1.0, eta=100.0)
    gn.step(torch.tensor([1.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.1]).double())
    # the task gradient is larger, so its weight shrinks; a huge eta keeps it positive
    assert 0 < gn.alpha < gn.beta
    assert gn.alpha + gn.beta == pytest.approx(2.0)
    l0 = gn.l0.clone()
    gn.step(torch.tensor([0.5, 2.0], dtype=torch.float64), torch.tensor([1.0, 1.0]).double())
    assert torch.equal(gn.l0, l0)
    state = gn.state_dict()
    gn2 = GradNormWeighting(1.0, 1.0, 1.0, 100.0)
    gn2.load_state_dict(state)
    assert gn2.alpha == gn.alpha and torch.equal(gn2.l0, l0)


def test_gradnorm_balances_gradient_norms():
    """Repeated steps drive w_i * n_i towards equal gradient norms when losses fall equally."""
    gn = GradNormWeighting(1.0, 1.0, gamma=0.0, eta=0.005)
    n = torch.tensor([2.0, 0.5], dtype=torch.float64)
    for _ in range(2000):
        gn.step(torch.tensor([1.0, 1.0], dtype=torch.float64), n)
    G = gn.w * n
    assert abs(G[0] - G[1]) < 0.1


@pytest.mark.parametrize("mode,ab", [
    ("augmentation", (0.0, 1.0)), ("none", (1.0, 0.0)), ("constant", (0.3, 2.0)),
])
def test_modes(mode, ab):
    w = make_weighting({"mode": mode, "alpha": 0.3, "beta": 2.0, "gamma": 1, "eta": 1})
    assert isinstance(w, ConstantWeighting)
    assert (w.alpha, w.beta) == ab
    assert w.need_task == (ab[0] > 0) and w.need_equi == (ab[1] > 0)

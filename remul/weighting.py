"""Loss weighting: constant (Eq. 7), GradNorm (paper Algorithm 1), augmentation, none.

Each weighting turns (L_task, L_equi) into the total loss for the model's backward pass and
keeps (alpha, beta) up to date. GradNorm (Chen et al. 2018): with G_i = ||grad_W w_i L_i|| on the
model's last-layer weight W, r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0)) (ratios against the
first step's losses) and the constant target T_i = mean_j G_j * r_i ** gamma, the weights take a
gradient step of size eta on L_grad = sum_i |G_i - T_i|, are kept positive, and are renormalised
so that alpha + beta keeps its initial sum.
"""

from __future__ import annotations

import torch


class ConstantWeighting:
    """Fixed alpha, beta. Augmentation is (0, 1) and plain training (1, 0)."""

    def __init__(self, alpha: float, beta: float):
        self.alpha, self.beta = float(alpha), float(beta)

    @property
    def need_task(self) -> bool:
        return self.alpha > 0

    @property
    def need_equi(self) -> bool:
        return self.beta > 0

    def total(self, l_task, l_equi, last_weight=None) -> torch.Tensor:
        return self.alpha * l_task + self.beta * l_equi

    def state_dict(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta}

    def load_state_dict(self, state: dict) -> None:
        self.alpha, self.beta = float(state["alpha"]), float(state["beta"])


class GradNormWeighting:
    """GradNorm over the two losses; see the module docstring."""

    need_task = True
    need_equi = True

    def __init__(self, alpha: float, beta: float, gamma: float, eta: float, min_weight=1e-6):
        self.w = torch.tensor([float(alpha), float(beta)], dtype=torch.float64)
        self.initial_sum = float(alpha) + float(beta)
        self.gamma, self.eta, self.min_weight = float(gamma), float(eta), float(min_weight)
        self.l0: torch.Tensor | None = None

    @property
    def alpha(self) -> float:
        return float(self.w[0])

    @property
    def beta(self) -> float:
        return float(self.w[1])

    def total(self, l_task, l_equi, last_weight: torch.Tensor) -> torch.Tensor:
        """The model's loss with the current weights; then one GradNorm step on the weights."""
        losses = torch.stack([l_task, l_equi])
        w = self.w.to(losses.device, losses.dtype)
        total = (w * losses).sum()
        grads = [
            torch.autograd.grad(li, last_weight, retain_graph=True, allow_unused=True)[0]
            for li in (l_task, l_equi)
        ]
        norms = torch.stack(
            [g.norm() if g is not None else losses.new_zeros(()) for g in grads]
        ).detach().to(torch.float64).cpu()
        self.step(losses.detach().to(torch.float64).cpu(), norms)
        return total

    def step(self, losses: torch.Tensor, grad_norms: torch.Tensor) -> None:
        """One update of the weights from the losses (2,) and ||grad_W L_i|| (2,), float64."""
        if self.l0 is None:
            self.l0 = losses.clamp_min(1e-12).clone()
        G = self.w * grad_norms
        ratio = losses / self.l0
        r = ratio / ratio.mean().clamp_min(1e-12)
        target = G.mean() * r**self.gamma
        grad_w = torch.sign(G - target) * grad_norms  # d/dw_i sum_j |w_j n_j - T_j|
        w = (self.w - self.eta * grad_w).clamp_min(self.min_weight)
        self.w = w * (self.initial_sum / w.sum())

    def state_dict(self) -> dict:
        return {"w": self.w.clone(), "l0": None if self.l0 is None else self.l0.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.w = state["w"].to(torch.float64)
        self.l0 = None if state["l0"] is None else state["l0"].to(torch.float64)


def make_weighting(cfg: dict):
    """The weighting for a resolved config (see :mod:`remul.config`)."""
    mode = cfg["mode"]
    if mode == "gradnorm":
        return GradNormWeighting(cfg["alpha"], cfg["beta"], cfg["gamma"], cfg["eta"])
    if mode == "augmentation":
        return ConstantWeighting(0.0, 1.0)
    if mode == "none":
        return ConstantWeighting(1.0, 0.0)
    return ConstantWeighting(cfg["alpha"], cfg["beta"])

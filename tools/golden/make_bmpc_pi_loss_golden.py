#!/usr/bin/python3
"""Golden file for BMPC's policy loss and its gradient (lucid tests/agents_bmpc).

Written for lucid from facts/tdmpc2.md §2 (not the official code): the policy head's raw outputs
(mu, x) map to BMPC's Gaussian, mean = tanh(mu), log_std = lmin + (lmax - lmin)(tanh(x) + 1)/2;
per row the KL(N(mean, std) || N(expert mean, expert std)) averaged over action dims; a
RunningScale S lerped (tau) towards max(P95 - P5 of step 0's detached KL, 1); the loss
mean_t rho^t mean_b (KL / S - entropy_coef * scaled_entropy), scaled_entropy = -lp * (lp A /
(lp + 1e-8)) with lp the Gaussian log-prob of the noise eps (TD-MPC2's formula, no squash term).
PyTorch autograd gives d loss / d outputs.

Inputs come from a seeded NumPy generator and are stored in full (the problem is small), so the
C++ test reads them instead of rebuilding them.

Usage: /usr/bin/python3 tools/golden/make_bmpc_pi_loss_golden.py tests/agents_bmpc/golden/bmpc_pi_loss.json
"""
import json
import math
import sys

import numpy as np
import torch

STEPS, B, A = 4, 6, 3  # (H + 1) steps, batch, action dims
LMIN, LMAX, RHO, COEF, TAU, SCALE0 = -3.0, 1.0, 0.5, 1e-4, 0.01, 1.3


def percentile(x, p):
    """RunningScale's percentile: linear interpolation between sorted neighbours."""
    s, _ = torch.sort(x)
    pos = p * (x.numel() - 1) / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, x.numel() - 1)
    w = pos - lo
    return s[lo] * (1.0 - w) + s[hi] * w


def main(path):
    rng = np.random.default_rng(7)
    R = STEPS * B
    out = rng.normal(0.0, 1.0, size=(R, 2 * A)).astype(np.float32)
    eps = rng.normal(0.0, 1.0, size=(R, A)).astype(np.float32)
    exp_mean = rng.uniform(-0.95, 0.95, size=(R, A)).astype(np.float32)
    exp_std = rng.uniform(0.05, 2.0, size=(R, A)).astype(np.float32)
    exp_std[:B // 2] = 1.0  # seed-data rows: N(0, 1)
    exp_mean[:B // 2] = 0.0
    expert = np.concatenate([exp_mean, exp_std], axis=1)

    o = torch.tensor(out, requires_grad=True)
    e = torch.tensor(eps)
    me, se = torch.tensor(exp_mean), torch.tensor(exp_std)
    mu, x = o[:, :A], o[:, A:]
    mean = torch.tanh(mu)
    log_std = LMIN + 0.5 * (LMAX - LMIN) * (torch.tanh(x) + 1.0)
    std = torch.exp(log_std)
    kl = (torch.log(se) - log_std + (std ** 2 + (mean - me) ** 2) / (2.0 * se ** 2) - 0.5).mean(dim=1)
    spread = torch.clamp(percentile(kl[:B].detach(), 95.0) - percentile(kl[:B].detach(), 5.0), min=1.0)
    scale = SCALE0 + TAU * (spread - SCALE0)
    lp = (-0.5 * e ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=1)
    scaled_entropy = -lp * (lp * A / (lp + 1e-8))
    rho = torch.tensor([RHO ** t for t in range(STEPS)]).repeat_interleave(B)
    loss = (rho * (kl / scale - COEF * scaled_entropy)).mean()
    loss.backward()
    golden = {
        "config": {"steps": STEPS, "batch": B, "action_dim": A, "log_std_min": LMIN, "log_std_max": LMAX,
                   "rho": RHO, "entropy_coef": COEF, "tau": TAU, "scale_in": SCALE0},
        "out": out.reshape(-1).tolist(),
        "eps": eps.reshape(-1).tolist(),
        "expert": expert.reshape(-1).tolist(),
        "loss": loss.item(),
        "kl_mean": kl.mean().item(),
        "entropy_mean": scaled_entropy.mean().item(),
        "scale_out": scale.item(),
        "spread": spread.item(),
        "dout": o.grad.reshape(-1).tolist(),
    }
    with open(path, "w") as f:
        json.dump(golden, f)
    print(f"wrote {path}: loss {loss.item():.6g}, scale {scale.item():.6g} (spread {spread.item():.4g})")


if __name__ == "__main__":
    main(sys.argv[1])

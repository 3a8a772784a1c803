#!/usr/bin/python3
"""Golden file for one BMPC update step (lucid tests/agents_bmpc).

Written for lucid from facts/tdmpc2.md §2 on top of the TD-MPC2 generator beside it
(make_tdmpc2_update_golden.py: same closed-form inputs, MLP, two-hot and percentile helpers): the
1M-preset BMPC model (two V(z) heads, log_std in [-3, 1]), the model-based one-step TD target
R(z, pi(z)) + gamma * mean of the target V heads at d(z, pi(z)) from the encoded real latents
obs[0..H-1], the TD-MPC2 model losses with the V heads, the KL imitation policy loss (KL to a
given expert averaged over action dims, divided by a RunningScale of step 0's KL, minus 1e-4 x
scaled entropy, rho-weighted), two Adam optimizers, grad clipping and the target-V EMA.

Every input is a closed-form deterministic array (parameters, experts and the "random" choices
included), so the C++ test rebuilds the same inputs from the same formulas.

Usage: /usr/bin/python3 tools/golden/make_bmpc_update_golden.py tests/agents_bmpc/golden/bmpc_update_1m.json
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)

# Problem size: the 1M preset with tiny observation/action spaces and batch 4.
OBS, ACT, B, H = 5, 2, 4, 3
ENC, MLP, LAT, NQ = 256, 384, 128, 2
BINS, VMIN, VMAX = 101, -10.0, 10.0
RHO, GAMMA, TAU, LR, ENC_LR_SCALE = 0.5, 0.99, 0.01, 3e-4, 0.3
COEF_CONS, COEF_REW, COEF_VAL, ENTROPY_COEF, CLIP = 20.0, 0.1, 0.1, 1e-4, 20.0
LOG_STD_MIN, LOG_STD_MAX, DROPOUT = -3.0, 1.0, 0.01


def wave(n, freq, phase, amp=1.0, offset=0.0):
    i = np.arange(n, dtype=np.float64)
    return torch.from_numpy((offset + amp * np.sin(freq * i + phase)).astype(np.float32))


def layout():
    """(name, shape, kind) in lucid's arena order."""
    entries = []

    def mlp(prefix, dims, norm_out):
        for i in range(len(dims) - 1):
            entries.append((f"{prefix}.{i}.weight", (dims[i + 1], dims[i]), "w"))
            entries.append((f"{prefix}.{i}.bias", (dims[i + 1],), "b"))
            if i < len(dims) - 2 or norm_out:
                entries.append((f"{prefix}.{i}.ln.weight", (dims[i + 1],), "g"))
                entries.append((f"{prefix}.{i}.ln.bias", (dims[i + 1],), "be"))

    za = LAT + ACT
    mlp("encoder", [OBS, ENC, LAT], True)
    mlp("dynamics", [za, MLP, MLP, LAT], True)
    mlp("reward", [za, MLP, MLP, BINS], False)
    for q in range(NQ):
        mlp(f"Vs.{q}", [LAT, MLP, MLP, BINS], False)
    mlp("pi", [LAT, MLP, MLP, 2 * ACT], False)
    return entries


# Larger weights in a few layers so that latents differ across the batch, the V heads' softmax is
# far from uniform and the KL spread exceeds the scale's floor of 1.
WEIGHT_GAIN = {"encoder.0.weight": 6.0, "encoder.1.weight": 6.0, "Vs.0.2.weight": 40.0, "Vs.1.2.weight": 40.0,
               "reward.2.weight": 20.0, "pi.2.weight": 8.0}


def init_param(k, name, shape, kind):
    n = int(np.prod(shape))
    if kind == "w":
        gain = WEIGHT_GAIN.get(name, 1.0)
        t = wave(n, 0.37, 1.3 * k + 0.1, amp=gain / math.sqrt(shape[1]))
    elif kind == "b":
        t = wave(n, 0.91, float(k), amp=0.05)
    elif kind == "g":
        t = wave(n, 0.53, float(k), amp=0.1, offset=1.0)
    else:
        t = wave(n, 0.71, float(k), amp=0.05)
    return t.reshape(shape)


def masks(n, mult, add, mod):
    i = np.arange(n, dtype=np.int64)
    keep = np.float32(1.0 / (1.0 - DROPOUT))
    return torch.from_numpy(np.where((i * mult + add) % mod == 0, np.float32(0.0), keep).astype(np.float32))


def mlp_fwd(P, prefix, x, n_layers, simnorm_out, mask=None):
    for i in range(n_layers):
        w, b = P[f"{prefix}.{i}.weight"], P[f"{prefix}.{i}.bias"]
        h = x @ w.t() + b
        if i == 0 and mask is not None:
            h = h * mask
        last = i == n_layers - 1
        if not last or simnorm_out:
            h = F.layer_norm(h, (h.shape[-1],), P[f"{prefix}.{i}.ln.weight"], P[f"{prefix}.{i}.ln.bias"], 1e-5)
            if not last:
                h = F.mish(h)
            else:
                shp = h.shape
                h = F.softmax(h.reshape(*shp[:-1], -1, 8), dim=-1).reshape(shp)
        x = h
    return x


def symlog(x):
    return torch.sign(x) * torch.log(1 + torch.abs(x))


def symexp(x):
    return torch.sign(x) * (torch.exp(torch.abs(x)) - 1)


def two_hot(x):
    bin_size = (VMAX - VMIN) / (BINS - 1)
    x = torch.clamp(symlog(x), VMIN, VMAX).reshape(-1)
    idx = torch.floor((x - VMIN) / bin_size)
    off = ((x - VMIN) / bin_size - idx).unsqueeze(-1)
    out = torch.zeros(x.shape[0], BINS)
    idx = idx.long()
    out = out.scatter(1, idx.unsqueeze(1), 1 - off)
    out = out.scatter(1, (idx.unsqueeze(1) + 1) % BINS, off)
    return out


def two_hot_inv(logits):
    bins = torch.linspace(VMIN, VMAX, BINS)
    return symexp(torch.sum(F.softmax(logits, dim=-1) * bins, dim=-1, keepdim=True))


def soft_ce(logits, target):
    return -(two_hot(target) * F.log_softmax(logits, dim=-1)).sum(-1, keepdim=True)


def pi_dist(P, z):
    """BMPC's policy: mean tanh(mu), log_std squashed into [LOG_STD_MIN, LOG_STD_MAX]."""
    out = mlp_fwd(P, "pi", z, 3, False)
    mu, ls = out.chunk(2, dim=-1)
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(ls) + 1)
    return torch.tanh(mu), log_std


def pi_action(P, z, eps):
    mean, log_std = pi_dist(P, z)
    return torch.clamp(mean + eps * log_std.exp(), -1.0, 1.0)


def percentile(x, pcts):
    n = x.shape[0]
    s = torch.sort(x.reshape(-1)).values
    out = []
    for p in pcts:
        pos = torch.tensor(p, dtype=torch.float32) * (n - 1) / 100
        lo = torch.floor(pos)
        hi = torch.clamp(lo + 1, max=n - 1)
        w = pos - lo
        out.append(s[lo.long()] * (1 - w) + s[hi.long()] * w)
    return out


def samples_idx(n):
    return sorted(set([0, 1 % n, n // 7, n // 3, n // 2, n - 1]))


def main(path):
    entries = layout()
    P = {}
    for k, (name, shape, kind) in enumerate(entries):
        P[name] = init_param(k, name, shape, kind).requires_grad_(True)
    v_names = [e[0] for e in entries if e[0].startswith("Vs.")]
    v_flat = torch.cat([P[n].detach().reshape(-1) for n in v_names])
    target_flat = v_flat + wave(v_flat.numel(), 0.29, 0.0, amp=0.01)
    T = {}
    off = 0
    for n in v_names:
        T[n] = target_flat[off:off + P[n].numel()].reshape(P[n].shape).clone()
        off += P[n].numel()

    obs = wave((H + 1) * B * OBS, 0.61, 0.2, amp=1.5).reshape(H + 1, B, OBS)
    action = wave(H * B * ACT, 0.83, 0.5, amp=0.9).reshape(H, B, ACT)
    reward = wave(H * B, 1.07, 0.0, amp=3.0, offset=1.0).reshape(H, B, 1)
    td_eps = wave(H * B * ACT, 1.71, 0.4, amp=1.3).reshape(H, B, ACT)
    pi_eps = wave((H + 1) * B * ACT, 1.37, 0.9, amp=1.1).reshape(H + 1, B, ACT)
    v_masks = masks(NQ * H * B * MLP, 7919, 3, 97).reshape(NQ, H, B, MLP)
    exp_mean = wave((H + 1) * B * ACT, 0.47, 0.3, amp=0.8).reshape(H + 1, B, ACT)
    exp_std = wave((H + 1) * B * ACT, 0.59, 1.1, amp=0.7, offset=0.9).reshape(H + 1, B, ACT)

    def V(params, head, z, mask=None):
        sub = {n.replace(f"Vs.{head}.", "v."): v for n, v in params.items() if n.startswith(f"Vs.{head}.")}
        return mlp_fwd(sub, "v", z, 3, False, mask)

    # 1. Model-based one-step TD targets from the encoded real latents.
    with torch.no_grad():
        next_z = mlp_fwd(P, "encoder", obs[1:], 2, True)
        z_real = mlp_fwd(P, "encoder", obs[:-1], 2, True)
        a = pi_action(P, z_real, td_eps)
        r_hat = two_hot_inv(mlp_fwd(P, "reward", torch.cat([z_real, a], -1), 3, False))
        z_next = mlp_fwd(P, "dynamics", torch.cat([z_real, a], -1), 3, True)
        v_next = (two_hot_inv(V(T, 0, z_next)) + two_hot_inv(V(T, 1, z_next))) / 2
        td = r_hat + GAMMA * v_next

    # 2-3. Model losses.
    z = mlp_fwd(P, "encoder", obs[0], 2, True)
    zs = [z]
    cons = 0
    for t in range(H):
        z = mlp_fwd(P, "dynamics", torch.cat([z, action[t]], -1), 3, True)
        cons = cons + F.mse_loss(z, next_z[t]) * RHO**t
        zs.append(z)
    _zs = torch.stack(zs[:-1])
    rew_logits = mlp_fwd(P, "reward", torch.cat([_zs, action], -1), 3, False)
    vs = [V(P, q, _zs, v_masks[q]) for q in range(NQ)]
    rew_loss, val_loss = 0, 0
    for t in range(H):
        rew_loss = rew_loss + soft_ce(rew_logits[t], reward[t]).mean() * RHO**t
        for q in range(NQ):
            val_loss = val_loss + soft_ce(vs[q][t], td[t]).mean() * RHO**t
    cons, rew_loss, val_loss = cons / H, rew_loss / H, val_loss / (H * NQ)
    total = COEF_CONS * cons + COEF_REW * rew_loss + COEF_VAL * val_loss
    total.backward()
    model_names = [e[0] for e in entries if not e[0].startswith("pi.")]
    pi_names = [e[0] for e in entries if e[0].startswith("pi.")]
    grads = {n: P[n].grad.detach().clone() for n in model_names}
    grad_norm = torch.nn.utils.clip_grad_norm_([P[n] for n in model_names], CLIP)
    enc_names = [n for n in model_names if n.startswith("encoder.")]
    rest = [n for n in model_names if not n.startswith("encoder.")]
    optim = torch.optim.Adam([{"params": [P[n] for n in enc_names], "lr": LR * ENC_LR_SCALE},
                              {"params": [P[n] for n in rest]}], lr=LR)
    optim.step()

    # 5. Policy: KL to the expert on the detached latents.
    zs_d = torch.stack(zs).detach()
    mean, log_std = pi_dist(P, zs_d)
    std = log_std.exp()
    kl = (torch.log(exp_std) - log_std + (std**2 + (mean - exp_mean)**2) / (2 * exp_std**2) - 0.5).mean(-1, keepdim=True)
    lp = (-0.5 * pi_eps.pow(2) - log_std - 0.9189385175704956).sum(-1, keepdim=True)
    scaled_entropy = -lp * (lp * ACT / (lp + 1e-8))
    p5, p95 = percentile(kl[0].detach(), [5.0, 95.0])
    scale = torch.tensor(1.0).lerp(torch.clamp(p95 - p5, min=1.0), TAU)
    rho = torch.pow(RHO, torch.arange(H + 1, dtype=torch.float32))
    pi_loss = ((kl / scale - ENTROPY_COEF * scaled_entropy).mean(dim=(1, 2)) * rho).mean()
    pi_loss.backward()
    for n in pi_names:
        grads[n] = P[n].grad.detach().clone()
    pi_grad_norm = torch.nn.utils.clip_grad_norm_([P[n] for n in pi_names], CLIP)
    pi_optim = torch.optim.Adam([P[n] for n in pi_names], lr=LR, eps=1e-5)
    pi_optim.step()

    # 6. Target EMA.
    with torch.no_grad():
        for n in v_names:
            T[n].lerp_(P[n], TAU)

    def pick(t):
        flat = t.reshape(-1)
        return [[int(i), float(flat[i])] for i in samples_idx(flat.numel())]

    out = {
        "config": {"obs_dim": OBS, "action_dim": ACT, "batch_size": B, "horizon": H, "model_size": 1},
        "losses": {"consistency_loss": float(cons), "reward_loss": float(rew_loss), "value_loss": float(val_loss),
                   "total_loss": float(total), "grad_norm": float(grad_norm), "pi_loss": float(pi_loss),
                   "pi_grad_norm": float(pi_grad_norm), "pi_scale": float(scale), "pi_kl": float(kl.mean())},
        "td_targets": [float(v) for v in td.reshape(-1)],
        "grads": [{"name": n, "sum": float(grads[n].sum()), "abs_sum": float(grads[n].abs().sum()),
                   "samples": pick(grads[n])} for n, _, _ in entries],
        "params_after": [{"name": n, "samples": pick(P[n].detach())} for n, _, _ in entries],
        "target_after": [{"name": n, "samples": pick(T[n])} for n in v_names],
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path, "total_loss", float(total), "pi_loss", float(pi_loss), "pi_scale", float(scale),
          "td", [round(float(v), 3) for v in td.reshape(-1)[:4]])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/agents_bmpc/golden/bmpc_update_1m.json")

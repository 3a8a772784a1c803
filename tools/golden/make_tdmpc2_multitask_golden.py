#!/usr/bin/python3
"""Golden file for two multitask TD-MPC2 updates (lucid tests/agents_tdmpc2).

Written for lucid from facts/tdmpc2.md §1.2-1.5 (not the official code), on the helpers of
make_tdmpc2_update_golden.py: the 1M preset with 3 tasks, a task embedding
(F.embedding(max_norm=1), which renormalises looked-up rows in place) concatenated to every
network's input ([obs|e], [z|e], [z|e|a]), per-task action masks on the policy's mean, log_std and
noise, the entropy scaled by the task's action dims, a discount per task, and the embedding in the
model optimizer. The optimizers run as torch runs them: each zero_grad(set_to_none) clears only
its own parameters, so the policy loss's embedding gradient is still there when the next model
loss is backpropagated; two updates show it.

Usage: /usr/bin/python3 tools/golden/make_tdmpc2_multitask_golden.py tests/agents_tdmpc2/golden/tdmpc2_multitask_1m.json
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_tdmpc2_update_golden as base  # noqa: E402

OBS, ACT, B, H, NT, TD = 5, 3, 4, 2, 3, 96
ENC, MLP, LAT, NQ = 256, 384, 128, 2
RHO, TAU, LR, ENC_LR_SCALE = 0.5, 0.01, 3e-4, 0.3
COEF_CONS, COEF_REW, COEF_VAL, ENTROPY_COEF, CLIP = 20.0, 0.1, 0.1, 1e-4, 20.0
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0
TASK_ACTION_DIMS = [3, 2, 3]
EPISODE_LENGTHS = [500, 100, 500]
EMB_AMP = [0.05, 0.2, 0.1]  # row norms about 0.35, 1.4 (renormalised at lookup), 0.7
TASKS = [[0, 1, 2, 1], [2, 1, 0, 0]]  # per update, the task of each of the B sub-trajectories
TD_HEADS, PI_HEADS = (1, 0), (1, 0)


def discount(ep_len):
    frac = ep_len / 5
    return min(max((frac - 1) / frac, 0.95), 0.995)


def layout():
    entries = []

    def mlp(prefix, dims, norm_out):
        for i in range(len(dims) - 1):
            entries.append((f"{prefix}.{i}.weight", (dims[i + 1], dims[i]), "w"))
            entries.append((f"{prefix}.{i}.bias", (dims[i + 1],), "b"))
            if i < len(dims) - 2 or norm_out:
                entries.append((f"{prefix}.{i}.ln.weight", (dims[i + 1],), "g"))
                entries.append((f"{prefix}.{i}.ln.bias", (dims[i + 1],), "be"))

    za = LAT + TD + ACT
    mlp("encoder", [OBS + TD, ENC, LAT], True)
    mlp("dynamics", [za, MLP, MLP, LAT], True)
    mlp("reward", [za, MLP, MLP, base.BINS], False)
    for q in range(NQ):
        mlp(f"Qs.{q}", [za, MLP, MLP, base.BINS], False)
    mlp("pi", [LAT + TD, MLP, MLP, 2 * ACT], False)
    entries.append(("task_emb.weight", (NT, TD), "e"))
    return entries


def init_param(k, name, shape, kind):
    if kind == "e":
        return torch.stack([base.wave(TD, 0.43, 0.3 + t, amp=EMB_AMP[t]) for t in range(NT)])
    return base.init_param(k, name, shape, kind)


def main(path):
    entries = layout()
    P = {}
    for k, (name, shape, kind) in enumerate(entries):
        P[name] = init_param(k, name, shape, kind).requires_grad_(True)
    q_names = [e[0] for e in entries if e[0].startswith("Qs.")]
    q_flat = torch.cat([P[n].detach().reshape(-1) for n in q_names])
    target_flat = q_flat + base.wave(q_flat.numel(), 0.29, 0.0, amp=0.01)
    T = {}
    off = 0
    for n in q_names:
        T[n] = target_flat[off:off + P[n].numel()].reshape(P[n].shape).clone()
        off += P[n].numel()
    masks_a = torch.zeros(NT, ACT)
    for t, d in enumerate(TASK_ACTION_DIMS):
        masks_a[t, :d] = 1.0
    gammas = torch.tensor([discount(n) for n in EPISODE_LENGTHS], dtype=torch.float32)

    obs = base.wave((H + 1) * B * OBS, 0.61, 0.2, amp=1.5).reshape(H + 1, B, OBS)
    action_raw = base.wave(H * B * ACT, 0.83, 0.5, amp=0.9).reshape(H, B, ACT)
    reward = base.wave(H * B, 1.07, 0.0, amp=3.0, offset=1.0).reshape(H, B, 1)
    td_eps = base.wave(H * B * ACT, 1.71, 0.4, amp=1.3).reshape(H, B, ACT)
    pi_eps = base.wave((H + 1) * B * ACT, 1.37, 0.9, amp=1.1).reshape(H + 1, B, ACT)
    q_masks = base.masks(NQ * H * B * MLP, 7919, 3, 97).reshape(NQ, H, B, MLP)
    pi_q_masks = base.masks(2 * (H + 1) * B * MLP, 104729, 5, 89).reshape(2, H + 1, B, MLP)

    model_names = [e[0] for e in entries if not e[0].startswith("pi.")]
    pi_names = [e[0] for e in entries if e[0].startswith("pi.")]
    enc_names = [n for n in model_names if n.startswith("encoder.")]
    rest = [n for n in model_names if not n.startswith("encoder.")]
    optim = torch.optim.Adam([{"params": [P[n] for n in enc_names], "lr": LR * ENC_LR_SCALE},
                              {"params": [P[n] for n in rest]}], lr=LR)
    pi_optim = torch.optim.Adam([P[n] for n in pi_names], lr=LR, eps=1e-5)
    scale = torch.tensor(1.0)
    updates = []

    for task_list in TASKS:
        task = torch.tensor(task_list)
        # The batch's padded action dims are zero, as a multitask buffer stores them (the official
        # model reads batch actions unmasked; lucid's model masks every action it reads, which is
        # the same on such data).
        action = action_raw * masks_a[task]

        # F.embedding(max_norm=1) renormalises the looked-up rows in place at every lookup; only the
        # first lookup of a phase can change them (a renormalised row stays under the norm). Torch
        # 1.13's embedding saves the weight for backward, so the in-place renorm is done once per
        # phase, with the same torch.embedding_renorm_, before the graph reads the table.
        def renorm():
            with torch.no_grad():
                torch.embedding_renorm_(P["task_emb.weight"], task, 1.0, 2.0)

        def emb(x):
            e = F.embedding(task, P["task_emb.weight"])
            return torch.cat([x, e.expand(*x.shape[:-1], TD)], -1)

        renorm()

        def Q(params, head, z, a, mask=None):
            sub = {n.replace(f"Qs.{head}.", "q."): v for n, v in params.items() if n.startswith(f"Qs.{head}.")}
            return base.mlp_fwd(sub, "q", torch.cat([emb(z), a], -1), 3, False, mask)

        def pi(z, eps):
            out = base.mlp_fwd(P, "pi", emb(z), 3, False)
            mu, ls = out.chunk(2, dim=-1)
            log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(ls) + 1)
            m = masks_a[task]
            mu, log_std, eps = mu * m, log_std * m, eps * m
            lp = (-0.5 * eps.pow(2) - log_std - 0.9189385175704956).sum(-1, keepdim=True)
            scaled = lp * m.sum(-1, keepdim=True)
            a = torch.tanh(mu + eps * log_std.exp())
            lp = lp - torch.log(F.relu(1 - a.pow(2)) + 1e-6).sum(-1, keepdim=True)
            return a, -lp * (scaled / (lp + 1e-8))

        # TD targets (no grad), each row with its task's discount.
        with torch.no_grad():
            next_z = base.mlp_fwd(P, "encoder", emb(obs[1:]), 2, True)
            a_next, _ = pi(next_z, td_eps)
            q1 = base.two_hot_inv(Q(T, TD_HEADS[0], next_z, a_next))
            q2 = base.two_hot_inv(Q(T, TD_HEADS[1], next_z, a_next))
            td = reward + gammas[task].unsqueeze(-1) * torch.min(q1, q2)

        z = base.mlp_fwd(P, "encoder", emb(obs[0]), 2, True)
        zs = [z]
        cons = 0
        for t in range(H):
            z = base.mlp_fwd(P, "dynamics", torch.cat([emb(z), action[t]], -1), 3, True)
            cons = cons + F.mse_loss(z, next_z[t]) * RHO**t
            zs.append(z)
        _zs = torch.stack(zs[:-1])
        rew_logits = base.mlp_fwd(P, "reward", torch.cat([emb(_zs), action], -1), 3, False)
        qs = [Q(P, q, _zs, action, q_masks[q]) for q in range(NQ)]
        rew_loss, val_loss = 0, 0
        for t in range(H):
            rew_loss = rew_loss + base.soft_ce(rew_logits[t], reward[t]).mean() * RHO**t
            for q in range(NQ):
                val_loss = val_loss + base.soft_ce(qs[q][t], td[t]).mean() * RHO**t
        cons, rew_loss, val_loss = cons / H, rew_loss / H, val_loss / (H * NQ)
        total = COEF_CONS * cons + COEF_REW * rew_loss + COEF_VAL * val_loss
        total.backward()
        model_grads = {n: P[n].grad.detach().clone() for n in model_names}
        grad_norm = torch.nn.utils.clip_grad_norm_([P[n] for n in model_names], CLIP)
        optim.step()
        optim.zero_grad(set_to_none=True)

        zs_d = torch.stack(zs).detach()
        renorm()  # the model step may have pushed a row past norm 1
        a, se = pi(zs_d, pi_eps)
        D = {n: v.detach() for n, v in P.items() if n.startswith("Qs.")}
        qv = (base.two_hot_inv(Q(D, PI_HEADS[0], zs_d, a, pi_q_masks[0])) +
              base.two_hot_inv(Q(D, PI_HEADS[1], zs_d, a, pi_q_masks[1]))) / 2
        p5, p95 = base.percentile(qv[0].detach(), [5.0, 95.0])
        scale = scale.lerp(torch.clamp(p95 - p5, min=1.0), TAU)
        rho = torch.pow(RHO, torch.arange(H + 1, dtype=torch.float32))
        pi_loss = (-(ENTROPY_COEF * se + qv / scale).mean(dim=(1, 2)) * rho).mean()
        pi_loss.backward()
        pi_grads = {n: P[n].grad.detach().clone() for n in pi_names}
        pi_grad_norm = torch.nn.utils.clip_grad_norm_([P[n] for n in pi_names], CLIP)
        pi_optim.step()
        pi_optim.zero_grad(set_to_none=True)
        with torch.no_grad():
            for n in q_names:
                T[n].lerp_(P[n], TAU)

        def summary(g):
            return {n: {"sum": float(v.sum()), "abs_sum": float(v.abs().sum()), "samples": pick(v)}
                    for n, v in g.items()}

        updates.append({
            "tasks": task_list,
            "losses": {"consistency_loss": float(cons), "reward_loss": float(rew_loss),
                       "value_loss": float(val_loss), "total_loss": float(total),
                       "grad_norm": float(grad_norm), "pi_loss": float(pi_loss),
                       "pi_grad_norm": float(pi_grad_norm), "pi_scale": float(scale)},
            "td_targets": [float(v) for v in td.reshape(-1)],
            "model_grads": summary(model_grads),
            "pi_grads": summary(pi_grads),
            # What the policy loss left in the embedding's gradient (cleared by neither optimizer).
            "task_emb_carry": [float(v) for v in P["task_emb.weight"].grad.reshape(-1)],
        })

    out = {
        "config": {"obs_dim": OBS, "action_dim": ACT, "batch_size": B, "horizon": H, "model_size": 1,
                   "num_tasks": NT, "task_action_dims": TASK_ACTION_DIMS, "task_episode_lengths": EPISODE_LENGTHS,
                   "emb_amp": EMB_AMP, "td_heads": TD_HEADS, "pi_heads": PI_HEADS},
        "updates": updates,
        "params_after": [{"name": n, "samples": pick(P[n].detach())} for n, _, _ in entries],
        "task_emb_after": [float(v) for v in P["task_emb.weight"].detach().reshape(-1)],
        "target_after": [{"name": n, "samples": pick(T[n])} for n in q_names],
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", path, "total_loss", [u["losses"]["total_loss"] for u in updates])


def pick(t):
    flat = t.reshape(-1)
    return [[int(i), float(flat[i])] for i in base.samples_idx(flat.numel())]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/agents_tdmpc2/golden/tdmpc2_multitask_1m.json")

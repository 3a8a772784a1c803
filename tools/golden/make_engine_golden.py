#!/usr/bin/env python3
"""Writes tests/engine/golden/tdmpc2_small.bin: a TD-MPC2-shaped network evaluated by PyTorch.

The network follows TD-MPC2's layout (facts/tdmpc2.md §1.3) at toy widths so the file stays small:
  encoder   mlp(obs, [32], 16, act=SimNorm)        NormedLinear(Mish) -> NormedLinear(SimNorm)
  dynamics  mlp(16 + A, [32], 16, act=SimNorm)
  reward    mlp(16 + A, [32], 101)                  plain Linear output -> two-hot logits
  Q         3 x mlp(16 + A, [32, 32], 101)          an ensemble, stored stacked as lucid does
and the loss of TD-MPC2's update for one step of the rollout:
  L = 20 * mse(d(z, a), sg(enc(obs'))) + 0.1 * mean CE(R(z, a), r) + 0.1 * mean_q mean CE(Q_q(z, a), r)
with CE = soft cross-entropy against the two-hot (symlog space, 101 bins in [-10, 10]) target.
Parameters are random (not TD-MPC2's init, whose zeroed output layers would hide gradients).

The file holds inputs, parameters (lucid's names and stacked ensemble layout), forward outputs,
losses and every parameter gradient. Format (little endian): b"LGLD", u32 count, then per
tensor: u32 name length, name, u32 ndim, i64 dims[ndim], f32 data.

Run with Debian's python3-torch:  /usr/bin/python3 tools/golden/make_engine_golden.py
"""
import os
import struct

import torch
import torch.nn.functional as F

OBS, ACT, LATENT, HIDDEN, BINS, HEADS, BATCH = 10, 3, 16, 32, 101, 3, 8
VMIN, VMAX = -10.0, 10.0
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "engine", "golden", "tdmpc2_small.bin")


def symlog(x):
    return torch.sign(x) * torch.log(1 + torch.abs(x))


def symexp(x):
    return torch.sign(x) * (torch.exp(torch.abs(x)) - 1)


def two_hot(x):
    bin_size = (VMAX - VMIN) / (BINS - 1)
    x = torch.clamp(symlog(x), VMIN, VMAX).squeeze(1)
    idx = torch.floor((x - VMIN) / bin_size)
    off = ((x - VMIN) / bin_size - idx).unsqueeze(-1)
    idx = idx.long()
    out = torch.zeros(x.shape[0], BINS)
    out.scatter_(1, idx.unsqueeze(1), 1 - off)
    out.scatter_(1, ((idx + 1) % BINS).unsqueeze(1), off)
    return out


def soft_ce(logits, target):
    return -(two_hot(target) * F.log_softmax(logits, dim=-1)).sum(-1, keepdim=True)


def two_hot_inv(logits):
    bins = torch.linspace(VMIN, VMAX, BINS)
    return symexp((F.softmax(logits, dim=-1) * bins).sum(-1, keepdim=True))


def simnorm(x):
    shp = x.shape
    return F.softmax(x.view(*shp[:-1], -1, 8), dim=-1).view(*shp)


class Params:
    """Named leaf tensors, drawn so every activation regime is exercised."""

    def __init__(self, gen):
        self.gen, self.named = gen, {}

    def add(self, name, shape, lo, hi):
        t = (torch.rand(shape, generator=self.gen) * (hi - lo) + lo).requires_grad_()
        self.named[name] = t
        return t


def make_mlp(p, name, dims, out_act, stacked=None):
    """dims = [in, hidden..., out]. Returns a list of layer dicts (weights maybe stacked)."""
    layers = []
    pre = () if stacked is None else (stacked,)
    for i in range(len(dims) - 1):
        last = i == len(dims) - 2
        n_in, n_out = dims[i], dims[i + 1]
        bound = 1.5 / n_in ** 0.5
        layer = {
            "w": p.add(f"{name}.{i}.weight", pre + (n_out, n_in), -bound, bound),
            "b": p.add(f"{name}.{i}.bias", pre + (n_out,), -0.2, 0.2),
            "act": out_act if last else "mish",
        }
        if layer["act"] is not None:
            layer["g"] = p.add(f"{name}.{i}.ln.weight", pre + (n_out,), 0.6, 1.4)
            layer["beta"] = p.add(f"{name}.{i}.ln.bias", pre + (n_out,), -0.3, 0.3)
        layers.append(layer)
    return layers


def run_mlp(layers, x, member=None):
    for l in layers:
        pick = (lambda t: t) if member is None else (lambda t: t[member])
        x = F.linear(x, pick(l["w"]), pick(l["b"]))
        if l["act"] is None:
            continue
        x = F.layer_norm(x, x.shape[-1:], pick(l["g"]), pick(l["beta"]), eps=1e-5)
        x = F.mish(x) if l["act"] == "mish" else simnorm(x)
    return x


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    p = Params(gen)
    enc = make_mlp(p, "enc", [OBS, HIDDEN, LATENT], "simnorm")
    dyn = make_mlp(p, "dyn", [LATENT + ACT, HIDDEN, LATENT], "simnorm")
    rew = make_mlp(p, "rew", [LATENT + ACT, HIDDEN, BINS], None)
    q = make_mlp(p, "q", [LATENT + ACT, HIDDEN, HIDDEN, BINS], None, stacked=HEADS)

    obs = torch.rand(BATCH, OBS, generator=gen) * 4 - 2
    next_obs = torch.rand(BATCH, OBS, generator=gen) * 4 - 2
    action = torch.rand(BATCH, ACT, generator=gen) * 2 - 1
    reward = torch.tensor([[-30.0], [-2.5], [-0.3], [0.0], [0.7], [3.0], [45.0], [5e4]])

    z = run_mlp(enc, obs)
    with torch.no_grad():
        next_z = run_mlp(enc, next_obs)
    za = torch.cat([z, action], dim=-1)
    z_pred = run_mlp(dyn, za)
    r_logits = run_mlp(rew, za)
    q_logits = torch.stack([run_mlp(q, za, member=e) for e in range(HEADS)])
    cons = F.mse_loss(z_pred, next_z)
    rew_loss = soft_ce(r_logits, reward).mean()
    q_loss = torch.stack([soft_ce(q_logits[e], reward).mean() for e in range(HEADS)]).mean()
    total = 20 * cons + 0.1 * rew_loss + 0.1 * q_loss
    total.backward()

    records = [("input.obs", obs), ("input.next_obs", next_obs), ("input.action", action), ("input.reward", reward)]
    records += [(f"param.{n}", t) for n, t in p.named.items()]
    records += [("out.z", z), ("out.next_z", next_z), ("out.z_pred", z_pred), ("out.reward_logits", r_logits),
                ("out.reward_value", two_hot_inv(r_logits)), ("out.q_logits", q_logits)]
    records += [("loss.consistency", cons), ("loss.reward", rew_loss), ("loss.value", q_loss), ("loss.total", total)]
    records += [(f"grad.{n}", t.grad) for n, t in p.named.items()]

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "wb") as f:
        f.write(b"LGLD")
        f.write(struct.pack("<I", len(records)))
        for name, t in records:
            t = t.detach().contiguous().float()
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack(f"<{t.dim()}q", *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())
    print(f"wrote {len(records)} tensors to {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()

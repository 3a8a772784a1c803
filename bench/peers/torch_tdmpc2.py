#!/usr/bin/env python3
"""PyTorch peer of lucid's TD-MPC2: the world model, one MPPI plan call and one update step,
written here from shared/facts/tdmpc2.md §1.1-§1.6 (not copied from the official code), timed on
the CPU so bench/peers/compare_tdmpc2.sh can put lucid beside it in the same run.

Shapes: obs 24, action 6 (flags), batch 256, horizon 3. Prints one JSON line:
  {"plan_ms": median, "update_ms": median, "threads": T, "model_size": S, ...}

Like the official code, the plan evaluates all Q heads and then averages two random ones.
"""
import argparse
import copy
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Size presets (facts §1.2): enc_dim, mlp_dim, latent_dim, num_q (num_enc_layers is 2 for both).
PRESETS = {1: (256, 384, 128, 2), 5: (256, 512, 512, 5)}
NUM_BINS, VMIN, VMAX = 101, -10.0, 10.0
SIMNORM_DIM = 8
LOG_STD_MIN, LOG_STD_MAX = -10.0, 2.0


# ---- layers (facts §1.3) ---------------------------------------------------------------------

class SimNorm(nn.Module):
    """Softmax over groups of 8 along the last dim: the latent is a set of simplices."""

    def forward(self, x):
        shape = x.shape
        return F.softmax(x.view(*shape[:-1], -1, SIMNORM_DIM), dim=-1).view(shape)


class NormedLinear(nn.Sequential):
    """Linear -> (Dropout) -> LayerNorm -> activation (Mish unless given)."""

    def __init__(self, n_in, n_out, act=None, dropout=0.0):
        layers = [nn.Linear(n_in, n_out)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.LayerNorm(n_out), act if act is not None else nn.Mish()]
        super().__init__(*layers)


def mlp(n_in, hidden, n_out, act=None, dropout=0.0):
    """Hidden NormedLinear(Mish) layers (dropout on the first only), then NormedLinear(act) when an
    output activation is given, else a plain Linear."""
    dims = [n_in] + list(hidden)
    layers = [NormedLinear(dims[i], dims[i + 1], dropout=dropout * (i == 0)) for i in range(len(hidden))]
    layers.append(NormedLinear(dims[-1], n_out, act=act) if act is not None else nn.Linear(dims[-1], n_out))
    return nn.Sequential(*layers)


def init_weights(module):
    """Linear weights truncated normal (std 0.02), biases 0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


# ---- discrete regression (facts §1.4) --------------------------------------------------------

def symlog(x):
    """sign(x) * log(1 + |x|)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x):
    """Inverse of symlog."""
    return torch.sign(x) * torch.expm1(x.abs())


def two_hot(x):
    """Scalars (N, 1) -> (N, 101) two-hot weights over the symlog bins."""
    x = symlog(x).clamp(VMIN, VMAX).squeeze(-1)
    pos = (x - VMIN) / ((VMAX - VMIN) / (NUM_BINS - 1))
    idx = pos.floor().long()
    off = (pos - idx).unsqueeze(-1)
    out = torch.zeros(x.shape[0], NUM_BINS, device=x.device)
    out.scatter_(1, idx.unsqueeze(-1), 1 - off)
    out.scatter_(1, ((idx + 1) % NUM_BINS).unsqueeze(-1), off)
    return out


def two_hot_inv(logits):
    """Logits (..., 101) -> scalar (..., 1): symexp of the softmax-weighted bin centres."""
    bins = torch.linspace(VMIN, VMAX, NUM_BINS, device=logits.device)
    return symexp((F.softmax(logits, dim=-1) * bins).sum(-1, keepdim=True))


def soft_ce(logits, target):
    """Cross-entropy of logits against the two-hot encoding of target, per row (N, 1)."""
    return -(two_hot(target) * F.log_softmax(logits, dim=-1)).sum(-1, keepdim=True)


# ---- world model (facts §1.3) ----------------------------------------------------------------

class WorldModel(nn.Module):
    """Encoder, latent dynamics, reward, policy prior and a Q ensemble with an EMA target copy."""

    def __init__(self, obs_dim, action_dim, model_size):
        super().__init__()
        enc_dim, mlp_dim, latent, num_q = PRESETS[model_size]
        self.action_dim = action_dim
        self.encoder = mlp(obs_dim, [enc_dim], latent, act=SimNorm())
        self.dynamics = mlp(latent + action_dim, [mlp_dim, mlp_dim], latent, act=SimNorm())
        self.reward = mlp(latent + action_dim, [mlp_dim, mlp_dim], NUM_BINS)
        self.pi = mlp(latent, [mlp_dim, mlp_dim], 2 * action_dim)
        self.qs = nn.ModuleList(mlp(latent + action_dim, [mlp_dim, mlp_dim], NUM_BINS, dropout=0.01)
                                for _ in range(num_q))
        self.apply(init_weights)
        for head in [self.reward, *self.qs]:
            nn.init.zeros_(head[-1].weight)  # initial reward and Q predictions are 0
        self.target_qs = copy.deepcopy(self.qs).requires_grad_(False).eval()

    def next(self, z, a):
        """z_{t+1} = d(z_t, a_t)."""
        return self.dynamics(torch.cat([z, a], -1))

    def reward_value(self, z, a):
        """Decoded reward R(z, a) as a scalar (N, 1)."""
        return two_hot_inv(self.reward(torch.cat([z, a], -1)))

    def policy(self, z):
        """Sampled tanh-squashed action and the scaled entropy (official quirk, facts §1.3)."""
        mean, raw = self.pi(z).chunk(2, -1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw) + 1)
        eps = torch.randn_like(mean)
        gauss_log_prob = (-0.5 * eps.pow(2) - log_std - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1, keepdim=True)
        scaled_entropy = -gauss_log_prob * self.action_dim
        return torch.tanh(mean + eps * log_std.exp()), scaled_entropy

    def q_logits(self, z, a, heads):
        """Logits of every head in heads at (z, a): a list of (N, 101)."""
        za = torch.cat([z, a], -1)
        return [head(za) for head in heads]

    def q_two(self, z, a, heads, reduce):
        """All heads evaluated, two random ones decoded and reduced with min or mean."""
        logits = self.q_logits(z, a, heads)
        pick = torch.randperm(len(heads))[:2]
        q1, q2 = (two_hot_inv(logits[i]) for i in pick.tolist())
        return torch.min(q1, q2) if reduce == "min" else (q1 + q2) / 2


# ---- MPPI (facts §1.6) ------------------------------------------------------------------------

class Mppi:
    """The official MPPI: 512 samples (24 from the policy), 64 elites, 6 iterations, horizon 3."""

    def __init__(self, model, action_dim, discount=0.99, horizon=3, iterations=6, num_samples=512,
                 num_elites=64, num_pi_trajs=24, min_std=0.05, max_std=2.0, temperature=0.5):
        self.model, self.action_dim, self.discount, self.horizon = model, action_dim, discount, horizon
        self.iterations, self.num_samples, self.num_elites = iterations, num_samples, num_elites
        self.num_pi_trajs, self.min_std, self.max_std, self.temperature = num_pi_trajs, min_std, max_std, temperature
        self.prev_mean = torch.zeros(horizon, action_dim)

    def estimate_value(self, z, actions):
        """Discounted decoded rewards along the horizon plus the discounted terminal Q (avg of 2)."""
        g, disc = 0, 1.0
        for t in range(self.horizon):
            g = g + disc * self.model.reward_value(z, actions[t])
            z = self.model.next(z, actions[t])
            disc *= self.discount
        a_term, _ = self.model.policy(z)
        return (g + disc * self.model.q_two(z, a_term, self.model.qs, "mean")).nan_to_num(0)

    def policy_trajectories(self, z):
        """Actions (H, 24, A) of the policy prior rolled through the dynamics."""
        z = z.repeat(self.num_pi_trajs, 1)
        actions = []
        for t in range(self.horizon):
            a, _ = self.model.policy(z)
            actions.append(a)
            if t < self.horizon - 1:
                z = self.model.next(z, a)
        return torch.stack(actions)

    @torch.no_grad()
    def plan(self, obs, t0=False):
        """One plan call for one observation (1, obs_dim): returns the action (A,)."""
        z = self.model.encoder(obs)
        H, N, A = self.horizon, self.num_samples, self.action_dim
        actions = torch.empty(H, N, A)
        actions[:, :self.num_pi_trajs] = self.policy_trajectories(z)
        mean, std = torch.zeros(H, A), torch.full((H, A), self.max_std)
        if not t0:
            mean[:-1] = self.prev_mean[1:]
        z = z.repeat(N, 1)
        for _ in range(self.iterations):
            noise = torch.randn(H, N - self.num_pi_trajs, A)
            actions[:, self.num_pi_trajs:] = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp(-1, 1)
            value = self.estimate_value(z, actions)
            elite_idx = torch.topk(value.squeeze(1), self.num_elites).indices
            elite_value, elite_actions = value[elite_idx], actions[:, elite_idx]
            score = torch.exp(self.temperature * (elite_value - elite_value.max()))
            score = score / score.sum(0)
            mean = (score.unsqueeze(0) * elite_actions).sum(1)
            var = (score.unsqueeze(0) * (elite_actions - mean.unsqueeze(1)) ** 2).sum(1)
            std = var.sqrt().clamp(self.min_std, self.max_std)
        gumbel = -torch.log(-torch.log(torch.rand_like(score.squeeze(1))))
        choice = torch.argmax(score.squeeze(1).log() + gumbel)
        self.prev_mean = mean
        return elite_actions[0, choice].clamp(-1, 1)


# ---- update (facts §1.5) ----------------------------------------------------------------------

class Tdmpc2Update:
    """One TD-MPC2 update: world-model losses, policy loss with running scale, target-Q EMA."""

    def __init__(self, model, discount=0.99, rho=0.5, lr=3e-4, enc_lr_scale=0.3, coefs=(20.0, 0.1, 0.1),
                 entropy_coef=1e-4, grad_clip=20.0, tau=0.01):
        self.model, self.discount, self.rho, self.coefs = model, discount, rho, coefs
        self.entropy_coef, self.grad_clip, self.tau = entropy_coef, grad_clip, tau
        self.optim = torch.optim.Adam([
            {"params": model.encoder.parameters(), "lr": lr * enc_lr_scale},
            {"params": model.dynamics.parameters()},
            {"params": model.reward.parameters()},
            {"params": model.qs.parameters()},
        ], lr=lr)
        self.pi_optim = torch.optim.Adam(model.pi.parameters(), lr=lr, eps=1e-5)
        self.scale = torch.ones(1)

    @torch.no_grad()
    def td_target(self, next_z, reward):
        """r + gamma * min of 2 random target heads at (z', pi(z') sampled)."""
        a, _ = self.model.policy(next_z)
        return reward + self.discount * self.model.q_two(next_z, a, self.model.target_qs, "min")

    def model_losses(self, obs, action, reward):
        """Consistency, reward and value losses (rho-weighted, averaged over H) and the latents."""
        H, B = action.shape[:2]
        with torch.no_grad():
            next_z = self.model.encoder(obs[1:])
            td = self.td_target(next_z.flatten(0, 1), reward.flatten(0, 1)).view(H, B, 1)
        zs = [self.model.encoder(obs[0])]
        consistency = 0
        for t in range(H):
            zs.append(self.model.next(zs[t], action[t]))
            consistency = consistency + self.rho ** t * F.mse_loss(zs[t + 1], next_z[t])
        reward_loss, value_loss = 0, 0
        for t in range(H):
            weight = self.rho ** t
            reward_loss = reward_loss + weight * soft_ce(self.model.reward(torch.cat([zs[t], action[t]], -1)), reward[t]).mean()
            for logits in self.model.q_logits(zs[t], action[t], self.model.qs):
                value_loss = value_loss + weight * soft_ce(logits, td[t]).mean()
        num_q = len(self.model.qs)
        return consistency / H, reward_loss / H, value_loss / (H * num_q), torch.stack(zs)

    def update_pi(self, zs):
        """Policy loss on the detached latents: -(entropy term + Q_avg2 / running scale)."""
        a, scaled_entropy = self.model.policy(zs)
        self.model.qs.requires_grad_(False)  # the "detached" Q view: gradients reach only pi
        q = self.model.q_two(zs, a, self.model.qs, "mean")
        self.model.qs.requires_grad_(True)
        with torch.no_grad():
            q0 = q[0].flatten()
            spread = torch.quantile(q0, 0.95) - torch.quantile(q0, 0.05)
            self.scale.lerp_(spread.clamp(min=1.0).view(1), 0.01)
        weights = self.rho ** torch.arange(zs.shape[0], dtype=torch.float32).view(-1, 1, 1)
        loss = (-(self.entropy_coef * scaled_entropy + q / self.scale) * weights).mean(dim=(1, 2)).mean()
        self.pi_optim.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.pi.parameters(), self.grad_clip)
        self.pi_optim.step()

    @torch.no_grad()
    def ema_targets(self):
        """theta_target <- lerp(theta_target, theta, tau)."""
        for target, online in zip(self.model.target_qs.parameters(), self.model.qs.parameters()):
            target.lerp_(online, self.tau)

    def step(self, obs, action, reward):
        """The full update on one batch: obs (H+1, B, O), action (H, B, A), reward (H, B, 1)."""
        self.model.train()
        consistency, reward_loss, value_loss, zs = self.model_losses(obs, action, reward)
        c_cons, c_rew, c_val = self.coefs
        loss = c_cons * consistency + c_rew * reward_loss + c_val * value_loss
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for g in self.optim.param_groups for p in g["params"]], self.grad_clip)
        self.optim.step()
        self.update_pi(zs.detach())
        self.ema_targets()
        return float(loss)


# ---- timing -----------------------------------------------------------------------------------

def median_ms(fn, calls, warmup):
    """Median wall time of fn() in ms over calls, after warmup untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-size", type=int, default=5, choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--obs-dim", type=int, default=24)
    parser.add_argument("--action-dim", type=int, default=6)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    model = WorldModel(args.obs_dim, args.action_dim, args.model_size)
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("target_qs"))

    model.eval()
    planner = Mppi(model, args.action_dim, horizon=args.horizon)
    obs = torch.randn(1, args.obs_dim)
    plan_ms = median_ms(lambda: planner.plan(obs), args.calls, args.warmup)

    update = Tdmpc2Update(model)
    H, B = args.horizon, args.batch
    batch = (torch.rand(H + 1, B, args.obs_dim) * 2 - 1, torch.rand(H, B, args.action_dim) * 2 - 1,
             torch.rand(H, B, 1))
    update_ms = median_ms(lambda: update.step(*batch), args.calls, args.warmup)

    print(json.dumps({"plan_ms": plan_ms, "update_ms": update_ms, "threads": args.threads,
                      "model_size": args.model_size, "params": params, "torch": torch.__version__}))


if __name__ == "__main__":
    main()

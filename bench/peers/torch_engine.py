#!/usr/bin/env python3
"""PyTorch peer of bench_engine: the same shapes, timed the same way, printed as JSON.

Benchmarks (names match bench_engine's so compare_engine.sh can pair them):
  BM_SgemmPeak/1024        torch.mm 1024^3
  BM_SmallLinear/<M>       F.linear(x [M, 518], W [512, 518], b) under no_grad, M = 8, 16, 32, 64
  BM_MlpTrainStep/<B>      512 -> Linear+LayerNorm+Mish -> Linear+LayerNorm+Mish -> Linear(512),
                           MSE, backward, Adam step (zero_grad(set_to_none=True)), B = 256, 1024
  BM_EnsembleQForward/<B>  5 heads 518 -> 512 -> 512 -> 101 with LayerNorm+Mish, stacked weights
                           through baddbmm (how TD-MPC2's vmapped ensemble runs), no_grad, B = 64, 512
Threads: torch.set_num_threads(N) with N from --threads (default 2, this machine's core count).
Each benchmark warms up, then times batches of calls until --min-time seconds have passed, and
reports the median per-call wall time (and process CPU time) over --reps such measurements.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

IN, DIM, BINS, HEADS = 518, 512, 101, 5


def timeit(fn, min_time, reps):
    """Median over reps of (wall seconds, process CPU seconds) per call."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(reps):
        n, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        wall.append(elapsed / n)
        cpu.append((time.process_time() - cpu_start) / n)
    return statistics.median(wall), statistics.median(cpu)


def bench_sgemm(n):
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def bench_small_linear(m):
    x, w, b = torch.randn(m, IN), torch.randn(DIM, IN) * 0.02, torch.randn(DIM)

    def run():
        with torch.no_grad():
            return F.linear(x, w, b)

    return run, 2.0 * m * IN * DIM


def bench_mlp_train(batch):
    model = torch.nn.Sequential(
        torch.nn.Linear(DIM, DIM), torch.nn.LayerNorm(DIM), torch.nn.Mish(),
        torch.nn.Linear(DIM, DIM), torch.nn.LayerNorm(DIM), torch.nn.Mish(),
        torch.nn.Linear(DIM, DIM))
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    x, target = torch.randn(batch, DIM), torch.randn(batch, DIM)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), target)
        loss.backward()
        opt.step()

    return run, 8 * 2.0 * batch * DIM * DIM  # the 8 GEMMs bench_engine counts


def bench_ensemble_q(batch):
    def p(*shape, s=0.02):
        return torch.randn(*shape) * s

    w1, b1 = p(HEADS, IN, DIM), p(HEADS, 1, DIM)
    w2, b2 = p(HEADS, DIM, DIM), p(HEADS, 1, DIM)
    w3, b3 = p(HEADS, DIM, BINS), p(HEADS, 1, BINS)
    g1, be1, g2, be2 = (p(HEADS, 1, DIM, s=0.1) for _ in range(4))
    za = torch.randn(batch, IN).expand(HEADS, batch, IN)

    def ln_mish(h, g, b):
        return F.mish(F.layer_norm(h, (DIM,)) * g + b)

    def run():
        with torch.no_grad():
            h = ln_mish(torch.baddbmm(b1, za, w1), g1, be1)
            h = ln_mish(torch.baddbmm(b2, h, w2), g2, be2)
            return torch.baddbmm(b3, h, w3)

    return run, 2.0 * HEADS * batch * (IN * DIM + DIM * DIM + DIM * BINS)


def bench_dropout_mask(n):
    # The TD-MPC2 5M update's dropout masks (bench_rng.cc): keep with 1 - p, scaled by 1 / (1 - p).
    p = 0.01
    out = torch.empty(n)

    def run():
        return out.bernoulli_(1.0 - p).div_(1.0 - p)

    return run, 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--filter", default="", help="substring a benchmark name must contain")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [("BM_SgemmPeak/1024", bench_sgemm, 1024)]
    cases += [(f"BM_SmallLinear/{m}", bench_small_linear, m) for m in (8, 16, 32, 64)]
    cases += [(f"BM_MlpTrainStep/{b}", bench_mlp_train, b) for b in (256, 1024)]
    cases += [(f"BM_EnsembleQForward/{b}", bench_ensemble_q, b) for b in (64, 512)]
    cases += [("BM_DropoutMaskDraw", bench_dropout_mask, 3014656)]
    results = []
    for name, make, arg in cases:
        if args.filter not in name:
            continue
        fn, flops = make(arg)
        sec, cpu = timeit(fn, args.min_time, args.reps)
        results.append({"name": name, "seconds": sec, "cpu_seconds": cpu, "flops_per_second": flops / sec})
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "benchmarks": results}, indent=1))


if __name__ == "__main__":
    main()

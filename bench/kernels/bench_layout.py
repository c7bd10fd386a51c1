#!/usr/bin/python3
"""bench_layout.py — nasc's cpu kernels (NHWC) against PyTorch in NCHW and channels_last.

Runs, in one script run, the C timer (bench_kernels: nasc's kernels, forward and backward) and the
same ops in PyTorch with contiguous (NCHW) and channels_last tensors, then prints per-op times and
the ratios nasc / PyTorch (below 1: nasc is faster). The ops are the ones a DARTS supernet step is
made of: depthwise 3x3 / 5x5 (dilation 1 and 2, stride 1 and 2), 1x1 and dense 3x3 convolutions,
batch norm (training, affine off), 3x3 max / avg pooling, relu, add.

Use Debian's python3-torch:
    OPENBLAS_CORETYPE=Haswell /usr/bin/python3 bench/kernels/bench_layout.py \\
        --nasc build-cpu/bench/bench_kernels [--threads 2] [--batch 64] [--hw 28] \\
        [--channels 16,32,64] [--iters 20] [--rounds 2] [--only dw]

Every time is the minimum over --iters iterations (--stat median for the median): on a shared
2-core machine one descheduled OpenMP thread turns an iteration into a 4-16 ms time slice, on
either side, and the minimum is least disturbed by that. The three are interleaved op by op (nasc, channels_last,
NCHW for one op, then the next op), and with --rounds R the whole sweep is repeated R times, each
entry keeping its best round, so that a burst of load hits all sides alike.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

OPS = [
    # name, kind, kernel, stride, dilation, depthwise
    ("dw3x3", "conv", 3, 1, 1, True),
    ("dw5x5", "conv", 5, 1, 1, True),
    ("dw3x3_d2", "conv", 3, 1, 2, True),
    ("dw5x5_d2", "conv", 5, 1, 2, True),
    ("dw3x3_s2", "conv", 3, 2, 1, True),
    ("dw5x5_s2", "conv", 5, 2, 1, True),
    ("conv1x1", "conv", 1, 1, 1, False),
    ("conv3x3", "conv", 3, 1, 1, False),
    ("bn", "bn", 0, 0, 0, False),
    ("maxpool3x3", "maxpool", 3, 1, 0, False),
    ("avgpool3x3", "avgpool", 3, 1, 0, False),
    ("relu", "relu", 0, 0, 0, False),
    ("add", "add", 0, 0, 0, False),
    ("darts_edge", "edge", 0, 0, 0, False),
]


class DartsEdge(torch.nn.Module):
    """One DARTS mixed edge (normal cell, stride 1) as in the DARTS code: max/avg pool + BN,
    skip, sep_conv 3x3/5x5, dil_conv 3x3/5x5, none; BN without affine parameters or running
    statistics; output = sum softmax(alpha)_i op_i(x). Same ops as bench_kernels' darts_edge."""

    def __init__(self, C):
        super().__init__()
        nn = torch.nn

        def bn():
            return nn.BatchNorm2d(C, affine=False, track_running_stats=False)

        def rcb(k, d):
            p = d * (k - 1) // 2
            return [nn.ReLU(), nn.Conv2d(C, C, k, 1, p, d, groups=C, bias=False),
                    nn.Conv2d(C, C, 1, bias=False), bn()]

        self.ops = nn.ModuleList([
            nn.Sequential(nn.MaxPool2d(3, 1, 1), bn()),
            nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), bn()),
            nn.Identity(),
            nn.Sequential(*rcb(3, 1), *rcb(3, 1)),
            nn.Sequential(*rcb(5, 1), *rcb(5, 1)),
            nn.Sequential(*rcb(3, 2)),
            nn.Sequential(*rcb(5, 2)),
        ])
        self.alpha = nn.Parameter(1e-3 * torch.arange(8, dtype=torch.float32))

    def forward(self, x):
        w = torch.softmax(self.alpha, 0)
        return sum(w[i + 1] * op(x) for i, op in enumerate(self.ops)).mean()


def torch_op(op, C, N, HW, fmt):
    """Returns (forward closure, backward closure) for one op in memory format fmt."""
    name, kind, k, s, d, dw = op
    x = torch.randn(N, C, HW, HW).to(memory_format=fmt).requires_grad_()
    params = []
    if kind == "edge":
        m = DartsEdge(C).to(memory_format=fmt)
        params = list(m.parameters())
        f = lambda: m(x)
        return x, params, f, torch.ones(())
    if kind == "conv":
        w = torch.randn(C, 1 if dw else C, k, k).to(memory_format=fmt).requires_grad_()
        params = [w]
        pad = d * (k - 1) // 2
        f = lambda: F.conv2d(x, w, None, s, pad, d, C if dw else 1)
    elif kind == "bn":
        f = lambda: F.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)
    elif kind == "maxpool":
        f = lambda: F.max_pool2d(x, 3, 1, 1)
    elif kind == "avgpool":
        f = lambda: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    elif kind == "relu":
        f = lambda: F.relu(x)
    else:
        b = torch.randn(N, C, HW, HW).to(memory_format=fmt).requires_grad_()
        params = [b]
        f = lambda: x + b
    y = f()
    gy = torch.randn_like(y)
    return x, params, f, gy


def time_torch(op, C, args, fmt):
    x, params, f, gy = torch_op(op, C, args.batch, args.hw, fmt)
    tf, tt = [], []
    for it in range(args.iters + 2):
        x.grad = None
        for p in params:
            p.grad = None
        t0 = time.perf_counter()
        y = f()
        t1 = time.perf_counter()
        y.backward(gy)
        t2 = time.perf_counter()
        if it >= 2:
            tf.append((t1 - t0) * 1e3)
            tt.append((t2 - t1) * 1e3)
    agg = statistics.median if args.stat == "median" else min
    return agg(tf), agg(tt)


def run_nasc(args, op=None, C=None, check=True):
    cmd = [args.nasc, "--threads", str(args.threads), "--batch", str(args.batch), "--hw",
           str(args.hw), "--iters", str(args.iters), "--stat", args.stat,
           "--channels", str(C) if C else args.channels]
    if op:
        cmd += ["--op", op]
    if not check:
        cmd += ["--no-check"]
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    res, header = {}, ""
    for line in out.splitlines():
        if line.startswith("#"):
            header = line
            continue
        kv = dict(re.findall(r"(\w+)=(\S+)", line))
        res[(kv["op"], int(kv["C"]))] = (float(kv["fwd_ms"]), float(kv["bwd_ms"]), kv["path"],
                                         float(kv["check"]))
    return res, header


def best(a, b):
    return b if a is None else tuple(min(x, y) for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nasc", default="build-cpu/bench/bench_kernels")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hw", type=int, default=28)
    ap.add_argument("--channels", default="16,32,64")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--stat", default="min", choices=["min", "median"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chans = [int(c) for c in args.channels.split(",")]
    ops = [o for o in OPS if args.only in o[0]]
    nasc, tn, tc, header = {}, {}, {}, ""
    for rnd in range(args.rounds):
        for C in chans:
            for op in ops:
                key = (op[0], C)
                r, header = run_nasc(args, op[0], C, check=rnd == 0)
                v = r[key]
                nasc[key] = (min(nasc[key][0], v[0]), min(nasc[key][1], v[1]), v[2],
                             nasc[key][3]) if key in nasc else v
                tc[key] = best(tc.get(key), time_torch(op, C, args, torch.channels_last))
                tn[key] = best(tn.get(key), time_torch(op, C, args, torch.contiguous_format))
    print(header)
    print(f"# torch {torch.__version__}, threads={args.threads}, batch={args.batch}, "
          f"{args.hw}x{args.hw}, {args.stat} of {args.iters} iterations, best of {args.rounds} rounds")
    print("# times in ms (fwd / bwd); ratio = nasc / torch over fwd+bwd (< 1: nasc faster);"
          " nchw/cl = torch NCHW over channels_last")
    print(f"{'op':<11} {'C':>3} {'path':<5} {'nasc fwd':>8} {'bwd':>7} {'cl fwd':>7} {'bwd':>7} "
          f"{'nchw fwd':>8} {'bwd':>7} {'nasc/cl':>7} {'fwd':>5} {'bwd':>5} {'nchw/cl':>7}")
    ratios = []
    for C in chans:
        for op in ops:
            key = (op[0], C)
            if key not in nasc:
                continue
            nf, nb, path, chk = nasc[key]
            cf, cb = tc[key]
            hf, hb = tn[key]
            r = (nf + nb) / (cf + cb)
            ratios.append(r)
            print(f"{op[0]:<11} {C:>3} {path:<5} {nf:>8.3f} {nb:>7.3f} {cf:>7.3f} {cb:>7.3f} "
                  f"{hf:>8.3f} {hb:>7.3f} {r:>7.2f} {nf / cf:>5.2f} {nb / cb:>5.2f} "
                  f"{(hf + hb) / (cf + cb):>7.2f}" + ("" if chk < 1e-8 else f"  CHECK {chk:.2g}"))
    if ratios:
        g = 1.0
        for r in ratios:
            g *= r
        print(f"# geometric mean nasc/channels_last over {len(ratios)} ops: "
              f"{g ** (1.0 / len(ratios)):.2f}")


if __name__ == "__main__":
    sys.exit(main())

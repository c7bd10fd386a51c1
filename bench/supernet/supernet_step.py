#!/usr/bin/python3
"""One DARTS search step on the supernet, nasc vs PyTorch, in one run.

The step is what the DARTS code's train_search.py does per training batch (first order):
  1. architecture step: loss of a validation batch, backward, Adam on alpha
     (lr 3e-4, betas 0.5/0.999, weight decay 1e-3);
  2. weight step: loss of a training batch, backward, clip the weights' gradient norm at 5,
     SGD (lr 0.025, momentum 0.9, weight decay 3e-4).
Supernet: the DARTS search network (C=16, 8 cells, 4 nodes, the 8 DARTS ops, search BN without
affine parameters) on 1x28x28 inputs, batch 64, 10 classes. images/s = training images per
second of whole steps (batch / step time), median over the timed steps; peak memory = peak RSS
of the process. Each side runs in its own process so that its peak is its own; both use the
same number of threads. PyTorch runs channels_last (its fastest layout here). On a shared
machine wall times swing with other processes' load; the CPU seconds per step (user + system)
and the best step are steadier, and all three ratios are printed.

    /usr/bin/python3 bench/supernet/supernet_step.py [--batch 64] [--threads 2] [--steps 5]
        [--warmup 2] [--nasc build/bench/bench_supernet] [--order 1]

The PyTorch model below is written for this benchmark after the structure of the DARTS search
code (quark0/darts cnn/model_search.py, operations.py, architect.py).
"""
import argparse, json, os, resource, statistics, subprocess, sys, time

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
              "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]


def torch_side(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)

    class Zero(nn.Module):
        def __init__(self, stride):
            super().__init__()
            self.stride = stride

        def forward(self, x):
            return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)

    def relu_conv_bn(cin, cout, k, stride, pad, affine):
        return nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(cin, cout, k, stride, pad, bias=False),
                             nn.BatchNorm2d(cout, affine=affine))

    class FactorizedReduce(nn.Module):
        def __init__(self, cin, cout, affine):
            super().__init__()
            self.relu = nn.ReLU(inplace=False)
            self.c1 = nn.Conv2d(cin, cout // 2, 1, 2, 0, bias=False)
            self.c2 = nn.Conv2d(cin, cout // 2, 1, 2, 0, bias=False)
            self.bn = nn.BatchNorm2d(cout, affine=affine)

        def forward(self, x):
            x = self.relu(x)
            return self.bn(torch.cat([self.c1(x), self.c2(x[:, :, 1:, 1:])], dim=1))

    def sep_conv(c, k, stride, pad, affine):
        return nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, 1, pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def dil_conv(c, k, stride, pad, affine):
        return nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, pad, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def make_op(name, c, stride):
        if name == "none":
            return Zero(stride)
        if name == "max_pool_3x3":
            return nn.Sequential(nn.MaxPool2d(3, stride, 1), nn.BatchNorm2d(c, affine=False))
        if name == "avg_pool_3x3":
            return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False),
                                 nn.BatchNorm2d(c, affine=False))
        if name == "skip_connect":
            return nn.Identity() if stride == 1 else FactorizedReduce(c, c, False)
        k = 3 if name.endswith("3x3") else 5
        if name.startswith("sep"):
            return sep_conv(c, k, stride, k // 2, False)
        return dil_conv(c, k, stride, k - 1, False)

    class MixedOp(nn.Module):
        def __init__(self, c, stride):
            super().__init__()
            self.ops = nn.ModuleList(make_op(p, c, stride) for p in PRIMITIVES)

        def forward(self, x, w):
            return sum(wi * op(x) for wi, op in zip(w, self.ops))

    class Cell(nn.Module):
        def __init__(self, cpp, cp, c, reduction, reduction_prev):
            super().__init__()
            self.reduction = reduction
            self.pre0 = (FactorizedReduce(cpp, c, False) if reduction_prev
                         else relu_conv_bn(cpp, c, 1, 1, 0, False))
            self.pre1 = relu_conv_bn(cp, c, 1, 1, 0, False)
            self.ops = nn.ModuleList()
            for i in range(4):
                for j in range(2 + i):
                    self.ops.append(MixedOp(c, 2 if reduction and j < 2 else 1))

        def forward(self, s0, s1, weights):
            states = [self.pre0(s0), self.pre1(s1)]
            off = 0
            for i in range(4):
                s = sum(self.ops[off + j](h, weights[off + j]) for j, h in enumerate(states))
                off += len(states)
                states.append(s)
            return torch.cat(states[-4:], dim=1)

    class Network(nn.Module):
        def __init__(self, C, classes, layers, in_c):
            super().__init__()
            cc = 3 * C
            self.stem = nn.Sequential(nn.Conv2d(in_c, cc, 3, padding=1, bias=False), nn.BatchNorm2d(cc))
            cpp, cp, cur = cc, cc, C
            self.cells = nn.ModuleList()
            red_prev = False
            for i in range(layers):
                red = i in (layers // 3, 2 * layers // 3)
                if red:
                    cur *= 2
                self.cells.append(Cell(cpp, cp, cur, red, red_prev))
                red_prev = red
                cpp, cp = cp, 4 * cur
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cp, classes)
            k = sum(2 + i for i in range(4))
            self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))
            self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))

        def weights(self):
            return [p for n, p in self.named_parameters() if not n.startswith("alphas")]

        def arch(self):
            return [self.alphas_normal, self.alphas_reduce]

        def forward(self, x):
            s0 = s1 = self.stem(x)
            wn = F.softmax(self.alphas_normal, dim=-1)
            wr = F.softmax(self.alphas_reduce, dim=-1)
            for cell in self.cells:
                s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
            return self.fc(self.pool(s1).flatten(1))

    C, H, W = a.input
    net = Network(a.channels, a.classes, a.cells, C).to(memory_format=torch.channels_last)
    wopt = torch.optim.SGD(net.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    aopt = torch.optim.Adam(net.arch(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(7)
    xt = torch.randn(a.batch, C, H, W, generator=g).to(memory_format=torch.channels_last)
    xv = torch.randn(a.batch, C, H, W, generator=g).to(memory_format=torch.channels_last)
    yt = torch.arange(a.batch) % a.classes
    yv = (torch.arange(a.batch) * 7) % a.classes
    times, cpus = [], []
    for s in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        # architecture step (first order), as Architect._backward_step
        aopt.zero_grad()
        lossf(net(xv), yv).backward()
        aopt.step()
        # weight step
        wopt.zero_grad()
        loss = lossf(net(xt), yt)
        loss.backward()
        nn.utils.clip_grad_norm_(net.weights(), 5.0)
        wopt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print("torch step %d: %.3f s (cpu %.3f s), loss %.4f" % (s, dt, dc, loss.item()),
              file=sys.stderr)
        if s >= a.warmup:
            times.append(dt)
            cpus.append(dc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "pytorch " + torch.__version__, "batch": a.batch, "threads": a.threads,
                      "images_per_second": a.batch / statistics.median(times),
                      "images_per_second_best": a.batch / min(times),
                      "cpu_seconds_per_step": sum(cpus) / len(cpus),
                      "peak_rss_mb": rss, "params": sum(p.numel() for p in net.weights())}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--input", default="1x28x28")
    p.add_argument("--nasc", default="build/bench/bench_supernet")
    p.add_argument("--skip-torch", action="store_true", help="run the nasc side only")
    p.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    a.input = [int(v) for v in a.input.split("x")]
    if a.torch_only:
        torch_side(a)
        return
    common = ["--batch", str(a.batch), "--threads", str(a.threads), "--steps", str(a.steps),
              "--warmup", str(a.warmup), "--channels", str(a.channels), "--cells", str(a.cells)]
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    n = json.loads(subprocess.run([a.nasc] + common, check=True, stdout=subprocess.PIPE,
                                  text=True, env=env).stdout)
    rows = [n]
    if not a.skip_torch:
        t = json.loads(subprocess.run([sys.executable, __file__, "--torch-only"] + common +
                                      ["--classes", str(a.classes), "--input", "x".join(map(str, a.input))],
                                      check=True, stdout=subprocess.PIPE, text=True, env=env).stdout)
        rows.append(t)
    print("DARTS supernet step (first order), C=%d, %d cells, batch %d, %s input, %d threads" %
          (a.channels, a.cells, a.batch, "x".join(map(str, a.input)), a.threads))
    print("%-22s %10s %11s %13s %13s %10s" % ("", "images/s", "best img/s", "CPU s/step",
                                               "peak RSS MB", "params"))
    for r in rows:
        print("%-22s %10.2f %11.2f %13.2f %13.1f %10d" % (
            r["impl"], r["images_per_second"], r.get("images_per_second_best", 0.0),
            r.get("cpu_seconds_per_step", 0.0), r["peak_rss_mb"], r["params"]))
    if "predicted_mb" in n:
        print("nasc predicted step memory before training: %.1f MB" % n["predicted_mb"])
    if len(rows) == 2:
        t = rows[1]
        print("ratio nasc/pytorch: speed %.2fx (best step %.2fx, CPU time %.2fx), memory %.2fx  "
              "(goal: >= 2x speed, <= 0.5x memory)" %
              (n["images_per_second"] / t["images_per_second"],
               n["images_per_second_best"] / t["images_per_second_best"],
               t["cpu_seconds_per_step"] / n["cpu_seconds_per_step"],
               n["peak_rss_mb"] / t["peak_rss_mb"]))


if __name__ == "__main__":
    main()

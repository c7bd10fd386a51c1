#!/usr/bin/python3
"""Training-step throughput and memory: nasc vs PyTorch, same network, same batch, same threads,
in one run. Each side runs in its own process (so peak memory is its own); prints images/s, peak
RSS and the ratios nasc/PyTorch.

    /usr/bin/python3 bench/train_step.py [--model baseline|darts] [--batch 64] [--threads 2]
        [--steps 20] [--nasc build/bench/bench_train_step]
        [--genotype TEXT] [--channels 16] [--cells 8]      (--model darts)
        [--auxiliary W] [--drop-path P] [--clip NORM]       (--model darts)
        --model nb201 --genotype CELL --channels 16 --cells 5 --input 3x32x32
                                                            (NAS-Bench-201's network)

--model darts: the DARTS network for a genotype (default DARTS_V2; NetworkCIFAR without the
auxiliary head and drop-path); the PyTorch model is tests/ref/gen_space_params.py's DartsNet, the
one that checks nasc's parameter and multiply-add counts. --auxiliary W > 0 adds its auxiliary
head (after cell 2L/3, loss weight W), --drop-path P drops each non-identity op's output per
sample with probability P (as the DARTS code's drop_path), --clip clips the gradient norm: the
DARTS CIFAR evaluation network is
    --model darts --channels 36 --cells 20 --input 3x32x32 --batch 96 --auxiliary 0.4
    --drop-path 0.2 --clip 5 PyTorch (Debian's python3-torch) runs
in channels_last, its fastest layout on this CPU.
"""
import argparse, json, os, resource, statistics, subprocess, sys, time


def torch_side(a):
    import torch
    import torch.nn as nn
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    C, H, W = a.input
    if a.model == "darts":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "tests", "ref"))
        import gen_space_params as ref
        aux = a.auxiliary > 0
        net = ref.DartsNet(a.genotype or ref.DARTS_V2, a.channels, a.cells, a.classes, C,
                           aux, max(1, H // 4 - 5)).to(memory_format=torch.channels_last)
        if aux or a.drop_path > 0:
            net.forward = darts_forward(torch, nn, net, a.drop_path)
        return run_steps(a, torch, nn, net)
    if a.model == "nb201":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "tests", "ref"))
        import gen_space_params as ref
        net = ref.NB201Net(a.genotype, a.channels, a.cells, a.classes, C).to(
            memory_format=torch.channels_last)
        return run_steps(a, torch, nn, net)
    if a.model != "baseline":
        raise SystemExit("torch side: unknown model " + a.model)
    layers, cin = [], C
    for i, c in enumerate([32, 32, 64, 64, 128]):
        layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
        cin = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.25), nn.Linear(cin, a.classes)]
    net = nn.Sequential(*layers).to(memory_format=torch.channels_last)
    return run_steps(a, torch, nn, net)


def darts_forward(torch, nn, net, drop):
    """DartsNet's forward with the DARTS code's drop_path on non-identity ops and the auxiliary
    logits (after cell 2L/3) returned as a second output in training."""
    def drop_path(h):
        keep = 1.0 - drop
        mask = torch.empty(h.size(0), 1, 1, 1).bernoulli_(keep)
        return h.div(keep).mul(mask)

    def cell_forward(cell, s0, s1):
        st = [cell.pre0(s0), cell.pre1(s1)]
        for n in range(4):
            hs = []
            for k in (2 * n, 2 * n + 1):
                h = cell.ops[k](st[cell.idx[k]])
                if drop > 0 and net.training and not isinstance(cell.ops[k], nn.Identity):
                    h = drop_path(h)
                hs.append(h)
            st.append(hs[0] + hs[1])
        return torch.cat(st[2:], dim=1)

    def forward(x):
        s0 = s1 = net.stem(x)
        aux = None
        for i, cell in enumerate(net.cells):
            s0, s1 = s1, cell_forward(cell, s0, s1)
            if i == 2 * len(net.cells) // 3 and net.aux is not None and net.training:
                aux = net.aux(s1)
        logits = net.classifier(net.pool(s1).flatten(1))
        return (logits, aux) if aux is not None else logits
    return forward


def run_steps(a, torch, nn, net):
    C, H, W = a.input
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, C, H, W).to(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.batch,))
    lossf = nn.CrossEntropyLoss()
    rates = []
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = net(x)
        if isinstance(out, tuple):
            loss = lossf(out[0], y) + a.auxiliary * lossf(out[1], y)
        else:
            loss = lossf(out, y)
        loss.backward()
        if a.clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), a.clip)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            rates.append(a.batch / dt)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "pytorch " + torch.__version__, "model": a.model, "batch": a.batch,
                      "threads": a.threads, "images_per_second": statistics.median(rates),
                      "peak_rss_mb": rss, "params": sum(p.numel() for p in net.parameters())}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="baseline")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--input", default="1x28x28")
    p.add_argument("--genotype", default="", help="--model darts: genotype (default DARTS_V2)")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells", type=int, default=8)
    p.add_argument("--auxiliary", type=float, default=0.0)
    p.add_argument("--drop-path", type=float, default=0.0)
    p.add_argument("--clip", type=float, default=0.0)
    p.add_argument("--nasc", default="build/bench/bench_train_step")
    p.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    a.input = [int(v) for v in a.input.split("x")]
    if a.torch_only:
        torch_side(a)
        return
    common = ["--model", a.model, "--batch", str(a.batch), "--threads", str(a.threads),
              "--steps", str(a.steps), "--warmup", str(a.warmup), "--classes", str(a.classes),
              "--input", "x".join(map(str, a.input)), "--channels", str(a.channels),
              "--cells", str(a.cells), "--auxiliary", str(a.auxiliary),
              "--drop-path", str(a.drop_path), "--clip", str(a.clip)]
    if a.genotype:
        common += ["--genotype", a.genotype]
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    n = json.loads(subprocess.run([a.nasc] + common, check=True, capture_output=True, text=True,
                                  env=env).stdout)
    t = json.loads(subprocess.run([sys.executable, __file__, "--torch-only"] + common, check=True,
                                  capture_output=True, text=True, env=env).stdout)
    print("%-22s %12s %12s %10s" % ("", "images/s", "peak RSS MB", "params"))
    for r in (n, t):
        print("%-22s %12.1f %12.1f %10d" % (r["impl"], r["images_per_second"], r["peak_rss_mb"],
                                            r["params"]))
    print("ratio nasc/pytorch: speed %.2fx, memory %.2fx" %
          (n["images_per_second"] / t["images_per_second"], n["peak_rss_mb"] / t["peak_rss_mb"]))


if __name__ == "__main__":
    main()

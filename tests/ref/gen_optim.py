#!/usr/bin/python3
"""Reference values for nasc's optimizers, clipping and schedule, from PyTorch.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_optim.py > tests/ref/optim_ref.txt
The output is committed, so CI needs no PyTorch. Format: '# ' comment lines, then one case per
line: NAME v0 v1 ... (float32 values printed with 9 significant digits).
"""
import math
import torch

torch.manual_seed(0)
N = 11
W0 = (torch.rand(N, dtype=torch.float64) * 2 - 1).float()
GRADS = [(torch.rand(N, dtype=torch.float64) * 2 - 1).float() for _ in range(5)]


def run(make_opt):
    w = torch.nn.Parameter(W0.clone())
    opt = make_opt([w])
    for g in GRADS:
        opt.zero_grad()
        w.grad = g.clone()
        opt.step()
    return w.detach()


def line(name, vals):
    print(name + " " + " ".join("%.9g" % float(v) for v in vals))


print("# torch %s; W0 and 5 gradients, then final weights per optimizer" % torch.__version__)
line("w0", W0)
for i, g in enumerate(GRADS):
    line("g%d" % i, g)
line("sgd", run(lambda p: torch.optim.SGD(p, lr=0.1)))
line("sgd_wd", run(lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01)))
line("sgd_mom", run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=3e-4)))
line("sgd_nesterov", run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                    weight_decay=1e-3)))
line("adam", run(lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-3)))
line("adam_betas", run(lambda p: torch.optim.Adam(p, lr=3e-4, betas=(0.5, 0.999),
                                                  weight_decay=1e-3)))
line("adamw", run(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05)))

# clip_grad_norm_: returns the norm, scales the gradient
w = torch.nn.Parameter(W0.clone())
w.grad = GRADS[0].clone() * 10
norm = torch.nn.utils.clip_grad_norm_([w], 1.5)
line("clip_norm", [norm])
line("clip_grad", w.grad)

# cosine schedule: CosineAnnealingLR(T_max=10, eta_min=0.001) from lr 0.025, 12 steps
w = torch.nn.Parameter(W0.clone())
opt = torch.optim.SGD([w], lr=0.025)
sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
lrs = []
for _ in range(12):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sch.step()
line("cosine_lr", lrs)

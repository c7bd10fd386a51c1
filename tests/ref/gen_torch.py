#!/usr/bin/python3
"""gen_torch.py - writes the PyTorch reference values of tests/ref/*.bin.

Run from anywhere with Debian's python3-torch (the system interpreter, not a pyenv one):

    /usr/bin/python3 tests/ref/gen_torch.py            # rewrites tests/ref/ops.bin and sgd.bin
    /usr/bin/python3 tests/ref/gen_torch.py --check    # also reports float32-torch headroom

The output is deterministic (fixed seeds, one thread, no timestamps), so re-running it with the
same torch gives byte-identical files; a diff in git means the generator or torch changed.

What is written (file format: docs/FORMAT_REF.md, "Reference value files"):

  ops.bin  one group of tensors per op case, named "<case>/<tensor>":
             <case>/params     the op's parameters as floats (meaning per op, see OP_PARAMS below)
             <case>/<input>    every input (float32, as the C test feeds them)
             <case>/out        the op's output
             <case>/R          a fixed random tensor of the output's shape; the loss is sum(out * R)
             <case>/d<input>   d loss / d input for every differentiable input
             <case>/<buf>_after batch-norm running statistics after the training-mode update
  sgd.bin  a small conv net trained for 3 SGD steps (see SgdNet below): inputs, labels, initial
           weights, the gradients of step 0, the 3 losses, the weights and running stats after,
           and each weight's change over the 3 steps.

Precision: inputs are drawn in float32 and written as float32. References are computed by PyTorch
in float64 from exactly those float32 values, then rounded to float32 once. They are therefore the
exactly rounded answer (up to float64 rounding), not PyTorch's float32 kernels' answer, and any
correct float32 implementation should sit within a few ulps plus its own accumulation error.
With --check the script also runs every case in float32 PyTorch and prints, per tensor, the
absolute floor (as a multiple of the tensor's max |value|) that float32 PyTorch itself needs at
rtol 1e-4: evidence for the floors chosen in tests/ref/test_ref_*.c.

Layouts: every tensor is written as a logical (N,C,H,W) tensor in nasc's NHWC storage order;
vectors (C,) as (1,C,1,1), matrices (N,F) as (N,F,1,1), scalars as (1,1,1,1). Conv weights
(K,C/G,KH,KW) therefore come out [K][KH][KW][C/G] (OHWI), as nasc stores them. nasc_linear on a 4-D
input flattens in storage (H,W,C) order while PyTorch flattens (C,H,W): the 4-D linear case writes
its weight with columns permuted to (H,W,C) order, so both sides compute the same function.

Dropout and drop-path are not here: their masks come from nasc's Philox stream and cannot match
PyTorch's RNG; tests/ref/test_ref_ops.c checks their properties instead.
"""
import argparse
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

MAGIC = b"NASC_REF"
VERSION = 1
NAME_BYTES = 48
HEADER_BYTES = 32

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

F64 = torch.float64


def f32(v):
    """v rounded to float32: op constants are given as the float the C side passes."""
    return float(torch.tensor(v, dtype=torch.float32))


# ----------------------------------------------------------------------------- file writer

def to_nasc(t):
    """A tensor of 0..4 dims -> (4-D logical shape, float32 bytes in NHWC storage order)."""
    t = t.detach()
    if t.dim() == 0:
        t = t.reshape(1, 1, 1, 1)
    elif t.dim() == 1:
        t = t.reshape(1, -1, 1, 1)
    elif t.dim() == 2:
        t = t.reshape(t.shape[0], t.shape[1], 1, 1)
    elif t.dim() == 3:
        raise ValueError("3-D tensors have no nasc layout")
    shape = tuple(int(s) for s in t.shape)
    data = t.to(torch.float32).permute(0, 2, 3, 1).contiguous().numpy().astype("<f4").tobytes()
    return shape, data


class RefFile:
    def __init__(self):
        self.records = []
        self.names = set()

    def add(self, name, t):
        if name in self.names:
            raise ValueError(f"duplicate tensor name {name}")
        if len(name.encode()) >= NAME_BYTES:
            raise ValueError(f"name too long: {name}")
        self.names.add(name)
        shape, data = to_nasc(t)
        self.records.append((name, shape, data))

    def write(self, path, info):
        body = bytearray()
        info_b = info.encode()
        body += info_b
        for name, shape, data in self.records:
            body += name.encode().ljust(NAME_BYTES, b"\0")
            body += struct.pack("<4i", *shape)
            body += data
        total = HEADER_BYTES + len(body)
        header = MAGIC + struct.pack("<IIIIQ", VERSION, len(info_b), len(self.records),
                                     zlib.crc32(bytes(body)) & 0xFFFFFFFF, total)
        assert len(header) == HEADER_BYTES
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
        return total


# ----------------------------------------------------------------------------- op cases

CHECK = []  # (case, tensor, float32-torch headroom) filled with --check


def gen(name, kind):
    """A torch generator seeded from the case name (adding a case changes no other case)."""
    g = torch.Generator()
    g.manual_seed(zlib.crc32(f"{name}/{kind}".encode()))
    return g


def randn(name, kind, *shape, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=gen(name, kind), dtype=torch.float32) * scale + shift


def run_case(rf, name, fn, inputs, params=(), grad=None, buffers=(), layout=None, check=False):
    """One op case.

    fn(**tensors) -> output; inputs: dict name -> float32 tensor; grad: names of the inputs whose
    gradient is written (default: all but buffers); buffers: inputs that fn updates in place
    (batch-norm running stats), written again as <name>_after; layout: dict name -> function
    mapping a PyTorch-layout tensor to the nasc-layout one (applied to the input and its grad).
    """
    layout = layout or {}
    grad = list(inputs) if grad is None else grad
    grad = [k for k in grad if k not in buffers]
    results = {}
    for dtype in ([F64, torch.float32] if check else [F64]):
        leaves = {}
        for k, v in inputs.items():
            t = v.to(dtype).clone()
            if k in grad:
                t.requires_grad_(True)
            leaves[k] = t
        out = fn(**leaves)
        R = randn(name, "R", *out.shape) if out.dim() > 0 else randn(name, "R", 1).reshape(())
        (out * R.to(dtype)).sum().backward()
        res = {"out": out.detach(), "R": R}
        for k in grad:
            res["d" + k] = leaves[k].grad
        for k in buffers:
            res[k + "_after"] = leaves[k].detach()
        results[dtype] = res
    ref = results[F64]
    rf.add(f"{name}/params", torch.tensor([float(p) for p in params] or [0.0]))
    for k, v in inputs.items():
        rf.add(f"{name}/{k}", layout.get(k, lambda t: t)(v))
    for k, v in ref.items():
        base = k[1:] if k.startswith("d") and k[1:] in layout else None
        v = layout[base](v) if base else v
        rf.add(f"{name}/{k}", v)
    if check:
        for k, v in results[torch.float32].items():
            if k == "R":
                continue
            want = ref[k].to(F64)
            got = v.to(F64)
            scale = float(want.abs().max()) or 1.0
            need = float(((got - want).abs() - 1e-4 * want.abs()).clamp(min=0).max()) / scale
            CHECK.append((name, k, need))


def conv_case(rf, name, x, w, b, stride, pad, dil, groups, check):
    def fn(x, w, b=None):
        return F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)

    inputs = {"x": x, "w": w}
    if b is not None:
        inputs["b"] = b
    run_case(rf, name, fn, inputs, params=(*stride, *pad, *dil, groups), check=check)


def op_cases(check):
    rf = RefFile()

    # conv2d: params = sh, sw, ph, pw, dh, dw, groups
    convs = [
        # name,             x shape,        w shape,        bias, stride, pad,    dil,   groups
        ("conv3x3_p1",      (2, 3, 6, 6),   (4, 3, 3, 3),   True,  (1, 1), (1, 1), (1, 1), 1),
        ("conv3x3_s2_odd",  (2, 3, 7, 7),   (4, 3, 3, 3),   True,  (2, 2), (1, 1), (1, 1), 1),
        ("conv3x3_d2",      (2, 2, 8, 8),   (3, 2, 3, 3),   False, (1, 1), (2, 2), (2, 2), 1),
        ("conv3x3_g2",      (2, 4, 6, 6),   (6, 2, 3, 3),   True,  (1, 1), (1, 1), (1, 1), 2),
        ("conv_dw3x3",      (2, 4, 6, 6),   (4, 1, 3, 3),   False, (1, 1), (1, 1), (1, 1), 4),
        ("conv_dw3x3_s2",   (2, 4, 7, 7),   (4, 1, 3, 3),   False, (2, 2), (1, 1), (1, 1), 4),
        ("conv_dw5x5_d2",   (2, 3, 9, 9),   (3, 1, 5, 5),   False, (1, 1), (4, 4), (2, 2), 3),
        ("conv_dw5x5_p2",   (2, 4, 6, 6),   (4, 1, 5, 5),   True,  (1, 1), (2, 2), (1, 1), 4),
        ("conv1x1",         (2, 5, 5, 5),   (6, 5, 1, 1),   True,  (1, 1), (0, 0), (1, 1), 1),
        ("conv1x1_s2",      (2, 5, 6, 6),   (6, 5, 1, 1),   False, (2, 2), (0, 0), (1, 1), 1),
        ("conv1x5",         (2, 3, 6, 8),   (4, 3, 1, 5),   True,  (1, 1), (0, 2), (1, 1), 1),
        ("conv3x2_asym",    (2, 2, 5, 6),   (3, 2, 3, 2),   True,  (1, 2), (2, 1), (2, 1), 1),
        ("conv3x3_wide",    (1, 16, 5, 5),  (16, 16, 3, 3), True,  (1, 1), (1, 1), (1, 1), 1),
    ]
    for name, xs, ws, bias, stride, pad, dil, groups in convs:
        x = randn(name, "x", *xs)
        w = randn(name, "w", *ws, scale=0.5)
        b = randn(name, "b", ws[0], scale=0.5) if bias else None
        conv_case(rf, name, x, w, b, stride, pad, dil, groups, check)

    # pooling: params = kh, kw, sh, sw, ph, pw, count_include_pad
    pools = [
        ("maxpool3x3_s1_p1",       "max", (2, 3, 6, 6), (3, 3), (1, 1), (1, 1), False),
        ("maxpool3x3_s2_p1",       "max", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False),
        ("maxpool2x2_s2",          "max", (2, 3, 7, 6), (2, 2), (2, 2), (0, 0), False),
        ("avgpool3x3_s1_p1_incl",  "avg", (2, 3, 6, 6), (3, 3), (1, 1), (1, 1), True),
        ("avgpool3x3_s1_p1_excl",  "avg", (2, 3, 6, 6), (3, 3), (1, 1), (1, 1), False),
        ("avgpool3x3_s2_p1_incl",  "avg", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1), True),
        ("avgpool3x3_s2_p1_excl",  "avg", (2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False),
        ("avgpool2x2_s2",          "avg", (2, 3, 7, 6), (2, 2), (2, 2), (0, 0), True),
    ]
    # ties: small integers, so most windows hold several equal maxima. PyTorch's CPU kernel keeps
    # the first maximum in row-major window order and routes the gradient there; so must nasc.
    pools += [
        ("maxpool3x3_s1_p1_ties",  "max", (2, 3, 6, 6), (3, 3), (1, 1), (1, 1), False),
        ("maxpool2x2_s2_ties",     "max", (2, 3, 6, 6), (2, 2), (2, 2), (0, 0), False),
    ]
    for name, kind, xs, k, s, p, cip in pools:
        x = randn(name, "x", *xs)
        if name.endswith("_ties"):
            x = torch.randint(-2, 2, xs, generator=gen(name, "x")).to(torch.float32)
        if kind == "max":
            def fn(x, k=k, s=s, p=p):
                return F.max_pool2d(x, k, s, p)
        else:
            def fn(x, k=k, s=s, p=p, cip=cip):
                return F.avg_pool2d(x, k, s, p, ceil_mode=False, count_include_pad=cip)
        run_case(rf, name, fn, {"x": x}, params=(*k, *s, *p, int(cip)), check=check)

    name = "global_avgpool"
    run_case(rf, name, lambda x: F.adaptive_avg_pool2d(x, 1), {"x": randn(name, "x", 2, 4, 5, 3)},
             check=check)

    # batch norm: params = eps, momentum, training
    eps, mom = f32(1e-5), f32(0.1)
    for name, affine, running, training in [
        ("bn_train_affine",         True,  True,  True),
        ("bn_train_noaffine",       False, True,  True),
        ("bn_train_affine_nostats", True,  False, True),
        ("bn_eval_affine",          True,  True,  False),
        ("bn_eval_noaffine",        False, True,  False),
    ]:
        C = 3
        inputs = {"x": randn(name, "x", 4, C, 3, 3, scale=2.0, shift=0.5)}
        if affine:
            inputs["gamma"] = randn(name, "gamma", C, scale=0.5, shift=1.0)
            inputs["beta"] = randn(name, "beta", C, scale=0.5)
        if running:
            inputs["running_mean"] = randn(name, "running_mean", C, scale=0.3)
            inputs["running_var"] = randn(name, "running_var", C).abs() + 0.5

        def fn(x, gamma=None, beta=None, running_mean=None, running_var=None,
               training=training):
            return F.batch_norm(x, running_mean, running_var, gamma, beta, training=training,
                                momentum=mom, eps=eps)
        buffers = ("running_mean", "running_var") if running else ()
        run_case(rf, name, fn, inputs, params=(eps, mom, int(training)), buffers=buffers,
                 check=check)

    # element-wise
    # relu: every 7th value exactly 0, where PyTorch's gradient is 0 (threshold_backward, y > 0)
    name = "relu"
    x = randn(name, "x", 2, 3, 4, 5)
    x.view(-1)[::7] = 0.0
    run_case(rf, name, lambda x: F.relu(x), {"x": x}, check=check)
    for name, f in [("sigmoid", torch.sigmoid), ("tanh", torch.tanh)]:
        run_case(rf, name, lambda x, f=f: f(x), {"x": randn(name, "x", 2, 3, 4, 5, scale=2.0)},
                 check=check)

    # add / mul with b broadcast to a's shape
    for op, f in [("add", torch.add), ("mul", torch.mul)]:
        for suffix, bs in [("same", (2, 3, 4, 5)), ("bcast_c", (1, 3, 1, 1)),
                           ("bcast_n", (2, 1, 1, 1)), ("bcast_nc", (2, 3, 1, 1)),
                           ("scalar", (1, 1, 1, 1))]:
            name = f"{op}_{suffix}"
            run_case(rf, name, lambda a, b, f=f: f(a, b),
                     {"a": randn(name, "a", 2, 3, 4, 5), "b": randn(name, "b", *bs)},
                     check=check)

    name = "scale"
    s = f32(-0.7)
    run_case(rf, name, lambda x: x * s, {"x": randn(name, "x", 2, 3, 4, 5)}, params=(s,),
             check=check)

    # moving data
    name = "concat3"
    run_case(rf, name, lambda x0, x1, x2: torch.cat([x0, x1, x2], 1),
             {"x0": randn(name, "x0", 2, 2, 3, 4), "x1": randn(name, "x1", 2, 3, 3, 4),
              "x2": randn(name, "x2", 2, 1, 3, 4)}, check=check)
    # slice: params = c0, c1, h0, w0, sh, sw; out = x[:, c0:c1, h0::sh, w0::sw]
    for name, xs, (c0, c1, h0, w0, sh, sw) in [
        ("slice_factorized_reduce", (2, 3, 6, 6), (0, 3, 1, 1, 2, 2)),
        ("slice_factorized_odd",    (2, 3, 7, 5), (0, 3, 1, 1, 2, 2)),
        ("slice_channels",          (2, 8, 3, 3), (2, 6, 0, 0, 1, 1)),
        ("slice_mixed",             (2, 5, 7, 8), (1, 4, 0, 1, 2, 3)),
    ]:
        run_case(rf, name, lambda x, c0=c0, c1=c1, h0=h0, w0=w0, sh=sh, sw=sw:
                 x[:, c0:c1, h0::sh, w0::sw], {"x": randn(name, "x", *xs)},
                 params=(c0, c1, h0, w0, sh, sw), check=check)

    # DARTS factorized reduce, the composite: relu, then two 1x1 stride-2 convs, one on
    # x[:, :, 1:, 1:], concatenated. nasc builds the shifted path as slice {0,C,1,1,2,2} + 1x1 conv
    # stride 1, the same function.
    name = "factorized_reduce"
    run_case(rf, name,
             lambda x, w1, w2: torch.cat([F.conv2d(F.relu(x), w1, stride=2),
                                          F.conv2d(F.relu(x)[:, :, 1:, 1:], w2, stride=2)], 1),
             {"x": randn(name, "x", 2, 4, 6, 6), "w1": randn(name, "w1", 3, 4, 1, 1),
              "w2": randn(name, "w2", 3, 4, 1, 1)}, check=check)

    # reshape (N,C,H,W) -> (N, H*W*C): nasc keeps storage order, i.e. PyTorch's NHWC flatten.
    name = "reshape_flatten"
    run_case(rf, name, lambda x: x.permute(0, 2, 3, 1).reshape(2, -1),
             {"x": randn(name, "x", 2, 3, 2, 2)}, check=check)

    # linear
    name = "linear"
    run_case(rf, name, lambda x, w, b: F.linear(x, w, b),
             {"x": randn(name, "x", 4, 6), "w": randn(name, "w", 5, 6, scale=0.5),
              "b": randn(name, "b", 5)}, check=check)
    name = "linear_nobias"
    run_case(rf, name, lambda x, w: F.linear(x, w),
             {"x": randn(name, "x", 3, 7), "w": randn(name, "w", 2, 7, scale=0.5)}, check=check)
    # 4-D input: PyTorch flattens (C,H,W); nasc flattens storage (H,W,C). The weight is written
    # with its columns in (H,W,C) order, so nasc_linear(x, w_nasc) == F.linear(x.flatten(1), w).
    name = "linear_flatten4d"
    N, C, H, W, K = 2, 3, 2, 2, 4

    def hwc_cols(w):
        return w.reshape(K, C, H, W).permute(0, 2, 3, 1).reshape(K, C * H * W)
    run_case(rf, name, lambda x, w, b: F.linear(x.flatten(1), w, b),
             {"x": randn(name, "x", N, C, H, W), "w": randn(name, "w", K, C * H * W, scale=0.5),
              "b": randn(name, "b", K)}, layout={"w": hwc_cols}, check=check)

    # softmax family over C (dim 1), also per pixel on 4-D inputs
    for name, f, xs in [("softmax", F.softmax, (3, 5)), ("softmax_pixel", F.softmax, (2, 4, 2, 3)),
                        ("log_softmax", F.log_softmax, (3, 5)),
                        ("log_softmax_pixel", F.log_softmax, (2, 4, 2, 3))]:
        run_case(rf, name, lambda x, f=f: f(x, dim=1), {"x": randn(name, "x", *xs, scale=2.0)},
                 check=check)

    # cross entropy (mean over the batch): params = smoothing; labels written as floats (N,1,1,1)
    labels = torch.tensor([3, 0, 4, 1, 2, 4, 0])
    for name, s in [("cross_entropy", 0.0), ("cross_entropy_smooth0.1", f32(0.1))]:
        rf.add(f"{name}/labels", labels.to(torch.float32).reshape(-1, 1, 1, 1))
        run_case(rf, name, lambda logits, s=s: F.cross_entropy(logits, labels, label_smoothing=s),
                 {"logits": randn(name, "logits", 7, 5, scale=2.0)}, params=(s,), check=check)

    for name, f in [("sum", torch.sum), ("mean", torch.mean)]:
        run_case(rf, name, lambda x, f=f: f(x), {"x": randn(name, "x", 2, 3, 4, 5)}, check=check)

    # supernet ops (oneshot). weighted sum: params = the flat indices into w of the terms x0..x2;
    # w is a (2,4) matrix like softmax(alpha) rows, written as (2,4,1,1).
    name, idx = "weighted_sum", (1, 6, 7)
    run_case(rf, name, lambda w, x0, x1, x2: sum(w.flatten()[i] * x for i, x in zip(idx, (x0, x1, x2))),
             {"w": randn(name, "w", 2, 4), "x0": randn(name, "x0", 2, 3, 4, 5),
              "x1": randn(name, "x1", 2, 3, 4, 5), "x2": randn(name, "x2", 2, 3, 4, 5)},
             params=idx, check=check)
    # channel shuffle (PC-DARTS): params = groups
    for name, xs, groups in [("channel_shuffle_g4", (2, 8, 3, 2), 4),
                             ("channel_shuffle_g3", (1, 12, 2, 3), 3)]:
        def fn(x, G=groups):
            n, c, h, w = x.shape
            return x.view(n, G, c // G, h, w).transpose(1, 2).reshape(n, c, h, w)
        run_case(rf, name, fn, {"x": randn(name, "x", *xs)}, params=(groups,), check=check)
    return rf


# ----------------------------------------------------------------------------- SGD net

SGD_LR, SGD_MOMENTUM, SGD_WD, SGD_STEPS = 0.1, 0.9, 1e-4, 3


class SgdNet(torch.nn.Module):
    """conv3x3(1->4)+BN+ReLU -> sep conv (depthwise 3x3, 1x1 4->8) + BN + ReLU -> maxpool 2 ->
    global avgpool -> linear(8->10). Convs have no bias (a bias before BN gets no gradient)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.dw = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
        self.pw = torch.nn.Conv2d(4, 8, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.pw(self.dw(h))))
        h = F.max_pool2d(h, 2, 2)
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(h)


SGD_PARAMS = ["conv1.weight", "bn1.weight", "bn1.bias", "dw.weight", "pw.weight", "bn2.weight",
              "bn2.bias", "fc.weight", "fc.bias"]
SGD_BUFFERS = ["bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"]


def sgd_train(net0, x, labels, dtype):
    """3 steps of torch.optim.SGD (d = g + wd*w; buf = m*buf + d; w -= lr*buf)."""
    net = SgdNet()
    net.load_state_dict(net0.state_dict())
    net = net.to(dtype).train()
    opt = torch.optim.SGD(net.parameters(), lr=SGD_LR, momentum=SGD_MOMENTUM,
                          weight_decay=SGD_WD)
    losses, grads0 = [], None
    for step in range(SGD_STEPS):
        opt.zero_grad()
        loss = F.cross_entropy(net(x.to(dtype)), labels)
        loss.backward()
        losses.append(float(loss))
        if step == 0:
            grads0 = {k: p.grad.detach().clone() for k, p in net.named_parameters()}
        opt.step()
    return net, losses, grads0


def sgd_case(check):
    rf = RefFile()
    torch.manual_seed(20240601)
    net0 = SgdNet()
    g = gen("sgd", "x")
    x = torch.randn(4, 1, 12, 12, generator=g, dtype=torch.float32)
    labels = torch.tensor([3, 7, 1, 9])
    rf.add("sgd/hyper", torch.tensor([SGD_LR, SGD_MOMENTUM, SGD_WD, SGD_STEPS], dtype=F64))
    rf.add("sgd/x", x)
    rf.add("sgd/labels", labels.to(torch.float32).reshape(-1, 1, 1, 1))
    sd0 = net0.state_dict()
    for k in SGD_PARAMS + SGD_BUFFERS:
        rf.add(f"sgd/init/{k}", sd0[k])
    net, losses, grads0 = sgd_train(net0, x, labels, F64)
    rf.add("sgd/losses", torch.tensor(losses, dtype=F64))
    for k in SGD_PARAMS:
        rf.add(f"sgd/grad0/{k}", grads0[k])
    sd = net.state_dict()
    for k in SGD_PARAMS + SGD_BUFFERS:
        rf.add(f"sgd/final/{k}", sd[k])
    # The change of each parameter over the 3 steps, from float64 weights: the final weights alone
    # hide the optimizer's details (weight decay moves them by ~6e-5 relative, under the 1e-4
    # tolerance), while its share of the change is ~1e-3 relative.
    for k in SGD_PARAMS:
        rf.add(f"sgd/delta/{k}", sd[k] - sd0[k].to(F64))
    if check:
        _, l32, _ = sgd_train(net0, x, labels, torch.float32)
        print("sgd losses float64:", " ".join(f"{v:.9g}" for v in losses))
        print("sgd losses float32:", " ".join(f"{v:.9g}" for v in l32),
              " max rel diff %.2e" % max(abs(a - b) / abs(a) for a, b in zip(losses, l32)))
    return rf


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="directory for ops.bin and sgd.bin (default: this script's)")
    ap.add_argument("--check", action="store_true",
                    help="also run every case in float32 and report the floors it needs")
    args = ap.parse_args()
    info = (f"torch {torch.__version__}; generator tests/ref/gen_torch.py; "
            f"references computed in float64, stored as float32 NHWC")
    for fname, rf in [("ops.bin", op_cases(args.check)), ("sgd.bin", sgd_case(args.check))]:
        path = os.path.join(args.out, fname)
        n = rf.write(path, info)
        print(f"{path}: {len(rf.records)} tensors, {n} bytes")
    if args.check:
        print("float32 PyTorch vs float64 reference: atol needed at rtol 1e-4, "
              "as a multiple of max|want| (worst 15):")
        for name, k, need in sorted(CHECK, key=lambda c: -c[2])[:15]:
            print(f"  {name}/{k}: {need:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

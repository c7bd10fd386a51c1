"""torch_run.py MODULE.py PIXELS.f32 N C H W OUT.f32 — runs a `nasc export --format pytorch`
module with Debian's PyTorch: in eval mode on N images (raw float32 NCHW pixels in [0,1], batches
of 64), writing the logits as raw float32 (N x classes); then checks that train mode works and
gradients flow: one forward in train mode on 16 images, cross-entropy, backward, and every
parameter must receive a finite gradient, not all zero; one SGD step must change the loss.
For the spaces written as classes (darts, nb201, mobilenet), the network must be built of them
and GENOTYPE must be the architecture ARCH names. Used by tests/e2e/test_export_pytorch.c."""
import importlib.util
import sys

import numpy as np
import torch
import torch.nn.functional as F


# the classes each space's module builds its network from
STRUCTURE = {
    "darts": ("Cell", "ReLUConvBN", "FactorizedReduce"),
    "nb201": ("Cell", "ResNetBasicblock", "ReLUConvBN"),
    "mobilenet": ("InvertedResidual",),
}


def check_structure(mod, net):
    for cls in STRUCTURE.get(mod.SPACE, ()):
        if not any(isinstance(m, getattr(mod, cls)) for m in net.modules()):
            raise SystemExit(f"{mod.SPACE}: the network has no {cls} module")
    if mod.SPACE == "darts" and repr(mod.GENOTYPE) != mod.ARCH:
        raise SystemExit(f"darts: GENOTYPE {mod.GENOTYPE!r} is not ARCH {mod.ARCH}")
    if mod.SPACE == "nb201":
        text = "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|"
                        for node in mod.GENOTYPE)
        if text != mod.ARCH:
            raise SystemExit(f"nb201: GENOTYPE reads {text}, ARCH is {mod.ARCH}")
    if mod.SPACE == "mobilenet":
        text = ",".join(f"e{e}k{k}d{d}" for e, k, d in mod.STAGES)
        if text != mod.ARCH:
            raise SystemExit(f"mobilenet: STAGES reads {text}, ARCH is {mod.ARCH}")


def main():
    mod_path, pixels, n, c, h, w, out = sys.argv[1:8]
    n, c, h, w = int(n), int(c), int(h), int(w)
    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location("nasc_export", mod_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    x = np.fromfile(pixels, dtype="<f4")
    if x.size != n * c * h * w:
        raise SystemExit(f"{pixels}: {x.size} floats, expected {n * c * h * w}")
    x = torch.from_numpy(x.reshape(n, c, h, w))
    net = mod.load()
    check_structure(mod, net)
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x[i:i + 64]) for i in range(0, n, 64)])
    assert logits.shape == (n, mod.CLASSES), logits.shape
    logits.numpy().astype("<f4").tofile(out)

    # train mode: gradients reach every parameter
    net.train()
    xb, yb = x[:16], torch.arange(16) % mod.CLASSES
    torch.manual_seed(0)  # the same dropout / drop-path masks in both forwards
    loss = F.cross_entropy(net(xb), yb)
    loss.backward()
    n_params = 0
    for name, p in net.named_parameters():
        n_params += 1
        if p.grad is None or not torch.isfinite(p.grad).all():
            raise SystemExit(f"train mode: parameter {name} got no finite gradient")
    if n_params == 0 or all(float(p.grad.abs().sum()) == 0.0 for p in net.parameters()):
        raise SystemExit("train mode: no gradient flows")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    opt.step()
    torch.manual_seed(0)
    loss2 = F.cross_entropy(net(xb), yb)
    if float(loss2) == float(loss):
        raise SystemExit("train mode: an SGD step did not change the loss")
    print(f"torch {torch.__version__}: {n} images; train mode: {n_params} parameters with "
          f"gradients, loss {float(loss):.4f} -> {float(loss2):.4f} after one SGD step")


if __name__ == "__main__":
    main()

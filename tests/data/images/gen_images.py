#!/usr/bin/python3
"""Writes the image-folder fixtures of tests/unit/test_data_images.c and tests/e2e/test_images_cli.c
(Debian python3-pil; run from anywhere, rewrites tests/data/images/):

  mixed/   train/{cat,dog}, test/{cat,dog}: JPEG and PNG, colour and grey, PGM/PPM, RGBA, other
           sizes, and a text file (ignored by name); the exact pixels the C test expects are
           formulas here (pattern()) or constant colours.
  flat/    {a,b,c}/: no train/ and test/ (held-out split), 4x4 PNGs
  bad/     train/{cat,dog}, test/{cat,dog}: a truncated JPEG and a text file named .png
  cifar/   train/<class>/ 2 and test/<class>/ 1 JPEG per class, copied unchanged from the CIFAR-10
           JPEG archive (shared/data/cifar10-jpeg.tar.gz, JPEG quality 75), and cifar_pil.bin:
           PIL's RGB decode of the test/ files in sorted path order (10 x 32x32x3 bytes), which
           the C test compares with nasc's decode pixel for pixel, so CI needs no PIL.

  gen_images.py [CIFAR10_JPEG_DIR]   (default /work/runs/images/cifar10-jpeg; without it the
                                      cifar/ folder is left as it is)
"""
import os
import shutil
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def pattern(w, h):
    """RGB pixel (x, y) = (x*30, y*30, (x+y)*10): known exactly after a lossless round trip."""
    im = Image.new("RGB", (w, h))
    im.putdata([(x * 30, y * 30, (x + y) * 10) for y in range(h) for x in range(w)])
    return im


def grey(w, h):
    """Grey pixel (x, y) = 10 + 20*x + 5*y."""
    im = Image.new("L", (w, h))
    im.putdata([10 + 20 * x + 5 * y for y in range(h) for x in range(w)])
    return im


def fresh(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def mixed():
    root = os.path.join(HERE, "mixed")
    fresh(root)
    for d in ("train/cat", "train/dog", "test/cat", "test/dog"):
        os.makedirs(os.path.join(root, d))
    cat = os.path.join(root, "train/cat")
    pattern(8, 8).save(os.path.join(cat, "a.png"))                      # RGB PNG, exact
    pattern(8, 8).save(os.path.join(cat, "b.jpg"), quality=90)          # RGB JPEG, lossy
    grey(8, 8).save(os.path.join(cat, "c.png"))                         # grey PNG -> R=G=B
    pattern(8, 8).save(os.path.join(cat, "d.ppm"))                      # binary PPM, exact
    Image.new("RGB", (16, 12), (200, 100, 50)).save(os.path.join(cat, "e.png"))  # other size
    rgba = pattern(8, 8).convert("RGBA")
    rgba.putalpha(255)
    rgba.save(os.path.join(cat, "f.png"))                               # opaque RGBA
    dog = os.path.join(root, "train/dog")
    grey(8, 8).save(os.path.join(dog, "a.jpg"), quality=90)             # grey JPEG
    grey(8, 8).save(os.path.join(dog, "b.pgm"))                         # binary PGM, exact
    Image.new("RGB", (10, 10), (0, 255, 0)).save(os.path.join(dog, "c.PNG"))  # other size, caps
    with open(os.path.join(dog, "notes.txt"), "w") as f:                # not an image: ignored
        f.write("not an image\n")
    pattern(8, 8).save(os.path.join(root, "test/cat/x.png"))
    grey(8, 8).save(os.path.join(root, "test/dog/y.png"))


def flat():
    root = os.path.join(HERE, "flat")
    fresh(root)
    for k, c in enumerate("abc"):
        os.makedirs(os.path.join(root, c))
        for i in range(5):
            Image.new("L", (4, 4), 40 * k + i).save(os.path.join(root, c, "%d.png" % i))


def bad():
    root = os.path.join(HERE, "bad")
    fresh(root)
    for d in ("train/cat", "train/dog", "test/cat", "test/dog"):
        os.makedirs(os.path.join(root, d))
    pattern(8, 8).save(os.path.join(root, "train/cat/ok.png"))
    pattern(8, 8).save(os.path.join(root, "train/cat/trunc.jpg"), quality=90)
    p = os.path.join(root, "train/cat/trunc.jpg")
    data = open(p, "rb").read()
    open(p, "wb").write(data[: len(data) // 2])                         # cut in the middle
    grey(8, 8).save(os.path.join(root, "train/dog/ok.png"))
    with open(os.path.join(root, "train/dog/text.png"), "w") as f:      # text named .png
        f.write("hello, not a PNG\n")
    pattern(8, 8).save(os.path.join(root, "test/cat/ok.png"))
    grey(8, 8).save(os.path.join(root, "test/dog/ok.png"))


def cifar(src):
    root = os.path.join(HERE, "cifar")
    fresh(root)
    refs = []
    for part, n in (("train", 2), ("test", 1)):
        for cls in sorted(os.listdir(os.path.join(src, part))):
            os.makedirs(os.path.join(root, part, cls))
            for name in sorted(os.listdir(os.path.join(src, part, cls)))[:n]:
                dst = os.path.join(root, part, cls, name)
                shutil.copyfile(os.path.join(src, part, cls, name), dst)
                if part == "test":
                    refs.append(dst)
    with open(os.path.join(HERE, "cifar_pil.bin"), "wb") as f:
        for p in sorted(refs):
            im = Image.open(p)
            assert im.mode == "RGB" and im.size == (32, 32), (p, im.mode, im.size)
            f.write(im.tobytes())


if __name__ == "__main__":
    mixed()
    flat()
    bad()
    src = sys.argv[1] if len(sys.argv) > 1 else "/work/runs/images/cifar10-jpeg"
    if os.path.isdir(src):
        cifar(src)
    print("Pillow", Image.__version__ if hasattr(Image, "__version__") else "?")

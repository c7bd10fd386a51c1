#!/usr/bin/env bash
# bench/export_c/accuracy.sh DIR STEM [N] — the test accuracy of a C export (STEM.c / STEM.h in DIR,
# as `nasc export --format c` or `nasc auto` write them) on the first N (default all 10,000)
# Fashion-MNIST test images: compiles STEM.c with a small driver (cc -std=c99 -O2) and prints
# "STEM accuracy A n N" (A in percent). Exit 77 without Fashion-MNIST or a C compiler.
set -euo pipefail
DIR=$1; STEM=$2; N=${3:-10000}
FM=/usr/share/datasets/fashion-mnist
[ -f $FM/t10k-images-idx3-ubyte.gz ] || { echo "no Fashion-MNIST"; exit 77; }
command -v cc >/dev/null || { echo "no C compiler"; exit 77; }
T=$(mktemp -d /tmp/nasc_c_acc.XXXXXX)
trap 'rm -rf "$T"' EXIT
# the test images and labels as raw bytes (the driver scales the pixels to [0,1])
python3 - "$FM" "$T" "$N" <<'PY'
import gzip, sys
fm, t, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
img = gzip.open(fm + '/t10k-images-idx3-ubyte.gz').read()[16:]
lab = gzip.open(fm + '/t10k-labels-idx1-ubyte.gz').read()[8:]
n = min(n, len(lab))
open(t + '/x.u8', 'wb').write(img[:n * 784])
open(t + '/y.u8', 'wb').write(lab[:n])
PY
UP=$(echo "$STEM" | tr '[:lower:]' '[:upper:]')
cat > "$T/driver.c" <<EOF
#include <stdio.h>
#include "$STEM.h"
int main(int argc, char **argv) {
    static unsigned char b[${UP}_IN_C * ${UP}_IN_H * ${UP}_IN_W];
    static float x[sizeof b], logits[${UP}_N_CLASSES];
    FILE *fx = fopen(argv[1], "rb"), *fy = fopen(argv[2], "rb");
    if (!fx || !fy) return 2;
    long n = 0, ok = 0;
    int y;
    while (fread(b, sizeof b, 1, fx) == 1 && (y = fgetc(fy)) != EOF) {
        for (unsigned i = 0; i < sizeof b; i++) /* 1 channel: HW bytes are the NCHW order */
            x[i] = b[i] / 255.0f;
        ok += ${STEM}_predict(x, logits) == y;
        n++;
    }
    printf("%.2f %ld\n", n ? 100.0 * ok / n : 0.0, n);
    return n ? 0 : 1;
}
EOF
cc -std=c99 -O2 -I"$DIR" "$T/driver.c" "$DIR/$STEM.c" -lm -o "$T/run"
read -r acc n < <("$T/run" "$T/x.u8" "$T/y.u8")
echo "$STEM accuracy $acc n $n"

#!/usr/bin/env bash
# bench/export_c/run.sh BUILD_DIR MODEL.nasc [REPS] — the C export measured in one run: exports
# MODEL as float32 C and as int8 C (calibrated on 256 Fashion-MNIST training images), builds
# timing.c with both and libnasc, and prints accuracy (nasc, float C, int8 C on the 10,000 test
# images), weight and arena bytes, and latency of one image and of a batch of 64 for nasc's
# engine, the float C and the int8 C (one thread each), with their ratios. If onnxruntime-node is
# installed under BUILD_DIR (the ONNX export test installs it), ONNX Runtime is timed too.
# The generated C is compiled with -O2 (as a user would, no -march).
set -eu
BUILD="$(cd "$1" && pwd)"; MODEL="$(realpath "$2")"; REPS="${3:-15}"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
T="$(mktemp -d /tmp/nasc_bench_c.XXXXXX)"
trap 'rm -rf "$T"' EXIT
NASC="$BUILD/nasc"
"$NASC" export --model "$MODEL" --format c --out "$T/netf.c" --name netf
"$NASC" export --model "$MODEL" --format c --out "$T/netq.c" --name netq --quantize int8 \
    --calibration fashion-mnist
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}" OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
libs="$(pkg-config --libs openblas libcjson libprotobuf-c yaml-0.1 lapacke zlib sqlite3) -fopenmp -lpthread -lm"
[ -n "$(find /usr/lib /usr/lib64 -name 'libdnnl.so*' 2>/dev/null | head -1)" ] && libs="$libs -ldnnl"
cc -std=gnu17 -O2 -D_GNU_SOURCE -I"$T" -I"$SRC/include" -I"$SRC/cli" \
   $(pkg-config --cflags libcjson) "$SRC/bench/export_c/timing.c" "$SRC/cli/train_opts.c" \
   "$SRC/cli/args.c" "$T/netf.c" "$T/netq.c" "$BUILD/libnasc.a" $libs -o "$T/timing"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); model $MODEL"
"$T/timing" "$MODEL" "$REPS"

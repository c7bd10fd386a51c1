#!/usr/bin/env bash
# bench/export_c/run.sh BUILD_DIR MODEL.nasc [REPS] — the C export measured in one run: exports
# MODEL as float32 C and as int8 C (calibrated on 256 Fashion-MNIST training images), builds
# timing.c with both and libnasc, and prints accuracy (nasc, float C, int8 C on the 10,000 test
# images), weight and arena bytes, and latency of one image and of a batch of 64 for nasc's
# engine, the float C and the int8 C (one thread each), with their ratios; then the ONNX export of
# MODEL in ONNX Runtime (npm's onnxruntime-node under node, one thread: accuracy, and latency of
# one image and of a batch of 64 timed inside node, session creation excluded, median of REPS),
# with its ratios to the int8 C. onnxruntime-node is installed once into BUILD_DIR/npm-onnxruntime
# with `npm install --ignore-scripts` as the ONNX export test does; without node or npm that part
# is skipped with a message. The generated C is compiled with -O2 (as a user would, no -march).
# REPS is at most 16.
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
# libnasc.so brings its own dependencies (the static library would need them all listed here)
cc -std=gnu17 -O2 -D_GNU_SOURCE -DNASC_VERSION_STRING=\"bench\" -I"$T" -I"$SRC/include" \
   -I"$SRC/cli" $(pkg-config --cflags libcjson) "$SRC/bench/export_c/timing.c" \
   "$SRC/cli/train_opts.c" "$SRC/cli/args.c" "$T/netf.c" "$T/netq.c" "$BUILD/libnasc.so" \
   -Wl,-rpath,"$BUILD" $(pkg-config --libs libcjson) -lm -o "$T/timing"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); model $MODEL"
"$T/timing" "$MODEL" "$REPS" "$T"

NPM_DIR="$BUILD/npm-onnxruntime"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "ONNX Runtime: skipped (node or npm is not installed; scripts/setup installs them)"
    exit 0
fi
if [ ! -f "$NPM_DIR/node_modules/onnxruntime-node/package.json" ]; then
    mkdir -p "$NPM_DIR"
    npm install --ignore-scripts --no-audit --no-fund --prefix "$NPM_DIR" onnxruntime-node >/dev/null
fi
"$NASC" export --model "$MODEL" --format onnx --out "$T/net.onnx" >/dev/null
read -r q1 q64 < "$T/int8_ms"
NODE_PATH="$NPM_DIR/node_modules" node "$SRC/bench/export_c/ort_time.js" "$T/net.onnx" \
    "$T/pixels.f32" "$T/labels.u8" 10000 1 28 28 "$REPS" "$q1" "$q64"

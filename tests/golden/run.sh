#!/usr/bin/env bash
# tests/golden/run.sh NASC SOURCE_DIR [--update] — runs every case directory under tests/golden/:
#   cmd              a bash snippet run with $NASC (the binary), $TMP (a scratch dir) and $FIX (a
#                    tiny Fashion-MNIST-shaped dataset: 64 train / 32 test images in idx files)
#   exit_code        the expected exit status
#   stdout.expected  expected stdout, stderr.expected expected stderr (after normalisation:
#                    the scratch dir becomes <TMP>)
# With --update (tests/golden/update.sh) the expected files are rewritten; review the diff.
# GOLDEN_ONLY="case1 case2" runs (or updates) only those cases.
set -u
NASC="$1"; SRC="$2"; UPDATE="${3:-}"
HERE="$SRC/tests/golden"
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
TMP="$(mktemp -d /tmp/nasc_golden.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
FIX="$TMP/fix"
mkdir -p "$FIX"

be32() { printf "\\x$(printf %02x $(( ($1 >> 24) & 255 )))\\x$(printf %02x $(( ($1 >> 16) & 255 )))\\x$(printf %02x $(( ($1 >> 8) & 255 )))\\x$(printf %02x $(( $1 & 255 )))"; }
# mk_split PREFIX N SKIP: first N images/labels of Debian's Fashion-MNIST training set after SKIP
FM=/usr/share/datasets/fashion-mnist
mk_split() {
  { printf '\x00\x00\x08\x03'; be32 "$2"; be32 28; be32 28
    zcat "$FM/train-images-idx3-ubyte.gz" | tail -c +$((17 + $3 * 784)) | head -c $(($2 * 784)); } > "$FIX/$1-images-idx3-ubyte"
  { printf '\x00\x00\x08\x01'; be32 "$2"
    zcat "$FM/train-labels-idx1-ubyte.gz" | tail -c +$((9 + $3)) | head -c "$2"; } > "$FIX/$1-labels-idx1-ubyte"
}
mk_split train 64 0
mk_split t10k 32 64

pass=0 fail=0
for dir in "$HERE"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/cmd" ] || continue
  if [ -n "${GOLDEN_ONLY:-}" ]; then case " $GOLDEN_ONLY " in *" $name "*) ;; *) continue ;; esac; fi
  work="$TMP/case_$name"; mkdir -p "$work/run"
  ( cd "$work/run" && NASC="$NASC" TMP="$work/run" FIX="$FIX" bash "$dir/cmd" ) >"$work/out" 2>"$work/err"
  code=$?
  sed -i -e "s#$work/run#<TMP>#g" -e "s#$FIX#<FIX>#g" "$work/out" "$work/err"
  if [ "$UPDATE" = "--update" ]; then
    echo "$code" > "$dir/exit_code"; cp "$work/out" "$dir/stdout.expected"; cp "$work/err" "$dir/stderr.expected"
    echo "updated $name (exit $code)"; continue
  fi
  ok=1
  want="$(cat "$dir/exit_code")"
  if [ "$code" != "$want" ]; then echo "FAIL $name: exit $code, expected $want"; ok=0; fi
  if ! diff -u "$dir/stdout.expected" "$work/out" >"$work/d1"; then echo "FAIL $name: stdout differs:"; cat "$work/d1"; ok=0; fi
  if ! diff -u "$dir/stderr.expected" "$work/err" >"$work/d2"; then echo "FAIL $name: stderr differs:"; cat "$work/d2"; ok=0; fi
  if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
[ "$UPDATE" = "--update" ] && exit 0
echo "golden: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

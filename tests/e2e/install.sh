#!/usr/bin/env bash
# tests/e2e/install.sh BUILD_DIR SOURCE_DIR [--sanitize] — `cmake --install` to a temporary prefix
# and use the installed copy exactly as a user would: the binary finds the NAS-Bench-201 table
# under share/nasc, examples build with `pkg-config --cflags --libs nasc` and with
# find_package(nasc), and run; the umbrella header includes every installed header; the man page
# renders; bash completion completes. Under the sanitizer build (libnasc instrumented, examples
# compiled plainly) it skips (77).
set -u
BUILD="$1"; SRC="$2"
[ "${3:-}" = "--sanitize" ] && { echo "install: skipped in the sanitizer build"; exit 77; }
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
unset NASC_NB201_CSV NASC_DATA_DIR
T="$(mktemp -d /tmp/nasc_install.XXXXXX)"
trap 'rm -rf "$T"' EXIT
P="$T/prefix"
fail=0
bad() { echo "install: FAIL: $*"; fail=1; }
run() { "$@" >"$T/out" 2>&1 || { bad "$* (exit $?)"; sed 's/^/  | /' "$T/out" | tail -20; return 1; }; }

run cmake --install "$BUILD" --prefix "$P" || exit 1
libdir=$(dirname "$(find "$P" -name nasc.pc)")/..
for f in "$P/bin/nasc" "$libdir/libnasc.so" "$libdir/libnasc.a" "$P/include/nasc/nasc.h" \
         "$libdir/cmake/nasc/nascConfig.cmake" "$P/share/nasc/nb201.csv" "$P/share/man/man1/nasc.1" \
         "$P/share/bash-completion/completions/nasc"; do
  [ -e "$f" ] || bad "not installed: ${f#$P/}"
done
[ -n "$(find "$P/include" -name '*_int.h')" ] && bad "an internal header was installed"

# The umbrella header names every installed header.
for h in "$P"/include/nasc/*.h; do
  b=$(basename "$h"); [ "$b" = nasc.h ] && continue
  grep -q "#include \"nasc/$b\"" "$P/include/nasc/nasc.h" || bad "nasc.h does not include nasc/$b"
done

# Version, both spellings.
want="nasc $(sed -n 's/^project(nasc VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")"
for flag in --version -V; do
  got=$("$P/bin/nasc" $flag 2>&1); [ "$got" = "$want" ] || bad "nasc $flag printed '$got', expected '$want'"
done

# The installed binary finds the table under share/nasc (run away from the source tree).
mkdir -p "$T/run" && cd "$T/run"
run "$P/bin/nasc" search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 5 \
    --quiet --json || true
grep -q '"best_arch"' "$T/out" || bad "installed nasc search printed no result"

# pkg-config, as a user: compile the installed examples against the shared library and run them.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs nasc) || bad "pkg-config --cflags --libs nasc failed"
ex="$P/share/doc/nasc/examples"
for e in search train; do
  run cc -std=gnu17 -Wall -Wextra -Werror "$ex/$e.c" $flags -o "$T/$e" || continue
  LD_LIBRARY_PATH="$libdir" ldd "$T/$e" | grep -q "$P" || bad "$e is not linked to the installed libnasc.so"
done
if [ -x "$T/search" ]; then
  run env LD_LIBRARY_PATH="$libdir" "$T/search" 30 && grep -q "^best: |" "$T/out" ||
    bad "examples/search printed no best architecture"
fi
if [ -x "$T/train" ]; then
  run env LD_LIBRARY_PATH="$libdir" "$T/train" 0.005 1 "$T/ex.nasc" &&
    grep -q "^test accuracy" "$T/out" || bad "examples/train printed no accuracy"
  [ -s "$T/ex.nasc" ] && run "$P/bin/nasc" eval --model "$T/ex.nasc" --json
fi

# find_package(nasc), as a CMake user, with the static library.
mkdir -p "$T/cm"
cat > "$T/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.25)
project(user C)
find_package(nasc 0.1 REQUIRED)
add_executable(search "$ex/search.c")
target_link_libraries(search PRIVATE nasc::nasc_static)
CM
if run cmake -S "$T/cm" -B "$T/cm/build" -DCMAKE_PREFIX_PATH="$P" &&
   run cmake --build "$T/cm/build"; then
  ldd "$T/cm/build/search" | grep -q libnasc && bad "static example links libnasc.so"
  # A static program has no library beside the table: it is told where the table is.
  run env NASC_DATA_DIR="$P/share/nasc" "$T/cm/build/search" 10 || true
fi

# Man page renders without warnings; completion completes a command and an option.
if command -v groff >/dev/null; then
  w=$(groff -man -Tutf8 -ww -z "$P/share/man/man1/nasc.1" 2>&1); [ -z "$w" ] || bad "nasc.1: $w"
fi
c=$(PATH="$P/bin:$PATH" bash -c 'source "$1"; COMP_WORDS=(nasc tra); COMP_CWORD=1; _nasc;
     echo "${COMPREPLY[@]}"; COMP_WORDS=(nasc train --epo); COMP_CWORD=2; _nasc; echo "${COMPREPLY[@]}"' \
     _ "$P/share/bash-completion/completions/nasc")
[ "$c" = $'train\n--epochs' ] || bad "completion gave '$c'"

[ $fail -eq 0 ] && echo "install: ok ($P)"
exit $fail

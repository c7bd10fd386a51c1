#!/usr/bin/env bash
# check_symbols.sh LIBNASC_SO — the shared library exports only nasc_-prefixed symbols.
set -u
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^nasc_' || true)
if [ -n "$bad" ]; then
  echo "check_symbols: $lib exports symbols without the nasc_ prefix:"; echo "$bad" | head -20
  exit 1
fi
echo "check_symbols: $(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/' | wc -l) exported symbols, all nasc_"

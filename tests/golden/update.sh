#!/usr/bin/env bash
# Rewrites the expected outputs of every golden case from the current binary. Review the diff.
set -eu
cd "$(dirname "$0")/../.."
exec bash tests/golden/run.sh "$(realpath "${1:-build/nasc}")" "$PWD" --update

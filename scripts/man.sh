#!/bin/sh
# Builds the man pages (man/fleet.1, man/fleet-COMMAND.1) from the clap definitions, through
# the hidden `fleet man DIR`. Usage: scripts/man.sh [DIR]   (default: man/)
#   man -l man/fleet-catalog-diff.1
# FLEET=path/to/fleet uses that binary instead of building a release one.
set -eu
cd "$(dirname "$0")/.."
out="${1:-man}"
if [ -n "${FLEET:-}" ]; then
  "$FLEET" man "$out"
else
  cargo run --quiet --release -- man "$out"
fi
ls "$out"

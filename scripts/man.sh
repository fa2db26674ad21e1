#!/bin/sh
# Builds the man pages (man/fleet.1, man/fleet-COMMAND.1) from the clap definitions, through
# the hidden `fleet man DIR`. Usage: scripts/man.sh [DIR]   (default: man/)
#   man -l man/fleet-catalog-diff.1
set -eu
cd "$(dirname "$0")/.."
out="${1:-man}"
cargo run --quiet --release -- man "$out"
ls "$out"

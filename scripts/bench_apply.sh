#!/usr/bin/env bash
# Benchmarks `fleet apply` on 10,000 files under a sandbox root (not a test):
#   - fresh apply (files flushed before their renames, in groups; and with --no-fsync),
#   - steady-state `apply --noop --catalog` on the unchanged files,
# beside the floor of just reading and hashing those files (find | xargs sha256sum).
# Usage: scripts/bench_apply.sh [FILES] [BYTES_PER_FILE]   (needs python3)
set -euo pipefail
N=${1:-10000}
SIZE=${2:-4096}
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin fleet
FLEET=$PWD/target/release/fleet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/cat/content" "$WORK/root"

python3 - "$WORK" "$N" "$SIZE" <<'PY'
import hashlib, json, os, sys
work, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
src = {"file": "bench.fleet", "line": 1, "column": 1}
res = [{"type": "file", "title": "/srv", "params": {"ensure": "directory"}, "tags": ["file"], "source": src}]
dirs = max(1, n // 100)
for d in range(dirs):
    res.append({"type": "file", "title": f"/srv/d{d:03}", "params": {"ensure": "directory"}, "tags": ["file"], "source": src})
for i in range(n):
    body = (f"file {i}\n".encode() * (size // 8 + 1))[:size]
    sha = hashlib.sha256(body).hexdigest()
    with open(f"{work}/cat/content/{sha}", "wb") as f:
        f.write(body)
    res.append({"type": "file", "title": f"/srv/d{i % dirs:03}/f{i:05}", "params": {"content_sha256": sha, "mode": "0644"}, "tags": ["file"], "source": src})
json.dump({"format": 1, "node": "bench", "version": "", "resources": res, "edges": []}, open(f"{work}/cat/bench.json", "w"))
PY
CAT=$WORK/cat/bench.json

# "wall cpu" seconds of a command (cpu = user + sys: the machine may be shared).
t() {
    local TIMEFORMAT='%R %U %S' out
    out=$({ time "$@" >/dev/null 2>&1; } 2>&1)
    echo "$out" | awk '{ printf "%.2f %.2f", $1, $2 + $3 }'
}
# The best (lowest wall) of three runs.
best() {
    local b="" x
    for _ in 1 2 3; do
        x=$(t "$@")
        if [ -z "$b" ] || awk -v a="${x%% *}" -v b="${b%% *}" 'BEGIN { exit !(a < b) }'; then b=$x; fi
    done
    echo "$b"
}
show() { printf '%-42s %6ss wall %6ss cpu\n' "$1" "${2%% *}" "${2##* }"; }

echo "files: $N x $SIZE bytes, cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)"
show "fresh apply (flushed)" "$(t "$FLEET" apply --catalog "$CAT" --root "$WORK/root")"
rm -rf "$WORK/root/srv" "$WORK/root/var"
sync
show "fresh apply (--no-fsync)" "$(t "$FLEET" apply --no-fsync --catalog "$CAT" --root "$WORK/root")"
noop=$(best "$FLEET" apply --noop --catalog "$CAT" --root "$WORK/root")
show "noop on unchanged files (best of 3)" "$noop"
floor=$(best sh -c "find '$WORK/root/srv' -type f -print0 | xargs -0 sha256sum")
show "floor: find | xargs sha256sum (best of 3)" "$floor"
awk -v a="${noop%% *}" -v b="${floor%% *}" 'BEGIN { printf "noop / floor (wall): %.2fx\n", a / b }'

#!/usr/bin/env bash
# Runs a node benchmark inside a fresh loopback-only network namespace, where the IPFS dev
# daemon may start: `bash tools/bench.sh content` (or `node`). Needs root, iproute2, and
# js-ipfs installed by tools/test.sh. CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
bench="${1:-content}"
[ "$(id -u)" = 0 ] || { echo "tools/bench.sh: needs root (ip netns)" >&2; exit 2; }
export KNACK_IPFS_DEV_PREFIX="${KNACK_IPFS_DEV_PREFIX:-$HOME/.cache/knack/ipfs-dev}"
cargo bench -p knack-node --bench "$bench" --no-run
ns="knack-bench-$$"
ip netns add "$ns"
trap 'ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns delete "$ns"' EXIT
ip -n "$ns" link set lo up
ip netns exec "$ns" cargo bench -p knack-node --bench "$bench" --offline

#!/usr/bin/env bash
# Runs a node benchmark inside a fresh loopback-only network namespace, where the IPFS dev
# daemon may start: `bash tools/bench.sh content` (or `node`, or `scale`). Needs root, iproute2,
# and js-ipfs installed by tools/test.sh. CARGO_TARGET_DIR is honoured.
#
# `scale`: a node with 1k / 10k / 100k procedures and 1M outcomes from 50 agents (see
# node/benches/scale.rs); KNACK_SCALE_SIZES, KNACK_SCALE_OUTCOMES, KNACK_SCALE_OUT, ... pass
# through, e.g. `KNACK_SCALE_SIZES=1000 KNACK_SCALE_OUTCOMES=20000 bash tools/bench.sh scale`.
set -euo pipefail
cd "$(dirname "$0")/.."
bench="${1:-content}"
case "$bench" in
    content | node | scale) ;;
    *) echo "tools/bench.sh: unknown bench '$bench' (content, node, scale)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "tools/bench.sh: needs root (ip netns)" >&2; exit 2; }
export KNACK_IPFS_DEV_PREFIX="${KNACK_IPFS_DEV_PREFIX:-$HOME/.cache/knack/ipfs-dev}"
cargo bench -p knack-node --bench "$bench" --no-run
ns="knack-bench-$$"
ip netns add "$ns"
trap 'ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns delete "$ns"' EXIT
ip -n "$ns" link set lo up
ip netns exec "$ns" cargo bench -p knack-node --bench "$bench" --offline

#!/usr/bin/env bash
# CI for the local testnet: builds `knack` and `knack-testnet`, then runs the `smoke` and
# `partition-heal` scenarios with every node in its own network namespace (--netns: needs
# Linux and root, which CI machines here have). Exits non-zero when a build fails, when a
# scenario cannot run, or when one of its waits or assertions fails. About 2 minutes of
# scenarios after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "testnet/ci.sh: the scenarios run with --netns, which needs root" >&2
  exit 2
fi

cargo build -p knack-node --bin knack -p knack-testnet
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug/knack-testnet"
work="$(mktemp -d)"
current=""
cleanup() {
  # An interrupted run leaves processes and namespaces behind: take them down.
  if [ -n "$current" ] && [ -f "$current/testnet.json" ]; then
    "$bin" --dir "$current" down >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

status=0
for scenario in smoke partition-heal; do
  current="$work/$scenario"
  echo "=== $scenario (--netns)"
  if timeout 150 "$bin" --dir "$current" run --netns "testnet/scenarios/$scenario.toml"; then
    echo "=== $scenario passed"
  else
    echo "=== $scenario FAILED (report: $current/report.txt)" >&2
    status=1
  fi
done
exit "$status"

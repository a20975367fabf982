#!/usr/bin/env bash
# The project's test command: `bash tools/test.sh [CARGO TEST ARGS...]`.
#
#  1. installs js-ipfs (the IPFS dev daemon the knack-ipfs tests run) into
#     $KNACK_IPFS_DEV_PREFIX (default $HOME/.cache/knack/ipfs-dev) if it is not there yet;
#  2. builds the tests outside the namespace (`cargo test --no-run --locked`: crates are fetched);
#  3. runs `cargo test --workspace --locked --offline ARGS` inside a fresh network namespace that
#     has only loopback, so the IPFS daemons and the libp2p nodes the tests start can reach
#     nothing but 127.0.0.1;
#  4. deletes the namespace (and ends any process the tests left in it) on exit.
#
# ARGS go to cargo test: `bash tools/test.sh -p knack-ipfs`, `bash tools/test.sh -- --nocapture`.
# With -p/--package, only those packages are tested (no --workspace, no default feature
# selection: add `--features knack-sim/real-stack` yourself for knack-sim's real-stack tests).
#
# Needs root (for `ip netns`), iproute2, node and npm (for the js-ipfs install), curl.
# CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "tools/test.sh: $*" >&2; exit 2; }

if [ "$(id -u)" != 0 ]; then
  die "needs root: the tests run in a loopback-only network namespace (ip netns add), which only \
root can create. Run it as root (e.g. sudo -E bash tools/test.sh); the tests are not skipped."
fi
for cmd in ip node npm curl cargo; do
  command -v "$cmd" >/dev/null || die "$cmd not found (needs iproute2, node, npm, curl and cargo)"
done

export KNACK_IPFS_DEV_PREFIX="${KNACK_IPFS_DEV_PREFIX:-$HOME/.cache/knack/ipfs-dev}"
tool=tools/ipfs-dev-daemon/ipfs-dev-daemon.sh

# Cargo's arguments before `--` (package selection, features, filters) apply to the build too.
build_args=()
selects_packages=0
for arg in "$@"; do
  [ "$arg" = "--" ] && break
  build_args+=("$arg")
  case "$arg" in -p|-p*|--package|--package=*) selects_packages=1 ;; esac
done
# The whole workspace is tested with knack-sim's real-stack feature (the simulator against real
# libp2p gossipsub swarms, in-memory transport).
scope=(--workspace --features knack-sim/real-stack)
[ "$selects_packages" = 1 ] && scope=()

t0=$SECONDS
echo "=== tools/test.sh: js-ipfs in $KNACK_IPFS_DEV_PREFIX"
if bash "$tool" installed "$KNACK_IPFS_DEV_PREFIX"; then
  echo "already installed"
else
  bash "$tool" install "$KNACK_IPFS_DEV_PREFIX"
fi

echo "=== tools/test.sh: building the tests (outside the namespace, so crates can be fetched)"
cargo test "${scope[@]}" --locked --no-run "${build_args[@]}"

ns="knack-test-$$-$RANDOM"
cleanup() {
  local status=$?
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then
    # Processes the tests left behind (a daemon of a crashed test): only this namespace's.
    local pids
    pids="$(ip netns pids "$ns" 2>/dev/null || true)"
    if [ -n "$pids" ]; then
      echo "tools/test.sh: stopping processes left in $ns: $pids" >&2
      for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
      sleep 2
      for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    ip netns delete "$ns" || echo "tools/test.sh: could not delete network namespace $ns" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns" || die "cannot create network namespace $ns"
ip -n "$ns" link set lo up
links="$(ip -n "$ns" -o link | awk -F': ' '{print $2}' | tr '\n' ' ')"
[ "$links" = "lo " ] || die "namespace $ns has interfaces other than lo ($links); refusing"

echo "=== tools/test.sh: cargo test in network namespace $ns (loopback only)"
# `ip netns exec` keeps the environment: CARGO_TARGET_DIR, KNACK_IPFS_DEV_PREFIX, HOME, PATH.
status=0
ip netns exec "$ns" cargo test "${scope[@]}" --locked --offline "$@" || status=$?
echo "=== tools/test.sh: done in $((SECONDS - t0)) s (exit $status)"
exit "$status"

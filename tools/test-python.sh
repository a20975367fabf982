#!/usr/bin/env bash
# The Python client's tests: `bash tools/test-python.sh [PYTEST ARGS...]`.
#
#  1. builds the `knack` binary (debug; `cargo build -p knack-node --locked`);
#  2. creates a venv in $KNACK_VENV (default $HOME/.cache/knack-ci/venv) if missing and installs
#     ./clients/python[test] into it (knack-client, pytest, anyio and the official `mcp` SDK);
#  3. runs pytest on clients/python inside a fresh network namespace that has only loopback
#     (the nodes the tests start can reach nothing but 127.0.0.1), with KNACK_BIN set;
#  4. fails when pytest fails or collects no test (exit 5).
#
# Needs root (for `ip netns`), iproute2 and python3 (3.10+) with venv. CARGO_TARGET_DIR is
# honoured.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "tools/test-python.sh: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root: the tests run in a loopback-only network namespace"
for cmd in ip python3 cargo; do
  command -v "$cmd" >/dev/null || die "$cmd not found"
done

target="${CARGO_TARGET_DIR:-target}"
venv="${KNACK_VENV:-$HOME/.cache/knack-ci/venv}"
t0=$SECONDS

echo "=== tools/test-python.sh: building knack"
cargo build -p knack-node --bin knack --locked
# A private copy: other builds sharing the target directory may replace target/debug/knack
# while the tests run.
bin_dir="$(mktemp -d)"
cp "$target/debug/knack" "$bin_dir/knack"

echo "=== tools/test-python.sh: venv $venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" || die "python3 -m venv failed (apt-get install python3-venv?)"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade './clients/python[test]'
"$venv/bin/python" -c 'import knack_client, mcp, httpx; print("knack-client", knack_client.__version__)'

ns="knack-py-$$-$RANDOM"
cleanup() {
  local status=$?
  rm -rf "$bin_dir" clients/python/build
  if ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns"; then
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -TERM "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" || echo "tools/test-python.sh: could not delete namespace $ns" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
ip netns add "$ns" || die "cannot create network namespace $ns"
ip -n "$ns" link set lo up

echo "=== tools/test-python.sh: pytest in network namespace $ns (loopback only)"
status=0
KNACK_BIN="$bin_dir/knack" ip netns exec "$ns" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider clients/python "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "tools/test-python.sh: pytest collected no tests: failing" >&2
fi
echo "=== tools/test-python.sh: done in $((SECONDS - t0)) s (exit $status)"
exit "$status"

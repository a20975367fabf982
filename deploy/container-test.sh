#!/usr/bin/env bash
# Builds the node image (deploy/Dockerfile, --target prebuilt: the knack binary already built
# on this machine) and runs 3 containers on one container network; passes when each is
# healthy and ready, they converge on the same digest, and the image runs as non-root.
#
#   bash deploy/container-test.sh            (as root; podman, or docker with a daemon)
#
# Safety: the container network is created *inside a fresh network namespace* with only
# loopback (`nsenter --net`, not `ip netns exec`, which would hide the cgroup mounts), so its
# bridge, addresses and firewall rules never touch the host's network; it is internal (no
# route out), the image is built with --network none, and the script dials only the
# containers' addresses on that bridge.
#
# When containers cannot run here, it prints `!!! CONTAINER TEST NOT RUN: <reason>` and exits
# 0 (exit 1 with KNACK_REQUIRE_CONTAINERS=1). A failed test exits 1.
#
# Environment: KNACK_BIN (the binary to put in the image; default: the newest of
# $CARGO_TARGET_DIR/{release,debug}/knack), KNACK_BASE_IMAGE (the image's base, e.g.
# debian:bookworm-slim; default: one made from this host's files by deploy/base-from-host.sh,
# since no container registry is reachable here).
set -euo pipefail
cd "$(dirname "$0")/.."

not_run() {
    echo "!!! CONTAINER TEST NOT RUN: $*"
    if [ "${KNACK_REQUIRE_CONTAINERS:-0}" = 1 ]; then exit 1; fi
    exit 0
}
say() { printf '=== container-test: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

[ "$(id -u)" = 0 ] || not_run "needs root (network namespace, rootful containers)"
command -v ip >/dev/null && command -v nsenter >/dev/null && command -v curl >/dev/null \
    || not_run "needs iproute2, util-linux (nsenter) and curl"

# --- the engine -----------------------------------------------------------------------------
engine=()
if ! command -v podman >/dev/null && ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
    say "installing podman and runc (Debian packages)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc; } \
        >/dev/null 2>&1 || true
fi
if command -v podman >/dev/null; then
    # Sandboxes often refuse the default rlimits (crun: "setrlimit RLIMIT_NOFILE: Operation
    # not permitted") and run cgroups in hybrid mode, which crun refuses: runc with no
    # default ulimits works there.
    conf="$(mktemp)"
    printf '[containers]\ndefault_ulimits = []\n' >"$conf"
    export CONTAINERS_CONF="$conf"
    engine=(podman)
    command -v runc >/dev/null && engine+=(--runtime "$(command -v runc)")
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    engine=(docker)
else
    not_run "no container engine: install podman (apt-get install podman runc), or run a docker daemon"
fi
say "engine: ${engine[*]}"

# --- the binary -----------------------------------------------------------------------------
target="${CARGO_TARGET_DIR:-target}"
bin="${KNACK_BIN:-$(ls -t "$target/release/knack" "$target/debug/knack" 2>/dev/null | head -1 || true)}"
[ -n "$bin" ] && [ -x "$bin" ] || not_run "no knack binary: build one (cargo build -p knack-node --bin knack) or set KNACK_BIN"
mkdir -p deploy/prebuilt
strip -o deploy/prebuilt/knack "$bin" 2>/dev/null || cp "$bin" deploy/prebuilt/knack
say "binary: $bin ($(du -h deploy/prebuilt/knack | cut -f1) stripped)"

# --- the base image -------------------------------------------------------------------------
# No container registry is reachable from the project's machines, so the base is made from this
# host's files (busybox and the binary's glibc libraries: deploy/base-from-host.sh), unless
# KNACK_BASE_IMAGE names one (e.g. docker.io/library/debian:bookworm-slim where it can be pulled).
base="${KNACK_BASE_IMAGE:-}"
if [ -z "$base" ]; then
    base=localhost/knack-base:host
    bash deploy/base-from-host.sh "$bin" "$base" "${engine[@]}" \
        || not_run "cannot build a base image from this host's files (deploy/base-from-host.sh)"
fi
say "base image: $base"

# --- build ----------------------------------------------------------------------------------
image=localhost/knack:test
build_log="$(mktemp)"
if ! "${engine[@]}" build --network none --target prebuilt --build-arg RUNTIME_IMAGE="$base" \
        -f deploy/Dockerfile -t "$image" . >"$build_log" 2>&1; then
    cat "$build_log"
    echo "container-test: the image does not build" >&2
    exit 1
fi
say "image built: $("${engine[@]}" image inspect "$image" --format '{{.Size}}' | awk '{printf "%.1f MB", $1/1e6}')"

# --- 3 containers on one network, inside a private network namespace ------------------------
ns="knack-ct-$$"
net="knack-ct-$$"
subnet_prefix="10.89.$(( $$ % 200 + 20 ))"
names=()
token="container-test-$(od -An -tx8 -N8 /dev/urandom | tr -d ' ')"
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
eng() { in_ns "${engine[@]}" "$@"; }
cleanup() {
    local status=$?
    if [ "$status" != 0 ]; then
        for name in "${names[@]}"; do
            echo "--- logs of $name"; eng logs "$name" 2>&1 | tail -30 || true
        done
    fi
    for name in "${names[@]}"; do
        eng rm -f -t 2 "$name" >/dev/null 2>&1 || true
        eng volume rm -f "$name-data" >/dev/null 2>&1 || true
    done
    eng network rm -f "$net" >/dev/null 2>&1 || true
    ip netns delete "$ns" 2>/dev/null || true
    rm -f "${CONTAINERS_CONF:-/nonexistent}" "$build_log"
    exit "$status"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
eng network create --internal --subnet "$subnet_prefix.0/24" "$net" >/dev/null

run_node() { # NAME IP [BOOTSTRAP]
    # --read-only: as the StatefulSet (readOnlyRootFilesystem), only /data is written.
    local args=(run -d --read-only --name "$1" --network "$net" --ip "$2"
        -e KNACK_API_TOKEN="$token" -e KNACK_SYNC_INTERVAL_MS=1000 -e KNACK_QUIC=false
        -e KNACK_LISTEN=/ip4/0.0.0.0/tcp/7300 -v "$1-data:/data")
    [ -n "${3:-}" ] && args+=(-e KNACK_BOOTSTRAP="$3")
    names+=("$1")
    eng volume rm -f "$1-data" >/dev/null 2>&1 || true
    eng "${args[@]}" "$image" >/dev/null
}
ip_of() { echo "$subnet_prefix.$((10 + $1))"; }
api() { # I PATH [curl args...]
    local i="$1" path="$2"; shift 2
    in_ns curl -sS --max-time 5 "$@" "http://$(ip_of "$i"):7400$path"
}
wait_until() { # SECONDS DESCRIPTION COMMAND...
    local deadline=$((SECONDS + $1)) what="$2"; shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then echo "container-test: timed out: $what" >&2; return 1; fi
        sleep 0.5
    done
}

run_node "knack-ct-$$-0" "$(ip_of 0)"
wait_until 30 "node 0 healthy" api 0 /healthz -f
peer0="$(api 0 /v1/status -H "Authorization: Bearer $token" | sed -n 's/.*"peer_id":"\([^"]*\)".*/\1/p')"
[ -n "$peer0" ] || { echo "container-test: no peer id from node 0" >&2; exit 1; }
# Node 1 knows node 0's peer id; node 2 only its address, as the StatefulSet's
# /dns4/knack-0.knack/tcp/7300 bootstrap entries do.
run_node "knack-ct-$$-1" "$(ip_of 1)" "/ip4/$(ip_of 0)/tcp/7300/p2p/$peer0"
run_node "knack-ct-$$-2" "$(ip_of 2)" "/ip4/$(ip_of 0)/tcp/7300"
for i in 0 1 2; do
    wait_until 60 "node $i ready" api "$i" /readyz -f
done
say "3 containers healthy and ready"

user="$(eng exec "knack-ct-$$-0" id -u)"
[ "$user" = 10001 ] || { echo "container-test: the node runs as uid $user, not 10001" >&2; exit 1; }

auth=(-H "Authorization: Bearer $token" -H "Content-Type: application/json")
id="$(api 0 /v1/spaces/default/procedures "${auth[@]}" -f -X POST \
    -d '{"name":"restart the pod","tags":["k8s"],"body":"kubectl rollout restart"}' \
    | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')"
[ -n "$id" ] || { echo "container-test: add failed" >&2; exit 1; }
for i in 1 2; do
    wait_until 60 "node $i has the procedure" api "$i" "/v1/spaces/default/procedures/$id" "${auth[@]}" -f
    api "$i" "/v1/spaces/default/procedures/$id/outcomes" "${auth[@]}" -f -X POST \
        -d '{"success":true,"duration_ms":10}' >/dev/null
done
digest() { api "$1" /v1/status "${auth[@]}" | sed -n 's/.*"digest":"\([^"]*\)","ops":\([0-9]*\).*/\1 \2/p' | head -1; }
converged() {
    local d0 d1 d2
    d0="$(digest 0)"; d1="$(digest 1)"; d2="$(digest 2)"
    [ -n "$d0" ] && [ "$d0" = "$d1" ] && [ "$d1" = "$d2" ] && [ "${d0##* }" -ge 3 ]
}
wait_until 60 "the 3 containers converge" converged
say "converged: digest $(digest 0) on all 3 containers"
two_peers() { local m; m="$(api 0 /metrics)" && grep -q '^knack_peers 2$' <<<"$m"; }
wait_until 30 "node 0 counts 2 peers (/metrics, no token)" two_peers

# The data directory is a volume: a restarted container keeps its identity and its store, and
# catches up on what was written while it was down.
peer2="$(api 2 /v1/status "${auth[@]}" | sed -n 's/.*"peer_id":"\([^"]*\)".*/\1/p')"
eng stop -t 10 "knack-ct-$$-2" >/dev/null
api 1 "/v1/spaces/default/procedures/$id/outcomes" "${auth[@]}" -f -X POST \
    -d '{"success":false,"duration_ms":10}' >/dev/null
eng start "knack-ct-$$-2" >/dev/null
wait_until 60 "node 2 ready after its restart" api 2 /readyz -f
again="$(api 2 /v1/status "${auth[@]}" | sed -n 's/.*"peer_id":"\([^"]*\)".*/\1/p')"
[ "$again" = "$peer2" ] || { echo "container-test: node 2 came back as $again, not $peer2" >&2; exit 1; }
converged4() { converged && [ "$(digest 2 | cut -d' ' -f2)" -ge 4 ]; }
wait_until 60 "the restarted container catches up" converged4
say "restarted container kept its identity ($peer2) and converged: $(digest 2)"
say "passed"

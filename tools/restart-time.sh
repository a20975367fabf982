#!/usr/bin/env bash
# Time from `knack run` on a copy of a data directory (the scale bench keeps one with
# KNACK_SCALE_KEEP=1) until `GET /v1/status` answers, in a fresh loopback-only network namespace:
#   bash tools/restart-time.sh KNACK_BINARY DATA_DIR [RUNS]
# Prints one line per run. Needs root (ip netns), curl and bc.
set -euo pipefail
bin=$(realpath "$1"); src=$2; runs=${3:-1}
[ "$(id -u)" = 0 ] || { echo "tools/restart-time.sh: needs root (ip netns)" >&2; exit 2; }
for run in $(seq 1 "$runs"); do
    work=$(mktemp -d /tmp/knack-restart.XXXX)
    ns="knack-restart-$$-$run"
    cp -r "$src" "$work/node"
    rm -f "$work/node/api.addr"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    started=$(date +%s.%N)
    ip netns exec "$ns" "$bin" --dir "$work/node" run >"$work/log" 2>&1 &
    answered=""
    for _ in $(seq 1 3000); do
        if [ -f "$work/node/api.addr" ]; then
            addr=$(cat "$work/node/api.addr")
            token=$(cat "$work/node/api.token")
            if ip netns exec "$ns" curl -sf -H "Authorization: Bearer $token" \
                "http://$addr/v1/status" >/dev/null; then
                answered=$(date +%s.%N)
                break
            fi
        fi
        sleep 0.02
    done
    pid=$(pgrep -f "^$bin --dir $work/node run" | head -1 || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns delete "$ns"
    rm -rf "$work"
    if [ -z "$answered" ]; then
        echo "run $run: status did not answer within 60 s" >&2
        exit 1
    fi
    echo "run $run: status answered $(echo "$answered - $started" | bc) s after start"
done

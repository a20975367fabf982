#!/usr/bin/env bash
# Memory of a node restarted on a copy of a data directory (the scale bench keeps one with
# KNACK_SCALE_KEEP=1), in a fresh loopback-only network namespace:
#   bash tools/memory-probe.sh KNACK_BINARY DATA_DIR
# Prints VmRSS when /readyz first answers 200 and 5 s later, then drives it as the scale bench
# does after a restart (tools/memory_drive.py: 20k durable outcome writes from 16 HTTP clients,
# a checkpoint, 300 `top`/`search` queries) and prints VmRSS and VmHWM. Environment:
#   PROBE_WRITES (20000), PROBE_NO_CHECKPOINT=1, PROBE_HEAPTRACK=FILE (run under heaptrack,
#   killed with SIGKILL at the end so its "leaked" report is the live heap), PROBE_KEEP_TO=DIR
#   (stop it with SIGTERM and keep its directory there), PROBE_METRICS=REGEX (print the
#   /metrics lines matching it after the drive, e.g. knack_actor_turn_seconds).
# Needs root (ip netns), curl and python3.
set -euo pipefail
bin=$(realpath "$1"); src=$2
[ "$(id -u)" = 0 ] || { echo "tools/memory-probe.sh: needs root (ip netns)" >&2; exit 2; }
here=$(dirname "$(realpath "$0")")
work=$(mktemp -d /tmp/knack-probe.XXXX)
ns="knack-probe-$$"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp -r "$src" "$work/node"
rm -f "$work/node/api.addr"
ip netns add "$ns"
ip -n "$ns" link set lo up
if [ -n "${PROBE_HEAPTRACK:-}" ]; then
    ip netns exec "$ns" heaptrack -o "$PROBE_HEAPTRACK" "$bin" --dir "$work/node" run >"$work/log" 2>&1 &
else
    ip netns exec "$ns" "$bin" --dir "$work/node" run >"$work/log" 2>&1 &
fi
addr=""
for _ in $(seq 1 1200); do
    if [ -f "$work/node/api.addr" ]; then
        addr=$(cat "$work/node/api.addr")
        code=$(ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}' "http://$addr/readyz" || true)
        [ "$code" = 200 ] && break
    fi
    sleep 0.5
done
pid=$(pgrep -f "^$bin --dir $work/node run" | head -1)
[ -n "$pid" ] || { echo "the node did not start:"; cat "$work/log"; exit 1; }
rss() { grep -E "$1" "/proc/$pid/status" | tr -s ' \t' ' '; }
echo "ready:   $(rss VmRSS)"
sleep 5
echo "settled: $(rss VmRSS)"
ip netns exec "$ns" python3 "$here/memory_drive.py" "$addr" "$(cat "$work/node/api.token")" \
    "${PROBE_WRITES:-20000}"
echo "driven:  $(rss VmRSS)  $(rss VmHWM)"
if [ -n "${PROBE_METRICS:-}" ]; then
    ip netns exec "$ns" curl -s "http://$addr/metrics" | grep -E "^${PROBE_METRICS}" || true
fi
if [ -n "${PROBE_KEEP_TO:-}" ]; then
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    rm -rf "$PROBE_KEEP_TO"
    cp -r "$work/node" "$PROBE_KEEP_TO"
    pid=""
fi

#!/usr/bin/env bash
# ipfs-dev-daemon.sh - run a real IPFS node (js-ipfs 0.66.1 / ipfs-core 0.18.1) that serves the
# Kubo-compatible HTTP RPC API (/api/v0/...) on 127.0.0.1, for knack's integration tests, fully
# offline, inside a network namespace that has only loopback (nothing can leave the machine).
#
# knack's copy of the team's dev-daemon tool. Users run Kubo; Kubo cannot be installed from a
# package registry, js-ipfs can, and it serves the same RPC API once the post-install patch below
# aligns four answers with Kubo's format. Changes from the original: install prefix
# $HOME/.cache/knack/ipfs-dev (KNACK_IPFS_DEV_PREFIX), the package-lock.json beside this script
# used by default, and the `run` (foreground, for a supervising test harness) and `installed`
# commands.
#
# Usage:
#   ipfs-dev-daemon.sh start     DATA_DIR API_PORT [PREFIX]  install if missing, init repo if missing,
#                                                            configure, start in the background, wait
#                                                            until the API answers
#   ipfs-dev-daemon.sh run       DATA_DIR API_PORT [PREFIX]  init + configure, then exec the daemon in
#                                                            the foreground (never installs: a missing
#                                                            install is an error, exit status 3)
#   ipfs-dev-daemon.sh stop      DATA_DIR                    stop the daemon started for DATA_DIR (pid file)
#   ipfs-dev-daemon.sh install   [PREFIX]                    only install the npm packages into PREFIX
#   ipfs-dev-daemon.sh installed [PREFIX]                    exit 0 when PREFIX holds this recipe's install
#   ipfs-dev-daemon.sh exec      CMD...                      run CMD inside the daemon's network namespace
#
# Environment:
#   KNACK_IPFS_DEV_PREFIX  install dir when PREFIX is not given (default: $HOME/.cache/knack/ipfs-dev;
#                          reused across runs: a cold install takes ~80 s with the lockfile)
#   IPFS_DEV_NETNS    named network namespace to run in (default: ipfsdev; created with `ip netns add`
#                     if missing, loopback brought up). Clients must run in the same namespace:
#                     `ip netns exec ipfsdev cargo test ...` (or `ipfs-dev-daemon.sh exec cargo test ...`).
#                     Special value "current": run in the caller's namespace, which must contain no
#                     interface but lo (e.g. the caller is already inside `unshare -n`); this is what
#                     knack's tools/test.sh and knack-ipfs's DevDaemon use.
#   IPFS_SWARM_PORT   libp2p TCP port on 127.0.0.1 (default 0 = any free port; see /api/v0/id)
#   IPFS_DEV_TIMEOUT  seconds `start` waits for the API (default 60)
#   IPFS_DEV_LOCKFILE package-lock.json to install from (default: the one beside this script; locks
#                     every version; `npm ci` refuses it because of an npm quirk, so `npm install` is
#                     used with it). Set it to "none" to resolve the versions afresh.
#
# Needs: iproute2 and root for a named namespace (not for IPFS_DEV_NETNS=current), curl, node >= 18
# (tested with 20.20), npm (tested with 11.19).
set -euo pipefail

RECIPE_VERSION="js-ipfs-0.66.1-multiaddr11-kubocompat-3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_PREFIX="${KNACK_IPFS_DEV_PREFIX:-$HOME/.cache/knack/ipfs-dev}"
LOCKFILE="${IPFS_DEV_LOCKFILE:-$HERE/package-lock.json}"
NETNS="${IPFS_DEV_NETNS:-ipfsdev}"
SWARM_PORT="${IPFS_SWARM_PORT:-0}"
TIMEOUT="${IPFS_DEV_TIMEOUT:-60}"

die() { echo "ipfs-dev-daemon: $*" >&2; exit 1; }

# ---------------------------------------------------------------- network namespace handling
only_loopback() { # stdin: `ip -o link` output; true when lo is the only interface
  local names; names=$(awk -F': ' '{print $2}' | sed 's/@.*//' | sort -u | tr '\n' ' ')
  [ "$names" = "lo " ]
}
ensure_netns() {
  if [ "$NETNS" = "current" ]; then
    ip -o link | only_loopback || die "IPFS_DEV_NETNS=current but this namespace has interfaces other than lo; refusing"
    ip link set lo up 2>/dev/null || true
    return
  fi
  if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NETNS"; then
    ip netns add "$NETNS" || die "cannot create network namespace $NETNS (needs root and iproute2)"
  fi
  ip netns exec "$NETNS" ip link set lo up
  ip netns exec "$NETNS" ip -o link | only_loopback || die "namespace $NETNS has interfaces other than lo; refusing"
}
in_ns() { if [ "$NETNS" = "current" ]; then "$@"; else ip netns exec "$NETNS" "$@"; fi; }

# ---------------------------------------------------------------- install
write_package_json() {
cat > "$1/package.json" <<'EOF'
{
  "name": "ipfs-dev-daemon",
  "version": "1.0.0",
  "private": true,
  "description": "js-ipfs 0.66.1 with its transitive deps pinned to the multiaddr-11 era (before the libp2p multiaddr-12 patch releases broke it)",
  "dependencies": {
    "ipfs": "0.66.1",
    "ipfs-daemon": "0.16.1",
    "multiformats": "11.0.2",
    "@noble/hashes": "1.8.0"
  },
  "overrides": {
    "@achingbrain/nat-port-mapper": "1.0.9",
    "@achingbrain/ssdp": "4.0.6",
    "@chainsafe/libp2p-gossipsub": "6.2.0",
    "@ipld/car": "5.2.0",
    "@ipld/dag-cbor": "9.0.2",
    "@ipld/dag-json": "10.1.1",
    "@ipld/dag-pb": "4.0.3",
    "@libp2p/bootstrap": "6.0.0",
    "@libp2p/delegated-content-routing": "4.0.6",
    "@libp2p/delegated-peer-routing": "4.0.9",
    "@libp2p/interface-address-manager": "2.0.4",
    "@libp2p/interface-connection": "3.1.0",
    "@libp2p/interface-connection-manager": "1.3.7",
    "@libp2p/interface-libp2p": "1.1.1",
    "@libp2p/interface-metrics": "4.0.5",
    "@libp2p/interface-peer-info": "1.0.8",
    "@libp2p/interface-peer-store": "1.2.8",
    "@libp2p/interface-pubsub": "3.0.6",
    "@libp2p/interface-registrar": "2.0.9",
    "@libp2p/interface-stream-muxer": "3.0.5",
    "@libp2p/interface-transport": "2.1.1",
    "@libp2p/logger": "2.0.7",
    "@libp2p/mplex": "7.1.3",
    "@libp2p/peer-record": "5.0.2",
    "@libp2p/prometheus-metrics": "1.1.3",
    "@libp2p/pubsub": "6.0.5",
    "@libp2p/tcp": "6.1.2",
    "@libp2p/utils": "3.0.4",
    "@libp2p/websockets": "5.0.5",
    "@multiformats/mafmt": "11.1.1",
    "@multiformats/multiaddr": "11.6.1",
    "@multiformats/multiaddr-to-uri": "9.0.3",
    "@multiformats/murmur3": "2.1.4",
    "@multiformats/uri-to-multiaddr": "7.0.0",
    "hamt-sharding": "3.0.3",
    "interface-datastore@^7": "7.0.4",
    "interface-datastore@^8": "8.2.7",
    "is-ipfs": "8.0.1",
    "it-concat": "3.0.1",
    "it-length-prefixed@^8": "8.0.4",
    "it-length-prefixed@^9": "9.0.3",
    "it-merge@^2": "2.0.1",
    "it-merge@^3": "3.0.7",
    "it-tar": "6.0.1",
    "mortice": "3.0.6",
    "multiformats": "11.0.2",
    "protons-runtime@^4": "4.0.2",
    "protons-runtime@^5": "5.0.3",
    "uint8-varint@^1": "1.0.8",
    "uint8-varint@^2": "2.0.2",
    "uint8arraylist": "2.4.7",
    "uint8arrays": "4.0.4"
  }
}
EOF
}

# Post-install patch: make js-ipfs's RPC answers match Kubo where Kubo clients (Rust ipfs-api 0.6) care.
write_compat_patch() {
cat > "$1/kubo-compat-patch.cjs" <<'EOF'
//  * /api/v0/add: "Size" as a string (Kubo does; ipfs-api's AddResponse.size is a String)
//  * CIDv1 printed in base32 by default (Kubo's default), CIDv0 stays base58btc
//  * /api/v0/pubsub/sub: no initial "{}" line (a Kubo client fails on it and drops the subscription)
//  * /api/v0/swarm/peers: always send Latency, Muxer, Streams like Kubo
const fs = require('fs'), path = require('path');
const dir = path.join(process.argv[2], 'node_modules/ipfs-http-server/src/api/resources');
let n = 0;
for (const f of ['files-regular.js', 'pin.js', 'dag.js', 'files/ls.js', 'files/flush.js', 'files/stat.js', 'block.js', 'bitswap.js']) {
  const p = path.join(dir, f);
  let s = fs.readFileSync(p, 'utf8'); const before = s;
  s = s.replace(/default\('base58btc'\)/g, () => { n++; return "default('base32')"; });
  s = s.replace(/([A-Za-z_][A-Za-z_.]*)\.toString\(base\.encoder\)/g, (m, x) => { n++; return `${x}.toString(${x}.version === 0 ? undefined : base.encoder)`; });
  if (f === 'files-regular.js') s = s.replace(/Size: file\.size,/, () => { n++; return 'Size: String(file.size),'; });
  if (s !== before) fs.writeFileSync(p, s);
}
const edit = (f, from, to) => {
  const p = path.join(dir, f); const s = fs.readFileSync(p, 'utf8');
  if (s.includes(to)) return;
  if (!s.includes(from)) throw new Error(`kubo-compat patch: pattern not found in ${f}: ${from}`);
  fs.writeFileSync(p, s.replace(from, to)); n++;
};
edit('pubsub.js', 'output.push({})', '/* kubo-compat: no initial {} */');
edit('swarm.js', 'Muxer: verbose ? p.muxer : undefined,', "Muxer: (verbose && p.muxer) || '',\n          Streams: null,");
edit('swarm.js', 'Latency: verbose ? p.latency : undefined', "Latency: (verbose && p.latency) || ''");
console.log(`kubo-compat patch: ${n} replacements`);
EOF
}

# The daemon entry point: like `jsipfs daemon --enable-preload=false`, plus a blake3 hasher
# (multihash 0x1e, 32-byte digest as in Kubo) so that add?hash=blake3 works.
write_daemon_entry() {
cat > "$1/ipfs-dev-daemon.mjs" <<'EOF'
import { Daemon } from 'ipfs-daemon'
import { from } from 'multiformats/hashes/hasher'
import { blake3 } from '@noble/hashes/blake3'

const blake3Hasher = from({ name: 'blake3', code: 0x1e, encode: (input) => blake3(input) })
const daemon = new Daemon({
  repo: process.env.IPFS_PATH,
  preload: { enabled: false },
  ipld: { hashers: [blake3Hasher] },
  EXPERIMENTAL: { ipnsPubsub: false, sharding: false }
})
let stopping = false
const stop = async (sig) => {
  if (stopping) return
  stopping = true
  console.log(`received ${sig}, stopping`)
  try { await daemon.stop() } catch (e) { console.error(e) }
  process.exit(0)
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
await daemon.start()
const v = await daemon._ipfs.version()
for (const s of daemon._httpApi._apiServers) console.log(`HTTP API listening on ${s.info.ma}`)
console.log(`js-ipfs ${v.version} daemon is ready (pid ${process.pid})`)
EOF
}

is_installed() { # PREFIX
  [ -x "$1/node_modules/.bin/jsipfs" ] && [ -f "$1/ipfs-dev-daemon.mjs" ] \
    && [ "$(cat "$1/.recipe-version" 2>/dev/null)" = "$RECIPE_VERSION" ]
}

do_install() {
  local prefix="$1"
  mkdir -p "$prefix"
  if is_installed "$prefix"; then
    return 0
  fi
  command -v node >/dev/null || die "node not found"
  command -v npm >/dev/null || die "npm not found"
  echo "ipfs-dev-daemon: installing js-ipfs into $prefix (~80 s with the lockfile, ~3 min without)" >&2
  rm -f "$prefix/.recipe-version"
  write_package_json "$prefix"
  local t0=$SECONDS
  if [ -n "$LOCKFILE" ] && [ "$LOCKFILE" != none ]; then
    [ -f "$LOCKFILE" ] || die "lockfile $LOCKFILE not found (set IPFS_DEV_LOCKFILE=none to resolve afresh)"
    cp "$LOCKFILE" "$prefix/package-lock.json"   # npm install keeps the locked versions
  else
    rm -f "$prefix/package-lock.json"
  fi
  (cd "$prefix" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  write_compat_patch "$prefix"
  node "$prefix/kubo-compat-patch.cjs" "$prefix" >&2
  write_daemon_entry "$prefix"
  # sanity: no multiaddr 12+ must be present (it breaks libp2p 0.42: "no valid addresses were provided")
  if find "$prefix/node_modules" -path '*/@multiformats/multiaddr/package.json' -exec grep -l '"version": "1[2-9]\.' {} + 2>/dev/null | grep -q .; then
    die "install resolved @multiformats/multiaddr >= 12; the overrides did not hold"
  fi
  echo "$RECIPE_VERSION" > "$prefix/.recipe-version"
  echo "ipfs-dev-daemon: installed in $((SECONDS - t0)) s" >&2
}

# ---------------------------------------------------------------- repo config
configure_repo() { # DATA API_PORT SWARM_PORT PREFIX
  node - "$1" "$2" "$3" <<'EOF'
const fs = require('fs');
const [repo, api, swarm] = process.argv.slice(2);
const f = repo + '/config';
const c = JSON.parse(fs.readFileSync(f, 'utf8'));
c.Addresses = {
  Swarm: [`/ip4/127.0.0.1/tcp/${swarm}`], Announce: [], NoAnnounce: [],
  API: `/ip4/127.0.0.1/tcp/${api}`,
  Gateway: [],      // no HTTP gateway
  RPC: '',          // no gRPC server
  Delegates: []     // no delegated routing (would dial public nodes)
};
c.Bootstrap = [];
c.Discovery = { MDNS: { Enabled: false, Interval: 10 }, webRTCStar: { Enabled: false } };
c.Swarm = { ...(c.Swarm || {}), DisableNatPortMap: true };   // no UPnP / NAT-PMP
c.Routing = { Type: 'none' };                                 // no DHT
c.Pubsub = { Router: 'gossipsub', Enabled: true };
fs.writeFileSync(f, JSON.stringify(c, null, 2));
EOF
}

pid_alive_for() { # PID DATA -> true if PID is our daemon for DATA
  local pid="$1" data="$2"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'ipfs-dev-daemon.mjs' || return 1
  tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "IPFS_PATH=$data"
}

prepare_repo() { # DATA API_PORT PREFIX: init the repo if missing, write the loopback-only config
  local data="$1" port="$2" prefix="$3"
  if [ -f "$data/daemon.pid" ] && pid_alive_for "$(cat "$data/daemon.pid")" "$data"; then
    die "a daemon is already running for $data (pid $(cat "$data/daemon.pid"))"
  fi
  if [ ! -f "$data/config" ]; then
    in_ns env IPFS_PATH="$data" node "$prefix/node_modules/.bin/jsipfs" init --profile test --empty-repo >/dev/null
  fi
  rm -rf "$data/repo.lock"  # stale lock (a directory) from a killed daemon (we checked no daemon runs for $data)
  configure_repo "$data" "$port" "$SWARM_PORT"
}

check_port() { case "$1" in ''|*[!0-9]*) die "API_PORT must be a number";; esac; }

# Foreground: the caller (a test harness) owns the process, its pid is this script's pid after
# exec, and it stops it with SIGTERM. Output goes to the caller's stdout/stderr.
do_run() {
  local data="$1" port="$2" prefix="$3"
  check_port "$port"
  if ! is_installed "$prefix"; then
    echo "ipfs-dev-daemon: js-ipfs is not installed in $prefix; run \`$0 install $prefix\`" >&2
    exit 3
  fi
  mkdir -p "$data"; data="$(cd "$data" && pwd)"
  ensure_netns
  prepare_repo "$data" "$port" "$prefix"
  echo "$$" > "$data/daemon.pid"
  if [ "$NETNS" = "current" ]; then
    exec env IPFS_PATH="$data" node "$prefix/ipfs-dev-daemon.mjs"
  else
    exec ip netns exec "$NETNS" env IPFS_PATH="$data" node "$prefix/ipfs-dev-daemon.mjs"
  fi
}

do_start() {
  local data="$1" port="$2" prefix="$3"
  check_port "$port"
  mkdir -p "$data"; data="$(cd "$data" && pwd)"
  do_install "$prefix"
  ensure_netns
  prepare_repo "$data" "$port" "$prefix"
  : > "$data/daemon.log"
  if [ "$NETNS" = "current" ]; then
    IPFS_PATH="$data" nohup node "$prefix/ipfs-dev-daemon.mjs" >> "$data/daemon.log" 2>&1 < /dev/null &
  else
    # `ip netns exec` and `env` exec the command, so $! is node's pid
    nohup ip netns exec "$NETNS" env IPFS_PATH="$data" node "$prefix/ipfs-dev-daemon.mjs" >> "$data/daemon.log" 2>&1 < /dev/null &
  fi
  local pid=$!
  echo "$pid" > "$data/daemon.pid"
  local t0=$SECONDS
  until in_ns curl -s -m 2 -X POST "http://127.0.0.1:$port/api/v0/version" 2>/dev/null | grep -q '"Version"'; do
    if ! kill -0 "$pid" 2>/dev/null; then tail -20 "$data/daemon.log" >&2; die "daemon exited"; fi
    if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then tail -20 "$data/daemon.log" >&2; kill "$pid" 2>/dev/null || true; die "API did not answer within ${TIMEOUT}s"; fi
    sleep 0.3
  done
  echo "ipfs-dev-daemon: ready after $((SECONDS - t0)) s: http://127.0.0.1:$port/api/v0 (pid $pid, netns $NETNS, repo $data, log $data/daemon.log)"
}

do_stop() {
  local data; data="$(cd "$1" && pwd)"
  [ -f "$data/daemon.pid" ] || { echo "ipfs-dev-daemon: no pid file in $data"; return 0; }
  local pid; pid="$(cat "$data/daemon.pid")"
  if pid_alive_for "$pid" "$data"; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    echo "ipfs-dev-daemon: stopped pid $pid"
  fi
  rm -f "$data/daemon.pid"
}

cmd="${1:-}"; shift || true
case "$cmd" in
  start)     [ $# -ge 2 ] || die "usage: $0 start DATA_DIR API_PORT [PREFIX]"
             do_start "$1" "$2" "${3:-$DEFAULT_PREFIX}" ;;
  run)       [ $# -ge 2 ] || die "usage: $0 run DATA_DIR API_PORT [PREFIX]"
             do_run "$1" "$2" "${3:-$DEFAULT_PREFIX}" ;;
  stop)      [ $# -ge 1 ] || die "usage: $0 stop DATA_DIR"; do_stop "$1" ;;
  install)   do_install "${1:-$DEFAULT_PREFIX}" ;;
  installed) is_installed "${1:-$DEFAULT_PREFIX}" ;;
  exec)      [ $# -ge 1 ] || die "usage: $0 exec CMD..."; ensure_netns; in_ns "$@" ;;
  *)         die "usage: $0 {start DATA_DIR API_PORT [PREFIX] | run DATA_DIR API_PORT [PREFIX] | stop DATA_DIR | install [PREFIX] | installed [PREFIX] | exec CMD...}" ;;
esac

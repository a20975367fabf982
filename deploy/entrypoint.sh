#!/bin/sh
# The container's entry point: create the data directory's identity and token on first start
# (kept on later starts: /data is a volume), then run `knack ARGS` (default `run`) as PID 1's
# exec so SIGTERM reaches the node and it stops cleanly.
set -eu
if [ "${1:-run}" = run ]; then
    knack init >/dev/null
fi
exec knack "$@"

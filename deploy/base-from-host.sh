#!/usr/bin/env bash
# Builds a minimal base image for deploy/Dockerfile from files of *this machine*, for hosts that
# cannot pull debian:bookworm-slim (no container registry reachable):
#
#   bash deploy/base-from-host.sh BINARY IMAGE ENGINE...
#   bash deploy/base-from-host.sh target/debug/knack localhost/knack-base:host podman
#
# The image holds busybox (Debian's busybox-static: /bin/sh and the few commands the
# Dockerfile's RUN and the entry point use), the shared libraries BINARY needs (from `ldd`:
# glibc's loader, libc, libm, libgcc_s), /etc/passwd and /etc/group with root and nobody, and
# /tmp. Nothing is downloaded but the busybox-static package when it is missing. The knack
# binary built on this host runs in it as it runs on the host (same glibc), and it is what
# deploy/Dockerfile's RUNTIME_IMAGE argument expects from a base: sh, mkdir, chown, chmod.
set -euo pipefail

bin="$1" image="$2"
shift 2
engine=("$@")

dpkg -s busybox-static >/dev/null 2>&1 || apt-get install -y -qq busybox-static >/dev/null
busybox=/bin/busybox

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,lib64,lib/x86_64-linux-gnu,usr/local/bin,sbin}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh mkdir chown chmod cat echo id ls rm env sleep; do
    ln -s busybox "$root/bin/$applet"
done
ln -s ../bin/busybox "$root/sbin/nologin"
# The libraries the binary loads, at the paths the loader looks for them.
ldd "$bin" | awk '/=>/ {print $3} !/=>/ && $1 ~ /^\// {print $1}' | while read -r lib; do
    [ -n "$lib" ] && [ -e "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" -c . | "${engine[@]}" import -q --change 'CMD ["/bin/sh"]' - "$image" >/dev/null

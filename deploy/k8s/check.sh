#!/usr/bin/env bash
# Offline check of the Kubernetes manifests, no cluster needed:
#  1. renders every kustomization with `kubectl kustomize`;
#  2. validates every rendered object against the Kubernetes OpenAPI schema with
#     `kubernetes-validate --strict` (PyPI; it ships the schemas, so no network at check time):
#     unknown fields (a typo such as `readinessProbes`), wrong types and missing required
#     fields fail;
#  3. checks what knack's deployment promises (deploy/k8s/validate.py): probes on /healthz and
#     /readyz, requests and limits, Prometheus annotations, a headless Service, the ConfigMap
#     and Secret wired in, a volume claim for /data, 88 replicas in seed-88.
#
#   bash deploy/k8s/check.sh
#
# (`kubectl apply --dry-run=client` is no offline check: it still asks an API server for the
# resource mapping and fails without one.)
#
# Installs kubectl (Debian's kubernetes-client) when absent and kubernetes-validate into a
# cached venv ($KNACK_K8S_VENV, default ~/.cache/knack/k8s-venv; ~10 s the first time). Prints
# `!!! K8S MANIFESTS NOT CHECKED: <reason>` and exits 0 when it cannot install them (exit 1 with
# KNACK_REQUIRE_K8S_CHECK=1). Invalid manifests exit 1.
set -euo pipefail
cd "$(dirname "$0")/../.."

not_run() {
    echo "!!! K8S MANIFESTS NOT CHECKED: $*"
    if [ "${KNACK_REQUIRE_K8S_CHECK:-0}" = 1 ]; then exit 1; fi
    exit 0
}

if ! command -v kubectl >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq kubernetes-client; } >/dev/null 2>&1 \
        || not_run "no kubectl, and the Debian package kubernetes-client cannot be installed"
fi
venv="${KNACK_K8S_VENV:-$HOME/.cache/knack/k8s-venv}"
if ! [ -x "$venv/bin/kubernetes-validate" ] || ! "$venv/bin/python" -c 'import yaml' 2>/dev/null; then
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q kubernetes-validate pyyaml; } >/dev/null 2>&1 \
        || not_run "cannot install kubernetes-validate (pip) into $venv"
fi

status=0
rendered_dir="$(mktemp -d)"
trap 'rm -rf "$rendered_dir"' EXIT
for kustomization in deploy/k8s/base deploy/k8s/seed-88; do
    echo "--- $kustomization"
    out="$rendered_dir/$(basename "$kustomization").yaml"
    if ! kubectl kustomize "$kustomization" >"$out"; then
        echo "INVALID $kustomization does not render"
        status=1
        continue
    fi
    "$venv/bin/kubernetes-validate" --strict --quiet "$out" || status=1
    "$venv/bin/python" deploy/k8s/validate.py "$out" "$(basename "$kustomization")" || status=1
done
[ "$status" = 0 ] && echo "k8s manifests: schema and deployment checks passed"
exit "$status"

#!/usr/bin/env bash
# Offline check of the Kubernetes manifests: renders every kustomization (`kubectl
# kustomize`, no cluster needed) and checks each manifest against the Kubernetes schema
# (deploy/k8s/validate.py, with the official Python client's models in a cached venv).
#
#   bash deploy/k8s/check.sh
#
# Installs kubectl from Debian (`kubernetes-client`) and the `kubernetes` Python package when
# absent; prints `!!! K8S MANIFESTS NOT CHECKED: <reason>` and exits 0 when it cannot (exit 1
# with KNACK_REQUIRE_K8S_CHECK=1). Invalid manifests exit 1.
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
if ! "$venv/bin/python" -c 'import kubernetes, pydantic, yaml' 2>/dev/null; then
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q 'kubernetes>=33' pyyaml; } >/dev/null 2>&1 \
        || not_run "cannot install the kubernetes Python client (pip install kubernetes) into $venv"
fi

status=0
for kustomization in deploy/k8s/base deploy/k8s/seed-88; do
    echo "--- $kustomization"
    rendered="$(kubectl kustomize "$kustomization")" || { status=1; continue; }
    printf '%s\n' "$rendered" | "$venv/bin/python" deploy/k8s/validate.py - || status=1
done
exit "$status"

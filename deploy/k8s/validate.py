#!/usr/bin/env python3
"""What knack's Kubernetes deployment promises, checked on rendered manifests (no cluster).

    kubectl kustomize deploy/k8s/base > /tmp/base.yaml
    python3 deploy/k8s/validate.py /tmp/base.yaml base      (or seed-88)

The schema itself is checked by `kubernetes-validate --strict` (deploy/k8s/check.sh); this
checks the deployment's own rules: a headless Service publishing not-ready pods, a
StatefulSet whose pods take their KNACK_* configuration from the ConfigMap and their API token
from the Secret, probes on /healthz and /readyz at the API port, requests and limits for CPU and
memory, the Prometheus scrape annotations, a volume claim mounted at /data, a non-root user, and
88 replicas in seed-88. Prints every problem and exits 1 if there is any.
"""

import sys

import yaml


def by_kind(docs):
    out = {}
    for doc in docs:
        if doc:
            out.setdefault(doc["kind"], []).append(doc)
    return out


def check(docs, overlay):
    problems = []
    kinds = by_kind(docs)
    for kind in ("StatefulSet", "Service", "ConfigMap", "Secret"):
        if len(kinds.get(kind, [])) != 1:
            problems.append(f"expected exactly one {kind}, found {len(kinds.get(kind, []))}")
    if problems:
        return problems
    sts, svc = kinds["StatefulSet"][0], kinds["Service"][0]
    cm, secret = kinds["ConfigMap"][0], kinds["Secret"][0]

    if svc["spec"].get("clusterIP") != "None":
        problems.append("the Service is not headless (clusterIP: None)")
    if not svc["spec"].get("publishNotReadyAddresses"):
        problems.append("the Service does not publish not-ready pods (peers could not resolve)")
    if sts["spec"].get("serviceName") != svc["metadata"]["name"]:
        problems.append("the StatefulSet's serviceName is not the headless Service")

    expected = 88 if overlay == "seed-88" else 3
    if sts["spec"].get("replicas") != expected:
        problems.append(f"replicas {sts['spec'].get('replicas')}, expected {expected}")

    pod = sts["spec"]["template"]
    annotations = pod["metadata"].get("annotations", {})
    for key, want in (("prometheus.io/scrape", "true"), ("prometheus.io/path", "/metrics")):
        if annotations.get(key) != want:
            problems.append(f"annotation {key} is {annotations.get(key)!r}, not {want!r}")
    if "prometheus.io/port" not in annotations:
        problems.append("no prometheus.io/port annotation")

    spec = pod["spec"]
    if not spec.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("pods are not runAsNonRoot")
    containers = [c for c in spec["containers"] if c["name"] == "knack"]
    if len(containers) != 1:
        return problems + ["no container named knack"]
    c = containers[0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if str(ports.get("api")) != annotations.get("prometheus.io/port"):
        problems.append("prometheus.io/port is not the api port")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"),
                        ("startupProbe", "/healthz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("api", ports.get("api")):
            problems.append(f"{probe} does not GET {path} on the api port")
    resources = c.get("resources", {})
    for side in ("requests", "limits"):
        for what in ("cpu", "memory"):
            if what not in resources.get(side, {}):
                problems.append(f"no {side}.{what}")
    sources = {(k, v["name"]) for s in c.get("envFrom", []) for k, v in s.items()}
    if ("configMapRef", cm["metadata"]["name"]) not in sources:
        problems.append("the container does not take its environment from the ConfigMap")
    if ("secretRef", secret["metadata"]["name"]) not in sources:
        problems.append("the container does not take its environment from the Secret")
    if "KNACK_API_TOKEN" not in secret.get("stringData", secret.get("data", {})):
        problems.append("the Secret has no KNACK_API_TOKEN")
    for key in ("KNACK_LISTEN", "KNACK_API", "KNACK_BOOTSTRAP"):
        if not cm.get("data", {}).get(key):
            problems.append(f"the ConfigMap sets no {key}")
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    if not any(mounts.get(name) == "/data" for name in claims):
        problems.append("no volume claim mounted at /data")
    return problems


def main():
    path, overlay = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        docs = list(yaml.safe_load_all(f))
    problems = check(docs, overlay)
    for problem in problems:
        print(f"INVALID {overlay}: {problem}")
    print(f"{overlay}: {len([d for d in docs if d])} objects, {len(problems)} deployment problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Offline schema check of rendered Kubernetes manifests (no cluster, no network).

    kubectl kustomize deploy/k8s/base | python3 deploy/k8s/validate.py -

`kubectl apply --dry-run=client` still asks an API server for the resource mapping and the
OpenAPI schema, so this checks every document against the models of the official Kubernetes
Python client instead (`pip install kubernetes`, 33 or newer: pydantic models generated from
the OpenAPI schema): every field must exist in its object's schema (a typo such as
`readinessProbes` fails), every value must have the schema's type, required fields must be
present, nested objects alike. Exit 1 on any problem.
"""

import re
import sys

import pydantic
import yaml
from kubernetes import client


def model_name(api_version, kind):
    """apps/v1 StatefulSet -> V1StatefulSet; v1 Service -> V1Service."""
    version = api_version.split("/")[-1]
    return version[0].upper() + version[1:] + kind


def check(doc, type_name, path, problems):
    """Validates `doc` with the client's pydantic model: unknown fields are forbidden, types
    strict (no "3" for 3), required fields present, nested objects alike."""
    model = getattr(client, type_name, None)
    if model is None:
        problems.append(f"{path}: no model {type_name} in the kubernetes client")
        return
    try:
        model.model_validate(doc, strict=True)
    except pydantic.ValidationError as e:
        for error in e.errors():
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"{path}: {where}: {error['msg']}")


def main():
    source = sys.stdin if sys.argv[1:] in ([], ["-"]) else open(sys.argv[1], encoding="utf-8")
    problems, count = [], 0
    for doc in yaml.safe_load_all(source):
        if not doc:
            continue
        count += 1
        kind, api_version = doc.get("kind"), doc.get("apiVersion")
        name = (doc.get("metadata") or {}).get("name", "?")
        if not kind or not api_version:
            problems.append(f"document {count}: no kind or apiVersion")
            continue
        check(doc, model_name(api_version, kind), f"{kind}/{name}", problems)
    for problem in problems:
        print(f"INVALID {problem}")
    print(f"{count} manifests checked, {len(problems)} problems")
    return 1 if problems or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

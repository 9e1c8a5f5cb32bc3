#!/usr/bin/env python3
"""Validates the Kubernetes and Prometheus Operator resources rendered by the mixin
(deploy/mixin/render --kubernetes deploy/kubernetes); run by deploy/tests/run.sh.

  validate.py [DIR]     default: the directory of this script

Schema checks: PrometheusRule and ServiceMonitor against the openAPIV3Schema of their CRDs
(schemas/*.schema.yaml, from prometheus-operator's example/prometheus-operator-crd), the core
kinds against the reduced schemas below (the fields of the Kubernetes API reference these
resources use; any other field is reported, as a typo would be). The validator implements the
structural subset of OpenAPI v3 the CRDs use: type, properties, required, items, enum, pattern,
minLength, additionalProperties, anyOf, x-kubernetes-int-or-string.

Consistency checks: the ServiceMonitor selects the Service and names one of its ports, that
port reaches a container port, the bearer token comes from the Secret the container reads
METRICS_TOKEN from; the probes are /livez, /readyz and /startupz; terminationGracePeriodSeconds
exceeds the drain delay plus the longest request; the PodDisruptionBudget selects the pods and
leaves one to evict; every dashboard ConfigMap carries the sidecar label and valid JSON; the
PrometheusRule's groups pass `promtool check rules`.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
MAP = {"type": "object", "additionalProperties": S}
META = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
    "namespace": S, "labels": MAP, "annotations": MAP}}
SELECTOR = {"type": "object", "properties": {"matchLabels": MAP}}
PORTREF = {"x-kubernetes-int-or-string": True}
PROBE = {"type": "object", "properties": {
    "httpGet": {"type": "object", "required": ["port"], "properties": {"path": S, "port": PORTREF}},
    "periodSeconds": I, "failureThreshold": I, "timeoutSeconds": I, "initialDelaySeconds": I}}
SECRETREF = {"type": "object", "required": ["key"], "properties": {"name": S, "key": S, "optional": B}}
CONTAINER = {"type": "object", "required": ["name", "image"], "properties": {
    "name": S, "image": S, "args": {"type": "array", "items": S},
    "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"], "properties": {
        "name": S, "containerPort": I, "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]}}}},
    "env": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
        "name": S, "value": S, "valueFrom": {"type": "object", "properties": {"secretKeyRef": SECRETREF}}}}},
    "startupProbe": PROBE, "livenessProbe": PROBE, "readinessProbe": PROBE,
    "resources": {"type": "object", "properties": {"requests": MAP, "limits": MAP}},
    "securityContext": {"type": "object", "properties": {
        "runAsNonRoot": B, "allowPrivilegeEscalation": B, "readOnlyRootFilesystem": B}}}}
CORE = {
    ("apps/v1", "Deployment"): {"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": S, "kind": S, "metadata": META, "spec": {"type": "object", "required": ["selector", "template"], "properties": {
            "replicas": I, "selector": SELECTOR, "template": {"type": "object", "properties": {
                "metadata": {"type": "object", "properties": {"labels": MAP}},
                "spec": {"type": "object", "required": ["containers"], "properties": {
                    "terminationGracePeriodSeconds": I, "containers": {"type": "array", "items": CONTAINER}}}}}}}}},
    ("v1", "Service"): {"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": S, "kind": S, "metadata": META, "spec": {"type": "object", "properties": {
            "selector": MAP, "ports": {"type": "array", "items": {"type": "object", "required": ["port"], "properties": {
                "name": S, "port": I, "targetPort": PORTREF, "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]}}}}}}}},
    ("policy/v1", "PodDisruptionBudget"): {"type": "object", "required": ["metadata", "spec"], "properties": {
        "apiVersion": S, "kind": S, "metadata": META, "spec": {"type": "object", "properties": {
            "minAvailable": PORTREF, "maxUnavailable": PORTREF, "selector": SELECTOR}}}},
    ("v1", "ConfigMap"): {"type": "object", "required": ["metadata"], "properties": {
        "apiVersion": S, "kind": S, "metadata": META, "data": MAP}},
}
CRD = {("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.schema.yaml",
       ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.schema.yaml"}


def validate(value, schema, path, problems):
    """The structural OpenAPI v3 subset of CRD schemas."""
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            problems.append(f"{path}: {value!r} is neither an integer nor a string")
        return
    if "anyOf" in schema:
        if not any(not validate_quiet(value, alt) for alt in schema["anyOf"]):
            problems.append(f"{path}: {value!r} matches none of {schema['anyOf']}")
        return
    t = schema.get("type")
    ok = {"string": lambda v: isinstance(v, str), "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "boolean": lambda v: isinstance(v, bool), "object": lambda v: isinstance(v, dict),
          "array": lambda v: isinstance(v, list), None: lambda v: True}[t]
    if not ok(value):
        problems.append(f"{path}: expected {t}, got {type(value).__name__} {value!r:.60}")
        return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str):
        pat = schema["pattern"].replace("(?i)", "")
        if not re.search(pat, value, re.I if "(?i)" in schema["pattern"] else 0):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minLength" in schema and isinstance(value, str) and len(value) < schema["minLength"]:
        problems.append(f"{path}: shorter than {schema['minLength']}")
    if t == "object":
        props = schema.get("properties")
        for req in schema.get("required", []):
            if req not in value:
                problems.append(f"{path}: required field {req} missing")
        for k, v in value.items():
            if props is not None and k in props:
                validate(v, props[k], f"{path}.{k}", problems)
            elif "additionalProperties" in schema:
                validate(v, schema["additionalProperties"], f"{path}.{k}", problems)
            elif props is not None:
                problems.append(f"{path}: unknown field {k}")
    if t == "array" and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], f"{path}[{i}]", problems)


def validate_quiet(value, schema):
    problems = []
    validate(value, schema, "", problems)
    return problems


def load_all(d):
    docs = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".yaml") and not f.startswith("kustomization"):
            with open(os.path.join(d, f)) as fh:
                docs += [(f, doc) for doc in yaml.safe_load_all(fh) if doc]
    return docs


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def consistency(docs, problems):
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deps, svcs = by_kind.get("Deployment", []), by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"].get("matchLabels")
        hit = [s for s in svcs if matches(sel, s["metadata"].get("labels", {}))]
        if not hit:
            problems.append(f"ServiceMonitor {sm['metadata']['name']}: selects no Service")
            continue
        for ep in sm["spec"]["endpoints"]:
            ports = {p.get("name"): p for s in hit for p in s["spec"]["ports"]}
            if ep.get("port") not in ports:
                problems.append(f"ServiceMonitor {sm['metadata']['name']}: port {ep.get('port')} is not a port of the Service")
            cred = ep.get("authorization", {}).get("credentials") or ep.get("bearerTokenSecret")
            envs = [e for d in deps for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
                    if e["name"] == "METRICS_TOKEN"]
            if not cred:
                problems.append(f"ServiceMonitor {sm['metadata']['name']}: no bearer token (the admin /metrics requires one)")
            elif not any(e.get("valueFrom", {}).get("secretKeyRef") == cred for e in envs):
                problems.append(f"ServiceMonitor {sm['metadata']['name']}: token {cred} is not the Secret the container reads METRICS_TOKEN from")
    for s in svcs:
        pods = [d for d in deps if matches(s["spec"].get("selector"), d["spec"]["template"]["metadata"]["labels"])]
        if not pods:
            problems.append(f"Service {s['metadata']['name']}: selects no Deployment's pods")
        cports = {p.get("name") for d in pods for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            if isinstance(p.get("targetPort"), str) and p["targetPort"] not in cports:
                problems.append(f"Service {s['metadata']['name']}: targetPort {p['targetPort']} is no container port")
    cfg = json.loads(subprocess.run([os.path.join(ROOT, "deploy", "mixin", "render"), "--print-config"],
                                    capture_output=True, text=True, check=True, timeout=120).stdout)
    for d in deps:
        name = d["metadata"]["name"]
        tmpl = d["spec"]["template"]
        if not matches(d["spec"]["selector"]["matchLabels"], tmpl["metadata"]["labels"]):
            problems.append(f"Deployment {name}: its selector does not match its pod labels")
        for c in tmpl["spec"]["containers"]:
            paths = {k: c.get(k, {}).get("httpGet", {}).get("path") for k in ("startupProbe", "livenessProbe", "readinessProbe")}
            if paths != {"startupProbe": "/startupz", "livenessProbe": "/livez", "readinessProbe": "/readyz"}:
                problems.append(f"Deployment {name}: probes {paths}, expected /startupz, /livez, /readyz")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            drain = int(env.get("PF_DEMO_DRAIN_DELAY_MS") or 0) / 1000
            longest = cfg["kubernetes"]["longestRequestSeconds"]
            grace = tmpl["spec"].get("terminationGracePeriodSeconds", 30)
            if not grace > drain + longest:
                problems.append(f"Deployment {name}: terminationGracePeriodSeconds {grace} is not above the drain delay "
                                f"{drain:g} s + the longest request {longest} s")
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if matches(p["spec"]["selector"]["matchLabels"], tmpl["metadata"]["labels"])]
        if not pdbs:
            problems.append(f"Deployment {name}: no PodDisruptionBudget selects its pods")
        for p in pdbs:
            if isinstance(p["spec"].get("minAvailable"), int) and p["spec"]["minAvailable"] >= d["spec"].get("replicas", 1):
                problems.append(f"PodDisruptionBudget {p['metadata']['name']}: minAvailable leaves no pod to evict")
    for cm in by_kind.get("ConfigMap", []):
        if not matches(cfg["grafanaDashboardLabel"], cm["metadata"].get("labels", {})):
            problems.append(f"ConfigMap {cm['metadata']['name']}: no Grafana sidecar label {cfg['grafanaDashboardLabel']}")
        for k, v in cm.get("data", {}).items():
            try:
                if not json.loads(v).get("uid"):
                    problems.append(f"ConfigMap {cm['metadata']['name']}: {k} has no uid")
            except ValueError as e:
                problems.append(f"ConfigMap {cm['metadata']['name']}: {k} is not JSON: {e}")
    for pr in by_kind.get("PrometheusRule", []):
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as fh:
            yaml.safe_dump({"groups": pr["spec"]["groups"]}, fh)
            fh.flush()
            r = subprocess.run(["promtool", "check", "rules", fh.name], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                problems.append(f"PrometheusRule {pr['metadata']['name']}: promtool check rules: {r.stdout}{r.stderr}")
    for kind in ("PrometheusRule", "ServiceMonitor", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap"):
        if kind not in by_kind:
            problems.append(f"no {kind} rendered")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else HERE
    problems = []
    docs = load_all(d)
    for f, doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        where = f"{f}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        if key in CRD:
            with open(os.path.join(HERE, "schemas", CRD[key])) as fh:
                schema = yaml.safe_load(fh)
        elif key in CORE:
            schema = CORE[key]
        else:
            problems.append(f"{where}: no schema for {key}")
            continue
        validate(doc, schema, where, problems)
    consistency(docs, problems)
    for p in problems:
        print(p)
    print(f"{len(docs)} resources, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

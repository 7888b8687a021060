"""The Kubernetes manifests of deploy/k8s as the tests see them: each overlay rendered by the
real `kubectl kustomize`, the Jobs read as they are applied, and small lookups over the
objects. No Kubernetes API server is needed (or reachable here)."""

import os
import re
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
OVERLAYS = ["single", "cluster"]
JOBS = ["migration-job.yaml", "cleanup-job.yaml"]


def kubectl():
    return os.environ.get("KUBECTL", "kubectl")


def render_text(overlay):
    path = os.path.join(K8S, "overlays", overlay)
    r = subprocess.run([kubectl(), "kustomize", path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"kubectl kustomize {path} failed: {r.stderr}"
    return r.stdout


def render(overlay):
    return [d for d in yaml.safe_load_all(render_text(overlay)) if d]


def job(name):
    with open(os.path.join(K8S, name)) as f:
        return yaml.safe_load(f)


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def all_of(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def env_value(container, name):
    for e in container.get("env", []):
        if e["name"] == name:
            return e.get("value")
    return None


VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text, env):
    """Kubernetes' $(VAR) expansion of a value over the variables defined so far."""
    return VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def container_env(container, secrets, field_refs):
    """The environment a container starts with: values (with $(VAR) expanded in list order),
    secretKeyRef values from `secrets` ({name: {key: value}}) and fieldRef values from
    `field_refs` ({fieldPath: value})."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = expand(e["value"], env)
            continue
        src = e["valueFrom"]
        if "secretKeyRef" in src:
            ref = src["secretKeyRef"]
            env[e["name"]] = secrets[ref["name"]][ref["key"]]
        elif "fieldRef" in src:
            env[e["name"]] = field_refs[src["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"unexpected env source {src}")
    return env


def secrets_of(objs):
    out = {}
    for s in all_of(objs, "Secret"):
        out[s["metadata"]["name"]] = dict(s.get("stringData", {}))
    return out

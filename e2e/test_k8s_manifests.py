"""deploy/k8s checked offline: every overlay renders with the real `kubectl kustomize`, the
rendered objects and the Jobs validate strictly against the Kubernetes OpenAPI schemas
(`kubernetes-validate --strict`), the ServiceMonitor against the Prometheus Operator fields
it uses, and the checks below cover what schemas cannot see (selectors matching labels,
probes on real ports, Jobs that can retry, $(VAR) order, Secret keys that exist, commands
the real `rustfs-admin` accepts). Each check is also shown to catch the mistake it is for."""

import copy
import os
import re
import subprocess
import tempfile

import jsonschema
import pytest

import k8s
from conftest import ADMIN_BIN


@pytest.fixture(scope="module", params=k8s.OVERLAYS)
def rendered(request):
    return request.param, k8s.render(request.param)


def jobs():
    return [k8s.job(n) for n in k8s.JOBS]


def subset(small, big):
    return all(big.get(k) == v for k, v in small.items())


def server_container(objs):
    sts = k8s.one(objs, "StatefulSet")
    return next(c for c in k8s.pod_spec(sts)["containers"] if c["name"] == "rustfs")


def check_selectors(objs):
    sts = k8s.one(objs, "StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert subset(sts["spec"]["selector"]["matchLabels"], labels), "the StatefulSet's selector misses its pods"
    for svc in k8s.all_of(objs, "Service"):
        assert subset(svc["spec"]["selector"], labels), f"Service {svc['metadata']['name']} selects no pod"
    pdb = k8s.one(objs, "PodDisruptionBudget")
    assert subset(pdb["spec"]["selector"]["matchLabels"], labels), "the PodDisruptionBudget covers no pod"
    hl = k8s.one(objs, "Service", sts["spec"]["serviceName"])
    assert hl["spec"].get("clusterIP") == "None", "the StatefulSet's serviceName must be the headless Service"
    assert hl["spec"].get("publishNotReadyAddresses") is True, "peers must resolve before they are ready"
    assert sts["spec"].get("podManagementPolicy") == "Parallel", "pods must start together to find quorum"


def named_ports(container):
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def check_probes(objs):
    c = server_container(objs)
    ports = named_ports(c)
    address_port = int(k8s.env_value(c, "RUSTFS_ADDRESS").rsplit(":", 1)[1])
    expected = {"startupProbe": "/health/live", "livenessProbe": "/health/live", "readinessProbe": "/health/ready"}
    for probe, path in expected.items():
        get = c[probe]["httpGet"]
        port = get["port"]
        number = ports.get(port) if isinstance(port, str) else port
        assert number is not None, f"{probe} names port {port!r}, which the container does not declare"
        assert number == address_port, f"{probe} probes {number}, the server listens on {address_port}"
        # Liveness on readiness would restart a pod that waits for its peers.
        assert get["path"] == path, f"{probe} probes {get['path']}, expected {path}"


def check_service_ports(objs):
    ports = named_ports(server_container(objs))
    for svc in k8s.all_of(objs, "Service"):
        for p in svc["spec"]["ports"]:
            t = p.get("targetPort", p["port"])
            assert (t in ports) if isinstance(t, str) else (t in ports.values()), (
                f"Service {svc['metadata']['name']} port {p['name']} targets {t!r}, which the pods do not declare"
            )


def check_service_monitor(objs):
    sm = k8s.one(objs, "ServiceMonitor")
    chosen = [s for s in k8s.all_of(objs, "Service") if subset(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    assert [s["metadata"]["name"] for s in chosen] == ["rustfs"], "the ServiceMonitor must select the client Service alone"
    svc_ports = {p["name"] for p in chosen[0]["spec"]["ports"]}
    secrets = k8s.secrets_of(objs)
    for ep in sm["spec"]["endpoints"]:
        assert ep["port"] in svc_ports, f"the ServiceMonitor scrapes port {ep['port']!r}, which the Service lacks"
        assert ep["path"] == "/metrics"
        cred = ep["authorization"]["credentials"]
        assert cred["key"] in secrets.get(cred["name"], {}), "the metrics token's Secret key does not exist"


# The Prometheus Operator ServiceMonitor fields used (monitoring.coreos.com/v1), strictly.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "authorization": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "type": {"type": "string"},
                                    "credentials": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["key"],
                                        "properties": {"name": {"type": "string"}, "key": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_env_order(container):
    defined = set()
    for e in container.get("env", []):
        for ref in k8s.VAR.findall(e.get("value", "")):
            assert ref in defined, f"env {e['name']} refers to $({ref}) before it is defined: it would stay literal"
        defined.add(e["name"])
    for a in container.get("args", []) + container.get("command", []):
        for ref in k8s.VAR.findall(a):
            assert ref in defined, f"argument {a!r} refers to $({ref}), which no env defines"


def check_secret_refs(containers, secrets):
    for c in containers:
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets.get(ref["name"], {}), f"env {e['name']}: Secret {ref['name']} has no key {ref['key']}"


def expand_braces(s):
    m = re.search(r"\{(\d+)\.\.\.(\d+)\}", s)
    if not m:
        return [s]
    return [x for n in range(int(m.group(1)), int(m.group(2)) + 1) for x in expand_braces(s[: m.start()] + str(n) + s[m.end():])]


def check_volumes(objs):
    sts = k8s.one(objs, "StatefulSet")
    spec = k8s.pod_spec(sts)
    c = server_container(objs)
    volumes = {v["name"] for v in spec.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    for name in mounts:
        assert name in volumes or name in claims, f"volumeMount {name} has no volume or claim"
    for name in claims:
        assert name in mounts, f"volume claim {name} is mounted nowhere"
    args = c["args"]
    drives = expand_braces(args[args.index("--drives") + 1])
    per_pod = {re.sub(r"^http://[^/]+", "", d) for d in drives}
    assert per_pod <= set(mounts.values()), f"drives {sorted(per_pod - set(mounts.values()))} are no mounted volume"
    assert per_pod.isdisjoint({mounts["meta"]}), "a drive must not be the KV's volume"
    assert len(drives) % 12 == 0, f"{len(drives)} drives do not make erasure sets of 12"
    nodes = {d.split("/")[2] for d in drives if d.startswith("http://")}
    assert len(nodes) in (0, sts["spec"]["replicas"]), "the drive list names another number of pods than the replicas"
    assert k8s.env_value(c, "RUSTFS_DATA") == mounts["meta"], "the data folder (the KV) must be the meta volume"


def check_job(j, image):
    spec = j["spec"]["template"]["spec"]
    assert spec["restartPolicy"] in ("OnFailure", "Never"), "a Job's pods must be OnFailure or Never"
    assert "backoffLimit" in j["spec"], "a Job needs a bounded number of retries"
    assert "namespace" not in j["metadata"], "the Jobs are applied into the deployment's namespace"
    (c,) = spec["containers"]
    assert c["image"] == image, f"the Job runs {c['image']}, the deployment {image}"
    assert c["command"][0] == "rustfs-admin"
    endpoint = k8s.env_value(c, "RUSTFS_ENDPOINT")
    assert endpoint == "http://rustfs:9000", f"the Job must talk to the client Service, not {endpoint}"
    # The command is one the real CLI accepts.
    r = subprocess.run([ADMIN_BIN, *c["command"][1:], "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"rustfs-admin refuses {c['command']}: {r.stderr}"


def test_overlays_render_and_validate_strictly(rendered):
    overlay, _ = rendered
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(k8s.render_text(overlay))
        f.flush()
        files = [f.name] + [os.path.join(k8s.K8S, n) for n in k8s.JOBS]
        r = subprocess.run(["kubernetes-validate", "--strict", "--quiet", *files], capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "ERROR" not in out, out
    # The one kind without a bundled schema is checked against the operator's fields.
    unknown = [line for line in out.splitlines() if "Couldn't find schema" in line and "ServiceMonitor" not in line]
    assert not unknown, unknown


def test_strict_validation_rejects_an_unknown_field():
    bad = k8s.render_text("single").replace("podManagementPolicy: Parallel", "podManagementPolicy: Parallel\n  podPolicy: x")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(bad)
        f.flush()
        r = subprocess.run(["kubernetes-validate", "--strict", "--quiet", f.name], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0, r.stdout


def test_the_checks_pass(rendered):
    _, objs = rendered
    check_selectors(objs)
    check_probes(objs)
    check_service_ports(objs)
    check_service_monitor(objs)
    jsonschema.validate(k8s.one(objs, "ServiceMonitor"), SERVICE_MONITOR_SCHEMA)
    check_volumes(objs)
    check_env_order(server_container(objs))
    secrets = k8s.secrets_of(objs)
    check_secret_refs([server_container(objs)] + [j["spec"]["template"]["spec"]["containers"][0] for j in jobs()], secrets)
    image = server_container(objs)["image"]
    for j in jobs():
        check_job(j, image)


def test_the_cluster_overlay_is_a_cluster():
    objs = k8s.render("cluster")
    c = server_container(objs)
    assert k8s.one(objs, "StatefulSet")["spec"]["replicas"] == 3
    assert k8s.env_value(c, "RUSTFS_NODE").startswith("$(POD_NAME).rustfs-hl.")
    listen = k8s.env_value(c, "RUSTFS_INTERNODE_LISTEN")
    assert int(listen.rsplit(":", 1)[1]) == named_ports(c)["internode"]
    assert any(e["name"] == "RUSTFS_CLUSTER_SECRET" for e in c["env"]), "internode traffic needs the cluster secret"
    anti = k8s.pod_spec(k8s.one(objs, "StatefulSet"))["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"], "two pods on one machine would hold 8 shards"
    single = server_container(k8s.render("single"))
    assert not any(e["name"] == "RUSTFS_CLUSTER_SECRET" for e in single["env"])


def test_every_pod_runs_unprivileged(rendered):
    _, objs = rendered
    for spec in [k8s.pod_spec(k8s.one(objs, "StatefulSet"))] + [j["spec"]["template"]["spec"] for j in jobs()]:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "memory" in c["resources"]["limits"] and "cpu" in c["resources"]["requests"]


def mutate(objs, fn):
    objs = copy.deepcopy(objs)
    fn(objs)
    return objs


def sts_of(objs):
    return k8s.one(objs, "StatefulSet")


def test_the_checks_catch_their_mistakes():
    objs = k8s.render("cluster")

    def relabel_pods(o):
        sts_of(o)["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "srv"

    def probe_wrong_port(o):
        server_container(o)["livenessProbe"]["httpGet"]["port"] = "http"

    def liveness_on_ready(o):
        server_container(o)["livenessProbe"]["httpGet"]["path"] = "/health/ready"

    def monitor_the_headless(o):
        k8s.one(o, "ServiceMonitor")["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "rustfs"}

    def ordered_start(o):
        sts_of(o)["spec"]["podManagementPolicy"] = "OrderedReady"

    def unmounted_drive(o):
        c = server_container(o)
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != "drive4"]

    def env_after_use(o):
        c = server_container(o)
        c["env"] = [e for e in c["env"] if e["name"] != "POD_NAME"] + [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]

    cases = [
        (relabel_pods, check_selectors),
        (ordered_start, check_selectors),
        (probe_wrong_port, check_probes),
        (liveness_on_ready, check_probes),
        (monitor_the_headless, check_service_monitor),
        (unmounted_drive, check_volumes),
        (env_after_use, lambda o: check_env_order(server_container(o))),
    ]
    for fn, check in cases:
        with pytest.raises(AssertionError):
            check(mutate(objs, fn))
    image = server_container(objs)["image"]
    always = copy.deepcopy(jobs()[0])
    always["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    with pytest.raises(AssertionError):
        check_job(always, image)
    typo = copy.deepcopy(jobs()[0])
    typo["spec"]["template"]["spec"]["containers"][0]["command"] = ["rustfs-admin", "migration", "begin"]
    with pytest.raises(AssertionError):
        check_job(typo, image)
    with pytest.raises(AssertionError):
        check_secret_refs([server_container(objs)], {"rustfs-credentials": {}})
    bad_sm = copy.deepcopy(k8s.one(objs, "ServiceMonitor"))
    bad_sm["spec"]["endpoints"][0]["bearerTokenFile"] = "/x"
    bad_sm["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_sm, SERVICE_MONITOR_SCHEMA)

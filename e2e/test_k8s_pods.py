"""The rendered pods of deploy/k8s run as real processes: each overlay's container args and
environment (the Secret's keys, the ConfigMap's YAML, the fieldRefs of the pod) start the
real `rustfs`, with only what a machine without Kubernetes must change mapped: mount paths
to temporary folders, the pods' DNS names to 127.0.0.N, and the ports to free ones. The
probes are asked on the paths and ports the manifests give, the metrics with the token the
ServiceMonitor sends, the migration Job's command runs against the client endpoint, and a
cluster started one pod at a time (as `podManagementPolicy: Parallel` allows) waits for
its peers instead of crashing."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import k8s
from cluster_data import port_free_on
from conftest import ACCESS, BIN, SECRET, Server, free_port

NAMESPACE = "rustfs"


def container(objs):
    sts = k8s.one(objs, "StatefulSet")
    return next(c for c in k8s.pod_spec(sts)["containers"] if c["name"] == "rustfs")


def probe_paths(c):
    return {p: c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}


class Pod(Server):
    """Pod `ordinal` of a rendered overlay as a local process. Like a container it sees its
    own volumes at the manifest's mount paths under `root` (a folder every pod names the
    same), through a bind mount in a mount namespace of its own (`unshare -m`)."""

    def __init__(self, objs, ordinal, host, port, root, internode=None):
        super().__init__(host=host, port=port)
        self.c = c = container(objs)
        self.root = root
        self.own = os.path.join(self.tmp, "volumes")
        for m in c["volumeMounts"]:
            os.makedirs(self.own + m["mountPath"], exist_ok=True)
        # The ConfigMap's YAML where the pod would see it mounted.
        cm = k8s.one(objs, "ConfigMap")
        config_dir = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "config")
        for name, text in cm["data"].items():
            with open(os.path.join(self.own + config_dir, name), "w") as f:
                f.write(text)
        secrets = k8s.secrets_of(objs)
        secrets["rustfs-credentials"].update(RUSTFS_ACCESS_KEY=ACCESS, RUSTFS_SECRET_KEY=SECRET)
        self.metrics_token = secrets["rustfs-credentials"]["RUSTFS_METRICS_TOKEN"]
        pod_env = k8s.container_env(c, secrets, {"metadata.name": f"rustfs-{ordinal}", "metadata.namespace": NAMESPACE})
        self.internode = internode
        env = {k: self.localize(v) for k, v in pod_env.items()}
        self.args = [self.localize(k8s.expand(a, pod_env)) for a in c["args"]]
        self.env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "info,s3s=off", **env}
        if internode:
            # Three processes on one machine cannot all listen on 0.0.0.0.
            self.env["RUSTFS_INTERNODE_LISTEN"] = f"{host}:{internode}"
            # The manifests keep the default internode port (7000) the free one replaces.
            self.env["RUSTFS_INTERNODE_PORT"] = str(internode)
            self.env["RUSTFS_RAFT_ELECTION_TIMEOUT_MS"] = "500"
        self.env["RUSTFS_ADDRESS"] = f"{host}:{port}"

    def localize(self, v):
        """A pod's DNS name is 127.0.0.(ordinal + 1), its ports free ones, its paths under root."""
        v = re.sub(r"rustfs-(\d+)\.rustfs-hl\.%s\.svc\.cluster\.local" % NAMESPACE,
                   lambda m: f"127.0.0.{int(m.group(1)) + 1}", v)
        v = re.sub(r"rustfs-\{(\d+)\.\.\.(\d+)\}\.rustfs-hl\.%s\.svc\.cluster\.local" % NAMESPACE,
                   lambda m: f"127.0.0.{{{int(m.group(1)) + 1}...{int(m.group(2)) + 1}}}", v)
        v = v.replace(":9000", f":{self.port}")
        if self.internode:
            v = v.replace(":7000", f":{self.internode}")
        if v.startswith("/"):
            return self.root + v
        return re.sub(r"^(http://[^/]+)(/.*)$", lambda m: m.group(1) + self.root + m.group(2), v)

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        # The pod's folder bound over the root in a mount namespace of its own, then the server.
        cmd = ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
               'src="$1"; dst="$2"; shift 2; mount --bind "$src" "$dst" && exec "$@"', "pod", self.own, self.root,
               BIN, *self.args]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout=60)
        return self

    def get(self, path, headers=None):
        req = urllib.request.Request(self.endpoint + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e)


@pytest.fixture
def root():
    r = tempfile.mkdtemp(prefix="rustfs-k8s-root-")
    yield r
    shutil.rmtree(r, ignore_errors=True)


def test_the_single_pod_starts_serves_and_runs_the_jobs(root):
    objs = k8s.render("single")
    pod = Pod(objs, 0, "127.0.0.1", free_port(), root)
    try:
        assert pod.args == ["server", "--drives", root + "/drive{1...12}"], pod.args
        pod.start()
        for probe, path in probe_paths(pod.c).items():
            assert pod.get(path)[0] == 200, f"{probe} {path}"
        # What the ServiceMonitor scrapes, with its token; without it, refused.
        status, text = pod.get("/metrics", {"Authorization": f"Bearer {pod.metrics_token}"})
        assert status == 200 and "rustfs_erasure_sets_with_quorum 1" in text
        assert pod.get("/metrics")[0] == 401
        info = pod.admin("--json", "info").stdout.decode()
        assert '"sets": 1' in info
        s3 = pod.client()
        s3.create_bucket(Bucket="k8s")
        s3.put_object(Bucket="k8s", Key="a/b", Body=b"from a pod")
        # The StatefulSet's env: a legacy deployment, DualTrack at ratio 0.
        assert "phase=legacy" in pod.admin("migration", "status", "--short").stdout.decode()
        pod.admin("migration", "phase", "canary", "--ratio", "0.05")
        pod.admin("migration", "phase", "fullout")
        # The migration Job's command, against the pod as its client Service.
        job = k8s.job("migration-job.yaml")["spec"]["template"]["spec"]["containers"][0]
        r = pod.admin(*job["command"][1:])
        assert b"migrator pass" in r.stdout, r.stdout
        assert "migrator_done=true" in pod.admin("migration", "status", "--short").stdout.decode()
        # SIGTERM within the pod's grace period.
        grace = k8s.pod_spec(k8s.one(objs, "StatefulSet"))["terminationGracePeriodSeconds"]
        t0 = time.time()
        assert pod.stop(timeout=grace) == 0
        assert time.time() - t0 < grace
    finally:
        pod.cleanup()


def wait_for(fn, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_cluster_pods_started_apart_wait_for_their_peers(root):
    objs = k8s.render("cluster")
    replicas = k8s.one(objs, "StatefulSet")["spec"]["replicas"]
    hosts = [f"127.0.0.{i + 1}" for i in range(replicas)]
    port = port_free_on(hosts)
    internode = port_free_on(hosts)
    while internode == port:
        internode = port_free_on(hosts)
    pods = [Pod(objs, i, hosts[i], port, root, internode) for i in range(replicas)]
    try:
        for p in pods:
            assert p.env["RUSTFS_NODE"] == f"{p.host}:{port}", p.env["RUSTFS_NODE"]
        paths = probe_paths(pods[0].c)
        pods[0].start(wait=False)
        # Alone, the first pod is alive (liveness and startup pass: no restart) and not ready.
        wait_for(lambda: pods[0].get(paths["livenessProbe"])[0] == 200, 30, "pod 0 to answer its liveness probe")
        time.sleep(3)
        assert pods[0].proc.poll() is None, pods[0].logs()
        status, reason = pods[0].get(paths["readinessProbe"])
        assert status == 503, (status, reason)
        assert pods[0].get(paths["startupProbe"])[0] == 200
        for p in pods[1:]:
            p.start(wait=False)
        for p in pods:
            p.wait_ready(timeout=90)
        s3 = pods[1].client()
        s3.create_bucket(Bucket="spread")
        s3.put_object(Bucket="spread", Key="k", Body=b"x" * 300_000)
        assert pods[2].client().get_object(Bucket="spread", Key="k")["Body"].read() == b"x" * 300_000
        info = pods[0].admin("--json", "info").stdout.decode()
        assert info.count('"state": "online"') >= replicas, info
    finally:
        for p in pods:
            p.cleanup()

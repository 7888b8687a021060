"""Harness for clusters whose erasure sets spread over the nodes: N real `rustfs` processes,
node i on 127.0.0.i (every node on the same S3 port and the same internode port, as on
real machines), each with its own drive folders, all named in one drive list
(`http://127.0.0.i:PORT/<folder>`), the metadata replicated over the same nodes."""

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from conftest import Nodes, Server

SECRET = "e2e-data-plane-secret"


def port_free_on(hosts):
    """A TCP port free on every one of `hosts`."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        ok = True
        for h in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on every host")


class DataCluster(Nodes):
    """`pools` is a list of node counts (one pool of 3 nodes by default), each node holding
    `per` drives of its pool; all pools' nodes share the drive list."""

    def __init__(self, pools=(3,), per=4, env=None, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="rustfs-cluster-")
        count = sum(pools)
        self.hosts = [f"127.0.0.{i + 1}" for i in range(count)]
        self.port = port_free_on(self.hosts)
        self.internode = port_free_on(self.hosts)
        while self.internode == self.port:
            self.internode = port_free_on(self.hosts)
        self.per = per
        self.pool_sizes = list(pools)
        self.env = dict(env or {})
        self.extra_args = list(extra_args)
        self.nodes = []
        for i, h in enumerate(self.hosts):
            for d in self.node_drives(i):
                os.makedirs(d, exist_ok=True)
            self.nodes.append(self._server(i))

    def node_drives(self, i):
        return [os.path.join(self.tmp, f"n{i + 1}", f"d{d + 1}") for d in range(self.per)]

    def pool_args(self, pools=None):
        """The drive list, one plain list per pool (the YAML `pools:` form)."""
        out, start = [], 0
        for n in pools or self.pool_sizes:
            out.append([f"http://{self.hosts[i]}:{self.port}{d}" for i in range(start, start + n) for d in self.node_drives(i)])
            start += n
        return out

    def _server(self, i, pools=None):
        env = {
            "RUSTFS_CLUSTER_SECRET": SECRET,
            "RUSTFS_INTERNODE_PORT": str(self.internode),
            "RUSTFS_RAFT_ELECTION_TIMEOUT_MS": "500",
            "RUSTFS_RAFT_HEARTBEAT_INTERVAL_MS": "50",
            "RUSTFS_DRIVE_TIMEOUT_SECS": "3",
        }
        env.update(self.env)
        lists = self.pool_args(pools)
        config = "pools:\n" + "".join("  - [" + ", ".join(json.dumps(d) for d in p) + "]\n" for p in lists)
        s = Server(data=os.path.join(self.tmp, f"n{i + 1}", "data"), host=self.hosts[i], port=self.port, env=env,
                   config_text=config, extra_args=self.extra_args)
        s.drives = lambda i=i: self.node_drives(i)
        return s

    def start(self, timeout=90):
        for s in self.nodes:
            s.start(wait=False)
        for s in self.nodes:
            s.wait_ready(timeout=timeout)
        return self

    def info(self, node):
        return json.loads(node.admin("--json", "info").stdout)

    def shard_files(self, i):
        """Shard files on node i's drives, by drive: paths relative to the drive."""
        out = []
        for d in self.node_drives(i):
            files = glob.glob(os.path.join(d, ".rustfs.sys", "data", "*", "*", "*", "part.*"))
            out.append(sorted(os.path.relpath(f, d) for f in files))
        return out

    def wait_heal_done(self, node, timeout=120):
        """Waits until the cluster wants no more heal and no walk runs; returns the last
        walk's progress."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            p = node.admin("--json", "heal", "status", check=False)
            if p.returncode == 0:
                last = json.loads(p.stdout)
                if not last["running"] and last["objects_total"] > 0 and not last.get("wanted"):
                    return last
            time.sleep(0.5)
        raise AssertionError(f"heal did not finish: {last}")

    def cleanup(self):
        for s in self.nodes:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        for s in self.nodes:
            shutil.rmtree(s.tmp, ignore_errors=True)


class Partition:
    """Cuts a node's internode traffic from the other nodes with iptables (its S3 port stays
    reachable): every packet between its address and theirs on the internode port is dropped."""

    def __init__(self, cluster, isolated):
        self.rules = []
        me = cluster.hosts[isolated]
        for other in cluster.hosts:
            if other == me:
                continue
            for src, dst in ((me, other), (other, me)):
                for side in ("--dport", "--sport"):
                    self.rules.append(["-p", "tcp", "-s", src, "-d", dst, side, str(cluster.internode), "-j", "DROP"])

    def __enter__(self):
        for r in self.rules:
            subprocess.run(["iptables", "-I", "INPUT", *r], check=True)
        return self

    def heal(self):
        for r in self.rules:
            subprocess.run(["iptables", "-D", "INPUT", *r], check=False)
        self.rules = []

    def __exit__(self, *exc):
        self.heal()

"""A MinIO erasure deployment on folders, as MinIO lays it out, written and read by this
module alone (with `minio_format`'s codec), never by the server's code: each drive's
`.minio.sys/format.json` (deployment id, drive uuids per set, SIPMOD+PARITY), objects on the
set SipHash-2-4 of their name (keyed by the deployment id) picks, shard order by MinIO's
`hashOrder` (CRC-32 of bucket/object), part files or per-drive inline shards, and a bucket's
`.metadata.bin` (MinIO's BucketMetadata, msgpack) stored as an object of `.minio.sys`.
`read_object` decodes an object from the drives the same way, to check what the server
writes on an adopted deployment.

A deployment of MinIO's first placement (`distribution="CRCMOD"`: the set is the CRC-32 of
the object name) can also hold objects of MinIO releases before 2020 (`put_xl_json`: each
drive's `xl.json`, MinIO's v1 metadata in JSON, with the `part.N` shard files beside it in
the object's folder, 10 MiB blocks) and those a later release converted (`put_v1_in_xl_meta`:
the same record as a legacy version, Type 3 `V1Obj`, inside xl.meta, shards in `legacy/`)."""

import json
import os
import struct
import uuid
import zlib

import minio_format as mf

MINIO_SYS = ".minio.sys"
# MinIO's erasure block size before 2020 (v1 objects).
V1_BLOCK = 10 << 20


def _rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & 0xFFFFFFFFFFFFFFFF


def siphash24(k0, k1, data):
    """SipHash-2-4 (the reference algorithm) of `data` with the 128-bit key (k0, k1)."""
    m64 = 0xFFFFFFFFFFFFFFFF
    v0, v1, v2, v3 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573

    def rnd(v0, v1, v2, v3):
        v0 = (v0 + v1) & m64; v1 = _rotl(v1, 13); v1 ^= v0; v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & m64; v3 = _rotl(v3, 16); v3 ^= v2
        v0 = (v0 + v3) & m64; v3 = _rotl(v3, 21); v3 ^= v0
        v2 = (v2 + v1) & m64; v1 = _rotl(v1, 17); v1 ^= v2; v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    n = len(data)
    tail = data[n - n % 8:]
    for i in range(0, n - n % 8, 8):
        m = struct.unpack("<Q", data[i:i + 8])[0]
        v3 ^= m
        v0, v1, v2, v3 = rnd(*rnd(v0, v1, v2, v3))
        v0 ^= m
    b = ((n & 0xFF) << 56) | int.from_bytes(tail, "little")
    v3 ^= b
    v0, v1, v2, v3 = rnd(*rnd(v0, v1, v2, v3))
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(4):
        v0, v1, v2, v3 = rnd(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def default_parity(n):
    return {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 7: 3}.get(n, 4)


def object_dir(drive, bucket, key):
    """MinIO's folder of a key: a directory object `a/` lives in `a__XLDIR__`."""
    if key.endswith("/"):
        key = key[:-1] + "__XLDIR__"
    return os.path.join(drive, bucket, key)


def hash_order(bucket_object, n):
    start = zlib.crc32(bucket_object.encode()) % n
    return [1 + (start + i) % n for i in range(1, n + 1)]


class Deployment:
    """`sets` x `per_set` drives under `root` (drive folders d1, d2, ... in set order)."""

    def __init__(self, root, sets, per_set, seed=1, distribution="SIPMOD+PARITY", id=None, parity=None):
        """`id` and `parity`: a pool added to a deployment keeps its id and its first pool's
        parity (see `Pools`); the drive uuids come from `seed`."""
        self.root = root
        self.distribution = distribution
        self.sets, self.per_set = sets, per_set
        self.id = id or str(uuid.UUID(int=(seed * 0x9E3779B97F4A7C15) % (1 << 128), version=4))
        self.uuids = [[str(uuid.UUID(int=(seed << 64) + s * 100 + i + 1, version=4)) for i in range(per_set)]
                      for s in range(sets)]
        self.drives = [os.path.join(root, f"d{i + 1}") for i in range(sets * per_set)]
        self.parity = default_parity(per_set) if parity is None else parity
        self.data = per_set - self.parity

    def write_formats(self):
        for s in range(self.sets):
            for i in range(self.per_set):
                d = self.set_drives(s)[i]
                os.makedirs(os.path.join(d, MINIO_SYS), exist_ok=True)
                f = {"version": "1", "format": "xl", "id": self.id,
                     "xl": {"version": "3", "this": self.uuids[s][i], "sets": self.uuids,
                            "distributionAlgo": self.distribution}}
                with open(os.path.join(d, MINIO_SYS, "format.json"), "w") as fh:
                    json.dump(f, fh)

    def set_drives(self, s):
        return self.drives[s * self.per_set:(s + 1) * self.per_set]

    def set_of(self, key):
        if self.distribution == "CRCMOD":
            return zlib.crc32(key.encode()) % self.sets
        b = uuid.UUID(self.id).bytes
        k0, k1 = struct.unpack("<Q", b[:8])[0], struct.unpack("<Q", b[8:])[0]
        return siphash24(k0, k1, key.encode()) % self.sets

    def put(self, bucket, key, body, inline=None, mtime_ns=1_760_000_000_000_000_000, content_type=None,
            meta_sys=None):
        """`body` as MinIO writes a null version of `bucket/key` (inline below 128 KiB);
        `meta_sys` adds MinIO's internal metadata (name to bytes)."""
        if inline is None:
            inline = len(body) < 128 * 1024
        drives = self.set_drives(self.set_of(key))
        n = self.per_set
        dist = hash_order(f"{bucket}/{key}", n)
        files = mf.shard_files(body, self.data, self.parity)
        data_dir = str(uuid.uuid4())
        for pos, drive in enumerate(drives):
            shard = dist[pos]
            d = object_dir(drive, bucket, key)
            os.makedirs(d if inline else os.path.join(d, data_dir), exist_ok=True)
            meta = mf.xl_meta(data_dir, shard, dist, len(body), mf.md5_hex(body),
                              self.data, self.parity, mtime_ns, inline=files[shard - 1] if inline else None,
                              meta_sys=meta_sys)
            with open(os.path.join(d, "xl.meta"), "wb") as f:
                f.write(meta)
            if not inline:
                with open(os.path.join(d, data_dir, "part.1"), "wb") as f:
                    f.write(files[shard - 1])

    def _v1_record(self, bucket, key, parts, shard, dist, data, parity, checksum, data_dir=None):
        """MinIO's xlMetaV1Object of `bucket/key` (its JSON field names) for the drive
        holding `shard`: `parts` the part bodies, one ETag over the whole for one part,
        MinIO's multipart ETag otherwise."""
        size = sum(len(b) for b in parts)
        if len(parts) == 1:
            etag = mf.md5_hex(parts[0])
        else:
            etag = mf.md5_hex(b"".join(bytes.fromhex(mf.md5_hex(b)) for b in parts)) + f"-{len(parts)}"
        rec = {"version": "1.0.1", "format": "xl",
               "stat": {"size": size, "modTime": "2019-11-05T10:20:30.123456789Z"},
               "erasure": {"algorithm": "klauspost/reedsolomon/vandermonde", "data": data, "parity": parity,
                           "blockSize": V1_BLOCK, "index": shard, "distribution": dist,
                           "checksum": [{"name": f"part.{i + 1}", "algorithm": checksum}
                                        for i in range(len(parts))]},
               "minio": {"release": "RELEASE.2019-10-12T01-39-57Z"},
               "meta": {"etag": etag, "content-type": "application/x-v1"},
               "parts": [{"number": i + 1, "name": f"part.{i + 1}", "etag": mf.md5_hex(b) if len(parts) > 1 else "",
                          "size": len(b), "actualSize": len(b)} for i, b in enumerate(parts)]}
        if data_dir:
            rec["dataDir"] = data_dir
        return rec

    def _v1_shards(self, bucket, key, parts, data, parity):
        drives = self.set_drives(self.set_of(key))
        dist = hash_order(f"{bucket}/{key}", self.per_set)
        files = [mf.shard_files(b, data, parity, V1_BLOCK) for b in parts]
        return drives, dist, files

    def put_xl_json(self, bucket, key, parts, data=None, parity=None, checksum="highwayhash256S"):
        """`parts` (a list of part bodies) as a MinIO release before 2020 kept an object:
        `xl.json` and `part.N` in the object's folder on every drive of its set."""
        data, parity = data or self.data, parity or self.parity
        drives, dist, files = self._v1_shards(bucket, key, parts, data, parity)
        for pos, drive in enumerate(drives):
            shard = dist[pos]
            d = object_dir(drive, bucket, key)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "xl.json"), "w") as f:
                json.dump(self._v1_record(bucket, key, parts, shard, dist, data, parity, checksum), f)
            for i, part in enumerate(files):
                with open(os.path.join(d, f"part.{i + 1}"), "wb") as f:
                    f.write(part[shard - 1])

    def put_v1_in_xl_meta(self, bucket, key, parts, data=None, parity=None):
        """The same object after a newer MinIO rewrote its key: each drive's xl.meta (the
        1.0 layout, "XL2 1   " and a msgpack map of versions) holds it as a legacy version
        (msgp's field names), its shards in `legacy/`."""
        import msgpack

        data, parity = data or self.data, parity or self.parity
        drives, dist, files = self._v1_shards(bucket, key, parts, data, parity)
        for pos, drive in enumerate(drives):
            shard = dist[pos]
            r = self._v1_record(bucket, key, parts, shard, dist, data, parity, "highwayhash256S", "legacy")
            e = r["erasure"]
            v1 = {"Version": r["version"], "Format": "xl",
                  "Stat": {"Size": r["stat"]["size"], "ModTime": msgpack.ExtType(5, struct.pack(">qI", 1_572_949_230, 123_456_789)),
                           "Name": "", "Dir": False},
                  "Erasure": {"Algorithm": e["algorithm"], "DataBlocks": data, "ParityBlocks": parity,
                              "BlockSize": V1_BLOCK, "Index": shard, "Distribution": dist,
                              "Checksums": [{"PartNumber": i + 1, "Algorithm": 3, "Hash": b""} for i in range(len(parts))]},
                  "Minio": {"Release": r["minio"]["release"]}, "Meta": r["meta"],
                  "Parts": [{"ETag": p["etag"], "Number": p["number"], "Size": p["size"], "ActualSize": p["actualSize"]}
                            for p in r["parts"]],
                  "VersionID": "null", "DataDir": "legacy"}
            d = object_dir(drive, bucket, key)
            os.makedirs(os.path.join(d, "legacy"), exist_ok=True)
            with open(os.path.join(d, "xl.meta"), "wb") as f:
                f.write(b"XL2 1   " + msgpack.packb({"Versions": [{"Type": 3, "V1Obj": v1}]}, use_bin_type=True))
            for i, part in enumerate(files):
                with open(os.path.join(d, "legacy", f"part.{i + 1}"), "wb") as f:
                    f.write(part[shard - 1])

    def make_bucket(self, bucket, versioning=None, policy=None):
        """The bucket folder on every drive and its `.metadata.bin` in `.minio.sys`."""
        import msgpack

        for d in self.drives:
            os.makedirs(os.path.join(d, bucket), exist_ok=True)
        fields = {"Name": bucket, "Created": msgpack.ExtType(5, struct.pack(">qI", 1_700_000_000, 5)),
                  "LockEnabled": False, "PolicyConfigJSON": (policy or "").encode(),
                  "VersioningConfigXML": (f"<VersioningConfiguration><Status>{versioning}</Status>"
                                          "</VersioningConfiguration>".encode() if versioning else b"")}
        body = struct.pack("<HH", 1, 1) + msgpack.packb(fields, use_bin_type=True)
        self.put(MINIO_SYS, f"buckets/{bucket}/.metadata.bin", body, inline=True)

    def read_object(self, bucket, key):
        """The current version of `bucket/key` decoded from the drives of its set, and its
        xl.meta fields (as on the first drive that has it)."""
        copies = []
        for drive in self.set_drives(self.set_of(key)):
            p = os.path.join(object_dir(drive, bucket, key), "xl.meta")
            if os.path.exists(p):
                with open(p, "rb") as f:
                    versions, inline = mf.read_xl_meta(f.read())
                copies.append((drive, versions, inline))
        assert copies, f"{bucket}/{key}: no xl.meta on its set"
        header, body = copies[0][1][0]
        obj = body["V2Obj"]
        vid = "null" if obj["ID"] == bytes(16) else str(uuid.UUID(bytes=obj["ID"]))
        data, parity = obj["EcM"], obj["EcN"]
        if vid in copies[0][2]:
            shards = [None] * (data + parity)
            for drive, versions, inline in copies:
                shards[versions[0][1]["V2Obj"]["EcIndex"] - 1] = inline[vid]
            return mf.read_part(shards, obj["Size"], data, parity, obj["EcBSize"]), obj, header, copies
        # A part file per part, `part.<n>` in the data dir, as MinIO names them.
        out = b""
        for number, size in zip(obj["PartNums"], obj["PartSizes"]):
            shards = [None] * (data + parity)
            for drive, versions, _ in copies:
                o = versions[0][1]["V2Obj"]
                p = os.path.join(object_dir(drive, bucket, key), str(uuid.UUID(bytes=o["DDir"])), f"part.{number}")
                if os.path.exists(p):
                    with open(p, "rb") as f:
                        shards[o["EcIndex"] - 1] = f.read()
            out += mf.read_part(shards, size, data, parity, obj["EcBSize"])
        assert len(out) == obj["Size"], (bucket, key, len(out), obj["Size"])
        return out, obj, header, copies


def pool_bin(pools):
    """MinIO's `pool.bin` bytes: `pools` as (command line, decommission) with decommission
    None or one of "running", "complete", "failed", "canceled" (msgp's field names)."""
    import msgpack

    def ts(secs):
        return msgpack.ExtType(5, struct.pack(">qI", secs, 0))

    pls = []
    for i, (cmdline, dec) in enumerate(pools):
        d = None
        if dec:
            d = {"st": ts(1_760_000_000), "ss": 0, "ts": 0, "cs": 0, "cmp": dec == "complete", "fl": dec == "failed",
                 "cnl": dec == "canceled", "bkts": [], "dbkts": [], "bkt": "", "pfx": "", "obj": "",
                 "id": 0, "idf": 0, "bd": 0, "bf": 0}
        pls.append({"id": i, "cl": cmdline, "lu": ts(1_760_000_000), "dec": d})
    return struct.pack("<HH", 1, 1) + msgpack.packb({"v": 1, "pls": pls}, use_bin_type=True)


class Pools:
    """A MinIO deployment of several pools (as `minio server POOL1 POOL2 ...` grows one):
    `shapes` as (sets, drives per set) for each pool, each under `root/p<n>/d1, d2, ...`,
    one deployment id, every pool's objects coded with the first pool's parity, each pool
    placing keys by its own SipHash over its own sets. `args[n]` is pool n's drive argument
    (MinIO's command line of the pool)."""

    def __init__(self, root, shapes, seed=11):
        first = Deployment(os.path.join(root, "p1"), shapes[0][0], shapes[0][1], seed=seed)
        self.pools = [first]
        for n, (sets, per_set) in enumerate(shapes[1:], start=2):
            self.pools.append(Deployment(os.path.join(root, f"p{n}"), sets, per_set, seed=seed * 100 + n,
                                         id=first.id, parity=first.parity))
        self.id = first.id
        self.args = [os.path.join(p.root, "d{1...%d}" % len(p.drives)) for p in self.pools]

    @property
    def drives(self):
        return [d for p in self.pools for d in p.drives]

    def write_formats(self):
        for p in self.pools:
            p.write_formats()

    def make_bucket(self, bucket, **kw):
        """The bucket folder on every drive of every pool, its `.metadata.bin` on pool 1."""
        self.pools[0].make_bucket(bucket, **kw)
        for p in self.pools[1:]:
            for d in p.drives:
                os.makedirs(os.path.join(d, bucket), exist_ok=True)

    def write_pool_bin(self, decommission=None, cmdlines=None):
        """`pool.bin` on every pool, as MinIO saves it: `decommission` maps a pool index to
        its decommission state."""
        body = pool_bin([(c, (decommission or {}).get(i)) for i, c in enumerate(cmdlines or self.args)])
        for p in self.pools:
            p.put(MINIO_SYS, "config/pool.bin", body, inline=True, mtime_ns=1_760_000_000_000_000_000 + len(body))

    def holding(self, bucket, key):
        """The pools whose set (the one the key hashes to there) has the key's xl.meta."""
        return [i for i, p in enumerate(self.pools)
                if any(os.path.exists(os.path.join(object_dir(d, bucket, key), "xl.meta"))
                       for d in p.set_drives(p.set_of(key)))]

    def read_object(self, bucket, key):
        """`bucket/key` decoded from the pool whose copy is newest, as MinIO reads it; with
        that pool's index."""
        best = None
        for i in self.holding(bucket, key):
            got = self.pools[i].read_object(bucket, key)
            if best is None or got[1]["MTime"] > best[1][1]["MTime"]:
                best = (i, got)
        assert best, f"{bucket}/{key} on no pool"
        return best[1], best[0]


"""MinIO's object data format written and read in Python, from MinIO's documented format and
the reference algorithms, independent of the server's code: HighwayHash-256 (the reference
implementation's steps) under MinIO's bitrot key, klauspost/reedsolomon's GF(2^8) code
(polynomial 0x11D, a Vandermonde matrix made systematic by the inverse of its top square),
shard files of (hash, shard) frames per block, and xl.meta placement by distribution. The
tests check it against MinIO's own files (the cicd-corpus) before they trust it."""

import hashlib
import math

MASK = (1 << 64) - 1
HIGHWAY_KEY = bytes.fromhex("4be734fa8e238acd263e83e6bb968552040f935da39f441497e09d1322de36a0")
INIT0 = [0xDBE6D5D5FE4CCE2F, 0xA4093822299F31D0, 0x13198A2E03707344, 0x243F6A8885A308D3]
INIT1 = [0x3BD39E10CB0EF593, 0xC0ACF169B5F18A8C, 0xBE5466CF34E90C6C, 0x452821E638D01377]


def _zipper(v0, v1):
    a0 = ((((v0 & 0xFF000000) | (v1 & 0xFF00000000)) >> 24)
          | (((v0 & 0xFF0000000000) | (v1 & 0xFF000000000000)) >> 16)
          | (v0 & 0xFF0000) | ((v0 & 0xFF00) << 32)
          | ((v1 & 0xFF00000000000000) >> 8) | (v0 << 56)) & MASK
    a1 = ((((v1 & 0xFF000000) | (v0 & 0xFF00000000)) >> 24)
          | (v1 & 0xFF0000) | ((v1 & 0xFF0000000000) >> 16)
          | ((v1 & 0xFF00) << 24) | ((v0 & 0xFF000000000000) >> 8)
          | ((v1 & 0xFF) << 48) | (v0 & 0xFF00000000000000)) & MASK
    return a0, a1


class _Highway:
    def __init__(self, key):
        k = [int.from_bytes(key[i * 8:i * 8 + 8], "little") for i in range(4)]
        self.mul0 = list(INIT0)
        self.mul1 = list(INIT1)
        self.v0 = [INIT0[i] ^ k[i] for i in range(4)]
        self.v1 = [INIT1[i] ^ (((k[i] >> 32) | (k[i] << 32)) & MASK) for i in range(4)]

    def update(self, lanes):
        v0, v1, m0, m1 = self.v0, self.v1, self.mul0, self.mul1
        for i in range(4):
            v1[i] = (v1[i] + m0[i] + lanes[i]) & MASK
            m0[i] ^= ((v1[i] & 0xFFFFFFFF) * (v0[i] >> 32)) & MASK
            v0[i] = (v0[i] + m1[i]) & MASK
            m1[i] ^= ((v0[i] & 0xFFFFFFFF) * (v1[i] >> 32)) & MASK
        for a, b in ((0, 1), (2, 3)):
            x, y = _zipper(v1[a], v1[b])
            v0[a], v0[b] = (v0[a] + x) & MASK, (v0[b] + y) & MASK
        for a, b in ((0, 1), (2, 3)):
            x, y = _zipper(v0[a], v0[b])
            v1[a], v1[b] = (v1[a] + x) & MASK, (v1[b] + y) & MASK

    def packet(self, p):
        self.update([int.from_bytes(p[i * 8:i * 8 + 8], "little") for i in range(4)])

    def remainder(self, r):
        n = len(r)
        for i in range(4):
            self.v0[i] = (self.v0[i] + (n << 32) + n) & MASK

        def rot(x):
            return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF if n else x

        self.v1 = [rot(v & 0xFFFFFFFF) | (rot(v >> 32) << 32) for v in self.v1]
        p = bytearray(32)
        mod4 = n & 3
        start = n & ~3
        p[:start] = r[:start]
        if n & 16:
            for i in range(4):
                p[28 + i] = r[start + i + mod4 - 4]
        elif mod4:
            p[16] = r[start]
            p[17] = r[start + (mod4 >> 1)]
            p[18] = r[start + mod4 - 1]
        self.packet(bytes(p))

    def final256(self):
        for _ in range(10):
            v = self.v0
            sw = [((x >> 32) | (x << 32)) & MASK for x in (v[2], v[3], v[0], v[1])]
            self.update(sw)
        v0, v1, m0, m1 = self.v0, self.v1, self.mul0, self.mul1
        out = []
        for hi, lo in ((1, 0), (3, 2)):
            a3 = (v1[hi] + m1[hi]) & MASK & 0x3FFFFFFFFFFFFFFF
            a2 = (v1[lo] + m1[lo]) & MASK
            a1 = (v0[hi] + m0[hi]) & MASK
            a0 = (v0[lo] + m0[lo]) & MASK
            h1 = (a1 ^ (((a3 << 1) | (a2 >> 63)) & MASK) ^ (((a3 << 2) | (a2 >> 62)) & MASK)) & MASK
            h0 = (a0 ^ ((a2 << 1) & MASK) ^ ((a2 << 2) & MASK)) & MASK
            out += [h0, h1]
        return b"".join(x.to_bytes(8, "little") for x in out)


def highway256(data, key=HIGHWAY_KEY):
    h = _Highway(key)
    full = len(data) - len(data) % 32
    for i in range(0, full, 32):
        h.packet(data[i:i + 32])
    if len(data) % 32:
        h.remainder(data[full:])
    return h.final256()


# GF(2^8), polynomial 0x11D, generator 2.
EXP = [0] * 512
LOG = [0] * 256
_x = 1
for _i in range(255):
    EXP[_i] = _x
    LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    EXP[_i] = EXP[_i - 255]


def gmul(a, b):
    return 0 if a == 0 or b == 0 else EXP[LOG[a] + LOG[b]]


def ginv(a):
    return EXP[255 - LOG[a]]


def gpow(a, n):
    if n == 0:
        return 1
    return 0 if a == 0 else EXP[(LOG[a] * n) % 255]


def invert(m):
    n = len(m)
    a = [list(row) + [1 if i == j else 0 for j in range(n)] for i, row in enumerate(m)]
    for c in range(n):
        p = next(r for r in range(c, n) if a[r][c])
        a[c], a[p] = a[p], a[c]
        inv = ginv(a[c][c])
        a[c] = [gmul(x, inv) for x in a[c]]
        for r in range(n):
            if r != c and a[r][c]:
                f = a[r][c]
                a[r] = [x ^ gmul(f, y) for x, y in zip(a[r], a[c])]
    return [row[n:] for row in a]


def matmul(a, b):
    return [[_dot(row, [b[k][j] for k in range(len(b))]) for j in range(len(b[0]))] for row in a]


def _dot(xs, ys):
    acc = 0
    for x, y in zip(xs, ys):
        acc ^= gmul(x, y)
    return acc


def encoding_matrix(data, parity):
    vm = [[gpow(r, c) for c in range(data)] for r in range(data + parity)]
    return matmul(vm, invert(vm[:data]))


_TABLES = {}


def _scale(coef, shard):
    """`shard` with every byte multiplied by `coef` (a translate table per coefficient)."""
    t = _TABLES.get(coef)
    if t is None:
        t = _TABLES[coef] = bytes(gmul(coef, b) for b in range(256))
    return shard.translate(t)


def _combine(coefs, shards):
    acc = 0
    for c, s in zip(coefs, shards):
        if c:
            acc ^= int.from_bytes(_scale(c, s), "big")
    return acc.to_bytes(len(shards[0]), "big")


def split(block, data):
    size = math.ceil(len(block) / data)
    padded = block + bytes(size * data - len(block))
    return [padded[i * size:(i + 1) * size] for i in range(data)]


def encode(block, data, parity):
    shards = split(block, data)
    m = encoding_matrix(data, parity)
    return shards + [_combine(m[data + p], shards) for p in range(parity)]


def decode(shards, data, parity, block_len):
    """The block from its shards in shard order (`None`: missing), any `data` of them."""
    m = encoding_matrix(data, parity)
    have = [i for i, s in enumerate(shards) if s is not None][:data]
    if len(have) < data:
        raise ValueError(f"{len(have)} shards, {data} needed")
    inv = invert([m[i] for i in have])
    picked = [shards[i] for i in have]
    out = b"".join(_combine(inv[r], picked) for r in range(data))
    return out[:block_len]


def shard_files(body, data, parity, block_size=1 << 20):
    """Each shard's part file: per block, the shard's HighwayHash-256, then the shard."""
    files = [bytearray() for _ in range(data + parity)]
    for off in range(0, len(body), block_size):
        for f, s in zip(files, encode(body[off:off + block_size], data, parity)):
            f += highway256(s) + s
    return [bytes(f) for f in files]


def read_part(files, size, data, parity, block_size=1 << 20):
    """A part from its shard files in shard order (`None`: missing); frames that fail their
    hash count as missing."""
    out = bytearray()
    pos = [0] * len(files)
    for off in range(0, size, block_size):
        blen = min(block_size, size - off)
        slen = math.ceil(blen / data)
        shards = []
        for i, f in enumerate(files):
            frame = f[pos[i]:pos[i] + 32 + slen] if f is not None else b""
            pos[i] += 32 + slen
            ok = len(frame) == 32 + slen and highway256(frame[32:]) == frame[:32]
            shards.append(frame[32:] if ok else None)
        out += decode(shards, data, parity, blen)
    return bytes(out)


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def _msgp(x):
    """msgpack as Go's msgp writes it: signed markers for every int that is not a fixint
    (`AppendInt64`), maps in the order given."""
    import struct

    if x is None:
        return b"\xc0"
    if isinstance(x, int):
        if -32 <= x <= 127:
            return struct.pack("b", x) if x < 0 else bytes([x])
        for marker, fmt, lo, hi in ((0xD0, ">b", -(1 << 7), -1), (0xD1, ">h", -(1 << 15), (1 << 15) - 1),
                                    (0xD2, ">i", -(1 << 31), (1 << 31) - 1), (0xD3, ">q", -(1 << 63), (1 << 63) - 1)):
            if lo <= x <= hi:
                return bytes([marker]) + struct.pack(fmt, x)
    if isinstance(x, dict):
        assert len(x) < 1 << 16
        head = bytes([0x80 | len(x)]) if len(x) < 16 else b"\xde" + len(x).to_bytes(2, "big")
        return head + b"".join(_msgp(k) + _msgp(v) for k, v in x.items())
    if isinstance(x, list):
        assert len(x) < 16
        return bytes([0x90 | len(x)]) + b"".join(_msgp(v) for v in x)
    import msgpack

    return msgpack.packb(x, use_bin_type=True)


def signature(obj):
    """MinIO's signature of an object version (`xlMetaV2Object.Signature`), the same on every
    drive: the xxhash64 of its msgp encoding with EcIndex 0 and the two metadata maps nil, xor
    each map's order-independent xxh3 hash (seeded, each key and value hashed and offset),
    folded to 32 bits, little-endian."""
    import xxhash

    def map_hash(seed, m):
        for k, v in m.items():
            v = v if isinstance(v, bytes) else v.encode()
            seed ^= ((xxhash.xxh3_64_intdigest(k.encode()) ^ 0x4EE3BBAF7AB2506B)
                     + (xxhash.xxh3_64_intdigest(v) ^ 0x8DA4C8DA66194257)) & ((1 << 64) - 1)
        return seed

    c = dict(obj, EcIndex=0, MetaSys=None, MetaUsr=None)
    if not any(c["PartETags"] or []):
        c["PartETags"] = None
    crc = (map_hash(0xC2B40BBAC11A7295, obj["MetaUsr"] or {}) ^ map_hash(0x1BBC7E1DDE654743, obj["MetaSys"] or {})
           ^ xxhash.xxh64_intdigest(_msgp(c)))
    return ((crc ^ (crc >> 32)) & 0xFFFFFFFF).to_bytes(4, "little")


def xl_meta(data_dir, index, dist, size, etag, data, parity, mtime_ns, block_size=1 << 20, inline=None,
            meta_sys=None):
    """MinIO's xl.meta v1.3 holding one null object version with its shards in `data_dir`:
    "XL2 ", major 1, minor 3 (little-endian u16), a bin32 of [header version 3, meta version
    2, version count, then per version its header (an array of id, mtime, signature, type,
    flags) and its msgpack map], a uint32 of the payload's xxhash64 (low 32 bits), then, for
    an inline object (`inline`: this drive's framed shard), the inline data: version 1 and a
    map of version id ("null") to bytes, with `x-minio-internal-inline-data` in MetaSys and
    the inline flag instead of the data-dir flag; `meta_sys` adds MinIO's internal metadata
    (name to bytes). (The `msgpack` and `xxhash` packages; keys as MinIO's xlMetaV2Object
    names them.)"""
    import uuid

    import msgpack
    import xxhash

    obj = {
        "ID": bytes(16), "DDir": uuid.UUID(data_dir).bytes, "EcAlgo": 1, "EcM": data, "EcN": parity,
        "EcBSize": block_size, "EcIndex": index, "EcDist": list(dist), "CSumAlgo": 1,
        "PartNums": [1], "PartETags": None, "PartSizes": [size], "PartASizes": [size],
        "Size": size, "MTime": mtime_ns,
        "MetaSys": {"x-minio-internal-inline-data": b"true"} if inline is not None else {},
        "MetaUsr": {"etag": etag, "content-type": "application/octet-stream"},
    }
    obj["MetaSys"].update(meta_sys or {})
    body = msgpack.packb({"Type": 1, "V2Obj": obj}, use_bin_type=True)
    sig = signature(obj)
    flags = 1 << 2 if inline is not None else 1 << 1  # inline data, or uses a data dir
    header = msgpack.packb([bytes(16), mtime_ns, sig, 1, flags], use_bin_type=True)
    payload = b"".join(msgpack.packb(x, use_bin_type=True) for x in (3, 2, 1)) + \
        msgpack.packb(header, use_bin_type=True) + msgpack.packb(body, use_bin_type=True)
    crc = xxhash.xxh64_intdigest(payload) & 0xFFFFFFFF
    out = (b"XL2 " + (1).to_bytes(2, "little") + (3).to_bytes(2, "little")
           + b"\xc6" + len(payload).to_bytes(4, "big") + payload + b"\xce" + crc.to_bytes(4, "big"))
    if inline is not None:
        out += b"\x01" + msgpack.packb({"null": inline}, use_bin_type=True)
    return out


def read_xl_meta(buf):
    """An xl.meta v1.3 file as MinIO lays it out: the versions' msgpack maps (newest first)
    and the inline data map (version id -> bytes)."""
    import msgpack

    assert buf[:4] == b"XL2 " and buf[4:8] == (1).to_bytes(2, "little") + (3).to_bytes(2, "little"), buf[:8]
    assert buf[8] == 0xC6
    n = int.from_bytes(buf[9:13], "big")
    payload = buf[13:13 + n]
    u = msgpack.Unpacker(raw=False, strict_map_key=False)
    u.feed(payload)
    header_version, meta_version, count = next(u), next(u), next(u)
    versions = []
    for _ in range(count):
        header = msgpack.unpackb(next(u), raw=False)
        body = msgpack.unpackb(next(u), raw=False, strict_map_key=False)
        versions.append((header, body))
    rest = buf[13 + n:]
    assert rest[0] == 0xCE
    import xxhash
    assert int.from_bytes(rest[1:5], "big") == xxhash.xxh64_intdigest(payload) & 0xFFFFFFFF, "payload CRC"
    inline = {}
    if len(rest) > 5:
        assert rest[5] == 1, "inline data version"
        inline = msgpack.unpackb(rest[6:], raw=False)
    return versions, inline

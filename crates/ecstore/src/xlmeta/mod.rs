//! MinIO's xl.meta v2 format, read side: the legacy map layout (versions 1.0 to 1.2, "XL2 "
//! followed by "1   " or a little-endian major/minor) and the indexed v1.3 layout (a bin32 of
//! header version, meta version, version count and per-version [header tuple, metadata],
//! an xxhash64-based CRC, then inline data keyed by version id or "null").
//!
//! Decoding never trusts the file: every error names the byte offset and the problem, and
//! no input can make it panic or allocate beyond the file's size. This module only parses
//! and describes; it does not touch drives.

mod encode;
pub mod msgpack;
pub mod v1;

pub use encode::{FLAG_INLINE_DATA, FLAG_USES_DATA_DIR, MINIO_INLINE_META, encode, signature};

use std::collections::BTreeMap;

use base64::Engine;
use msgpack::{Error, Reader, Value};

pub const MAGIC: &[u8; 4] = b"XL2 ";

/// Version types of MinIO's journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum VersionType {
    Object,
    DeleteMarker,
    Legacy,
}

/// An object version's erasure and part information, as MinIO records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct XlObject {
    pub data_dir: String,
    pub erasure_algorithm: i64,
    pub erasure_data: i64,
    pub erasure_parity: i64,
    pub erasure_block_size: i64,
    pub erasure_index: i64,
    pub erasure_distribution: Vec<u8>,
    pub bitrot_algorithm: i64,
    pub part_numbers: Vec<i64>,
    pub part_etags: Vec<String>,
    pub part_sizes: Vec<i64>,
    pub part_actual_sizes: Vec<i64>,
    pub size: i64,
    pub meta_sys: BTreeMap<String, Vec<u8>>,
    pub meta_user: BTreeMap<String, String>,
    /// Why this version's data cannot be served (a MinIO v1 record whose erasure code or
    /// bitrot checksums this server does not implement), set by the decoder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct XlVersion {
    pub kind: VersionType,
    /// `None` is the null version.
    pub version_id: Option<String>,
    pub mod_time_ns: i64,
    /// From the v1.3 index header, when present.
    pub signature: Option<String>,
    pub flags: u8,
    pub object: Option<XlObject>,
    /// A legacy (v1) version read from an xl.meta: its msgpack map as MinIO wrote it, written
    /// back verbatim whenever the file is rewritten. `None` for one read from `xl.json`,
    /// which is never written into an xl.meta (see [`v1`]).
    #[serde(skip)]
    pub v1_raw: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct XlMeta {
    pub major: u16,
    pub minor: u16,
    /// Newest first.
    pub versions: Vec<XlVersion>,
    /// Inline data by version id ("null" for the null version).
    #[serde(skip)]
    pub inline: BTreeMap<String, Vec<u8>>,
    /// In memory only, never encoded: the version ids whose `inline` bytes are the whole
    /// object, decoded from MinIO's per-drive inline shards (see `legacy::minio_inline`).
    /// An encoder for one drive must turn them back into that drive's shard.
    #[serde(skip)]
    pub decoded_inline: std::collections::BTreeSet<String>,
}

impl XlMeta {
    /// The inline bytes of a version, if the file carries them.
    pub fn inline_data(&self, v: &XlVersion) -> Option<&[u8]> {
        self.inline.get(v.version_id.as_deref().unwrap_or("null")).map(Vec::as_slice)
    }
}

fn uuid_string(b: &[u8]) -> Option<String> {
    let arr: [u8; 16] = b.try_into().ok()?;
    (arr != [0u8; 16]).then(|| uuid::Uuid::from_bytes(arr).to_string())
}

fn ints(v: Option<&Value<'_>>) -> Vec<i64> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_int).collect(),
        _ => Vec::new(),
    }
}

fn int(v: &Value<'_>, k: &str) -> i64 {
    v.get(k).and_then(Value::as_int).unwrap_or(0)
}

fn object(o: &Value<'_>) -> XlObject {
    let mut meta_sys = BTreeMap::new();
    if let Some(Value::Map(m)) = o.get("MetaSys") {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_bytes()) {
                meta_sys.insert(k.to_string(), v.to_vec());
            }
        }
    }
    let mut meta_user = BTreeMap::new();
    if let Some(Value::Map(m)) = o.get("MetaUsr") {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                meta_user.insert(k.to_string(), v.to_string());
            }
        }
    }
    // As MinIO does, all-empty part ETags count as none.
    let part_etags: Vec<String> = match o.get("PartETags") {
        Some(Value::Array(a)) => a.iter().map(|e| e.as_str().unwrap_or_default().to_string()).collect(),
        _ => Vec::new(),
    };
    let part_etags = if part_etags.iter().all(String::is_empty) { Vec::new() } else { part_etags };
    XlObject {
        data_dir: o.get("DDir").and_then(Value::as_bytes).and_then(uuid_string).unwrap_or_default(),
        erasure_algorithm: int(o, "EcAlgo"),
        erasure_data: int(o, "EcM"),
        erasure_parity: int(o, "EcN"),
        erasure_block_size: int(o, "EcBSize"),
        erasure_index: int(o, "EcIndex"),
        // A Go []uint8: an array in the files seen, but msgp may also write it as bin.
        erasure_distribution: match o.get("EcDist") {
            Some(Value::Bin(b)) => b.to_vec(),
            other => ints(other).into_iter().map(|d| d as u8).collect(),
        },
        bitrot_algorithm: int(o, "CSumAlgo"),
        part_numbers: ints(o.get("PartNums")),
        part_etags,
        part_sizes: ints(o.get("PartSizes")),
        part_actual_sizes: ints(o.get("PartASizes")),
        size: int(o, "Size"),
        meta_sys,
        meta_user,
        unreadable: None,
    }
}

/// Interprets one xlMetaV2Version map.
fn version(v: &Value<'_>, at: usize) -> Result<XlVersion, Error> {
    let bad = |p: &str| Error { offset: at, problem: p.to_string() };
    if !matches!(v, Value::Map(_)) {
        return Err(bad("version metadata is not a map"));
    }
    match int(v, "Type") {
        1 => {
            let o = v.get("V2Obj").ok_or_else(|| bad("object version without V2Obj"))?;
            Ok(XlVersion {
                kind: VersionType::Object,
                version_id: o.get("ID").and_then(Value::as_bytes).and_then(uuid_string),
                mod_time_ns: int(o, "MTime"),
                signature: None,
                flags: 0,
                object: Some(object(o)),
                v1_raw: None,
            })
        }
        2 => {
            let d = v.get("DelObj").ok_or_else(|| bad("delete marker without DelObj"))?;
            Ok(XlVersion {
                kind: VersionType::DeleteMarker,
                version_id: d.get("ID").and_then(Value::as_bytes).and_then(uuid_string),
                mod_time_ns: int(d, "MTime"),
                signature: None,
                flags: 0,
                object: None,
                v1_raw: None,
            })
        }
        3 => {
            let o = v.get("V1Obj").ok_or_else(|| bad("legacy version without V1Obj"))?;
            let (object, mod_time_ns) = v1::from_msgpack(o).map_err(|p| bad(&p))?;
            Ok(XlVersion {
                kind: VersionType::Legacy,
                version_id: None,
                mod_time_ns,
                signature: None,
                flags: 0,
                object: Some(object),
                v1_raw: Some(encode::value(v)),
            })
        }
        t => Err(bad(&format!("unknown version type {t}"))),
    }
}

fn inline_data(r: &mut Reader<'_>) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let mut out = BTreeMap::new();
    if r.is_empty() {
        return Ok(out);
    }
    let ver = r.take(1)?[0];
    if ver != 1 {
        return r.err(format!("unknown inline data version {ver}"));
    }
    let at = r.offset();
    match r.value()? {
        Value::Map(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    (Some(k), Value::Bin(b)) if !k.is_empty() => {
                        out.insert(k.to_string(), b.to_vec());
                    }
                    _ => return Err(Error { offset: at, problem: "inline data entry is not string -> bin".into() }),
                }
            }
            Ok(out)
        }
        _ => Err(Error { offset: at, problem: "inline data is not a map".into() }),
    }
}

fn check_crc(r: &mut Reader<'_>, meta: &[u8]) -> Result<(), Error> {
    let at = r.offset();
    let want = r.uint()?;
    let got = u64::from(xxhash_rust::xxh64::xxh64(meta, 0) as u32);
    if want != got {
        return Err(Error { offset: at, problem: format!("CRC mismatch: stored 0x{want:08x}, computed 0x{got:08x}") });
    }
    Ok(())
}

/// Decodes an xl.meta file (or MinIO's older `xl.json`, which MinIO may also leave under
/// the name xl.meta while it converts a key: see [`v1`]).
pub fn decode(buf: &[u8]) -> Result<XlMeta, Error> {
    if buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return v1::decode_json(buf);
    }
    if buf.len() < 8 {
        return Err(Error { offset: buf.len(), problem: format!("truncated: {} bytes, a header needs 8", buf.len()) });
    }
    if &buf[..4] != MAGIC {
        return Err(Error {
            offset: 0,
            problem: format!("wrong magic {:?}, expected \"XL2 \"", String::from_utf8_lossy(&buf[..4])),
        });
    }
    let (major, minor) = if &buf[4..8] == b"1   " {
        (1, 0)
    } else {
        (u16::from_le_bytes([buf[4], buf[5]]), u16::from_le_bytes([buf[6], buf[7]]))
    };
    if major != 1 || minor > 3 {
        return Err(Error { offset: 4, problem: format!("unsupported xl.meta version {major}.{minor}") });
    }
    let mut r = Reader::new(&buf[8..], 8);
    let mut meta = XlMeta { major, minor, ..Default::default() };
    if minor == 3 {
        let (payload, at) = r.bin()?;
        check_crc(&mut r, payload)?;
        meta.inline = inline_data(&mut r)?;
        let mut p = Reader::new(payload, at);
        let header_v = p.uint()?;
        let meta_v = p.uint()?;
        if header_v > 3 || meta_v > 3 {
            return p.err(format!("unknown header/meta version {header_v}/{meta_v}"));
        }
        let count_at = p.offset();
        let count = match p.value()? {
            Value::Int(i) if i >= 0 => i as u64,
            Value::UInt(u) => u,
            _ => return Err(Error { offset: count_at, problem: "version count is not a non-negative integer".into() }),
        };
        if count.saturating_mul(2) > p.remaining().len() as u64 {
            return Err(Error { offset: count_at, problem: format!("absurd version count {count}") });
        }
        for _ in 0..count {
            let (hdr, hdr_at) = p.bin()?;
            let (body, body_at) = p.bin()?;
            let h = Reader::new(hdr, hdr_at).value()?;
            let Value::Array(fields) = &h else {
                return Err(Error { offset: hdr_at, problem: "version header is not a tuple".into() });
            };
            let body_v = Reader::new(body, body_at).value()?;
            let mut v = version(&body_v, body_at)?;
            if v.kind == VersionType::Legacy {
                v.v1_raw = Some(body.to_vec());
            }
            if let Some(id) = fields.first().and_then(Value::as_bytes) {
                v.version_id = uuid_string(id);
            }
            if let Some(t) = fields.get(1).and_then(Value::as_int) {
                v.mod_time_ns = t;
            }
            v.signature = fields.get(2).and_then(Value::as_bytes).map(hex::encode);
            v.flags = fields.get(4).and_then(Value::as_int).unwrap_or(0) as u8;
            meta.versions.push(v);
        }
    } else {
        let payload_at;
        let payload = if minor == 0 {
            payload_at = 8;
            &buf[8..]
        } else {
            let (p, at) = r.bin()?;
            payload_at = at;
            if minor == 2 {
                check_crc(&mut r, p)?;
            }
            meta.inline = inline_data(&mut r)?;
            p
        };
        let mut p = Reader::new(payload, payload_at);
        let all = p.value()?;
        let Some(Value::Array(vs)) = all.get("Versions") else {
            return Err(Error { offset: payload_at, problem: "legacy layout without a Versions array".into() });
        };
        for v in vs {
            meta.versions.push(version(v, payload_at)?);
        }
        meta.versions.sort_by_key(|v| std::cmp::Reverse(v.mod_time_ns));
    }
    Ok(meta)
}

/// A JSON rendering of any MessagePack value: maps with string keys become objects, 16-byte
/// bins (ids) become UUID strings, other bins base64.
pub fn to_json(v: &Value<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Nil => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::F32(f) => J::from(f64::from(*f)),
        Value::F64(f) => J::from(*f),
        Value::Str(s) => J::String(String::from_utf8_lossy(s).into_owned()),
        Value::Bin(b) if b.len() == 16 => {
            J::String(uuid::Uuid::from_slice(b).map(|u| u.to_string()).unwrap_or_default())
        }
        Value::Bin(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Value::Ext(t, b) => {
            serde_json::json!({ "ext": t, "data": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}

/// Like MinIO's inspector: the decoded versions (with their raw metadata) and inline keys.
pub fn inspect(buf: &[u8]) -> Result<serde_json::Value, Error> {
    let meta = decode(buf)?;
    let inline: BTreeMap<&String, usize> = meta.inline.iter().map(|(k, v)| (k, v.len())).collect();
    Ok(serde_json::json!({
        "version": format!("{}.{}", meta.major, meta.minor),
        "versions": meta.versions,
        "inline_data": inline,
    }))
}

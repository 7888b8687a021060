//! MinIO's v1 object metadata, read side. Releases before mid-2020 kept each object's
//! metadata in `xl.json` (JSON: `version` 1.0.0/1.0.1, `format` "xl", `stat`, `erasure`
//! with a per-part checksum list, `meta`, `parts`), with the shard files `part.N` beside it
//! in the object's folder; newer releases still read those on deployments that started
//! then (format.json's `CRCMOD` placement), and when they rewrite such a key they keep the
//! record inside xl.meta as a legacy version (Type 3, `V1Obj`, the same fields in msgpack,
//! `DataDir` "legacy", the shard files moved to `<object>/legacy/`).
//!
//! Both become one [`XlVersion`] of kind `Legacy`, the null version, whose [`XlObject`]
//! holds what a reader needs in the v2 terms the rest of the store uses (erasure code 1,
//! checksum algorithm 1: MinIO's Reed-Solomon and streaming HighwayHash-256). A record whose
//! data this server cannot verify or decode (another erasure algorithm, whole-file bitrot
//! checksums of the oldest releases) is still listed, with the reason in
//! `XlObject::unreadable`, and never served. This module only parses; it never trusts the
//! input (a record MinIO itself would refuse is an error) and never panics.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::msgpack::{Error, Reader, Value};
use super::{VersionType, XlMeta, XlObject, XlVersion};

/// The v1 metadata file of an object folder.
pub const XL_JSON: &str = "xl.json";
/// Where MinIO moves a v1 object's shard files when it rewrites the key's xl.meta.
pub const LEGACY_DATA_DIR: &str = "legacy";
/// The only erasure code of v1 records (klauspost/reedsolomon's default Vandermonde-derived
/// matrix, the same code as v2's `EcAlgo` 1).
const KLAUSPOST: &str = "klauspost/reedsolomon/vandermonde";

/// A v1 checksum algorithm: MinIO's `BitrotAlgorithm` (1 SHA-256, 2 HighwayHash-256 of the
/// whole shard file, 3 streaming HighwayHash-256, 4 BLAKE2b-512), by number or JSON name.
fn bitrot_name(n: i64) -> &'static str {
    match n {
        1 => "sha256",
        2 => "highwayhash256",
        3 => "highwayhash256S",
        4 => "blake2b",
        _ => "unknown",
    }
}

/// The fields of a v1 record, from either form.
struct Record {
    version: String,
    format: String,
    size: i64,
    mod_time_ns: i64,
    algorithm: String,
    data: i64,
    parity: i64,
    block_size: i64,
    index: i64,
    distribution: Vec<i64>,
    /// Checksum algorithm names, one per part that lists one.
    checksums: Vec<String>,
    meta: BTreeMap<String, String>,
    /// (number, etag, size, actual size)
    parts: Vec<(i64, String, i64, i64)>,
    data_dir: String,
}

impl Record {
    /// As MinIO's `xlMetaV1Object.valid()` and the decoder's own bounds.
    fn check(&self) -> Result<(), String> {
        if !matches!(self.version.as_str(), "1.0.0" | "1.0.1") || self.format != "xl" {
            return Err(format!("v1 metadata version {:?} format {:?}", self.version, self.format));
        }
        if self.data == 0 || self.parity == 0 || self.data < self.parity || self.data + self.parity > 32 {
            return Err(format!("v1 metadata with {} data and {} parity shards", self.data, self.parity));
        }
        if self.distribution.len() as i64 != self.data + self.parity
            || self.distribution.iter().any(|d| *d < 1 || *d > self.data + self.parity)
        {
            return Err(format!("v1 metadata distribution {:?}", self.distribution));
        }
        if self.size < 0 || self.block_size <= 0 || self.parts.iter().any(|p| p.0 < 1 || p.2 < 0) {
            return Err("v1 metadata with a negative size or part".into());
        }
        Ok(())
    }

    fn into_object(self) -> XlObject {
        let unreadable = if self.algorithm != KLAUSPOST {
            Some(format!("MinIO v1 object erasure-coded with {:?}, which this server does not decode", self.algorithm))
        } else {
            self.checksums.iter().find(|c| c.as_str() != "highwayhash256S").map(|c| {
                format!(
                    "MinIO v1 object with whole-file bitrot checksums ({c}), which this server does not verify; \
                     read it with MinIO or heal it there first"
                )
            })
        };
        XlObject {
            data_dir: self.data_dir,
            erasure_algorithm: 1,
            erasure_data: self.data,
            erasure_parity: self.parity,
            erasure_block_size: self.block_size,
            erasure_index: self.index,
            erasure_distribution: self.distribution.iter().map(|d| *d as u8).collect(),
            bitrot_algorithm: 1,
            part_numbers: self.parts.iter().map(|p| p.0).collect(),
            part_etags: if self.parts.iter().all(|p| p.1.is_empty()) {
                Vec::new()
            } else {
                self.parts.iter().map(|p| p.1.clone()).collect()
            },
            part_sizes: self.parts.iter().map(|p| p.2).collect(),
            part_actual_sizes: self.parts.iter().map(|p| p.3).collect(),
            size: self.size,
            meta_sys: BTreeMap::new(),
            meta_user: self.meta,
            unreadable,
        }
    }
}

#[derive(Deserialize)]
struct JsonRecord {
    version: String,
    format: String,
    stat: JsonStat,
    erasure: JsonErasure,
    #[serde(default)]
    meta: BTreeMap<String, String>,
    #[serde(default)]
    parts: Vec<JsonPart>,
    #[serde(default, rename = "dataDir")]
    data_dir: String,
}

#[derive(Deserialize)]
struct JsonStat {
    size: i64,
    #[serde(rename = "modTime")]
    mod_time: String,
}

#[derive(Deserialize)]
struct JsonErasure {
    algorithm: String,
    data: i64,
    parity: i64,
    #[serde(rename = "blockSize")]
    block_size: i64,
    index: i64,
    distribution: Vec<i64>,
    #[serde(default)]
    checksum: Vec<JsonChecksum>,
}

#[derive(Deserialize)]
struct JsonChecksum {
    algorithm: String,
}

#[derive(Deserialize)]
struct JsonPart {
    number: i64,
    #[serde(default)]
    etag: String,
    size: i64,
    #[serde(default, rename = "actualSize")]
    actual_size: i64,
}

/// Go's RFC 3339 time (`time.Time` in JSON) in Unix nanoseconds.
fn rfc3339_ns(s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("v1 metadata modTime {s:?}: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| format!("v1 metadata modTime {s:?} out of range"))
}

/// Decodes an `xl.json` file: one legacy null version, its data in the object's folder
/// (`data_dir` empty) unless the record names a data dir.
pub fn decode_json(buf: &[u8]) -> Result<XlMeta, Error> {
    let bad = |p: String| Error { offset: 0, problem: p };
    let j: JsonRecord = serde_json::from_slice(buf).map_err(|e| bad(format!("xl.json: {e}")))?;
    let r = Record {
        version: j.version,
        format: j.format,
        size: j.stat.size,
        mod_time_ns: rfc3339_ns(&j.stat.mod_time).map_err(bad)?,
        algorithm: j.erasure.algorithm,
        data: j.erasure.data,
        parity: j.erasure.parity,
        block_size: j.erasure.block_size,
        index: j.erasure.index,
        distribution: j.erasure.distribution,
        checksums: j.erasure.checksum.into_iter().map(|c| c.algorithm).collect(),
        meta: j.meta,
        parts: j.parts.into_iter().map(|p| (p.number, p.etag, p.size, p.actual_size)).collect(),
        data_dir: j.data_dir,
    };
    r.check().map_err(bad)?;
    let mod_time_ns = r.mod_time_ns;
    let version = XlVersion {
        kind: VersionType::Legacy,
        version_id: None,
        mod_time_ns,
        signature: None,
        flags: 0,
        object: Some(r.into_object()),
        v1_raw: None,
    };
    Ok(XlMeta { major: 1, minor: 0, versions: vec![version], ..Default::default() })
}

fn int(v: Option<&Value<'_>>) -> i64 {
    v.and_then(Value::as_int).unwrap_or(0)
}

fn string(v: Option<&Value<'_>>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

/// msgp's `time.Time`: extension 5 of 12 bytes (seconds, big-endian i64; nanoseconds, u32).
fn msgp_time_ns(v: Option<&Value<'_>>) -> i64 {
    match v {
        Some(Value::Ext(5, b)) if b.len() == 12 => {
            let secs = i64::from_be_bytes(b[..8].try_into().unwrap_or_default());
            let nanos = u32::from_be_bytes(b[8..].try_into().unwrap_or_default());
            secs.saturating_mul(1_000_000_000).saturating_add(i64::from(nanos))
        }
        _ => 0,
    }
}

/// One of several field names (msgp field names changed across MinIO releases).
fn field<'v, 'a>(v: &'v Value<'a>, names: &[&str]) -> Option<&'v Value<'a>> {
    names.iter().find_map(|n| v.get(n))
}

/// Interprets a `V1Obj` map: the version's object and its modification time.
pub fn from_msgpack(o: &Value<'_>) -> Result<(XlObject, i64), String> {
    if !matches!(o, Value::Map(_)) {
        return Err("V1Obj is not a map".into());
    }
    let stat = o.get("Stat");
    let erasure = o.get("Erasure").ok_or("V1Obj without Erasure")?;
    let mut meta = BTreeMap::new();
    if let Some(Value::Map(m)) = o.get("Meta") {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                meta.insert(k.to_string(), v.to_string());
            }
        }
    }
    let parts = match o.get("Parts") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| {
                (
                    int(field(p, &["Number", "n"])),
                    string(field(p, &["ETag", "e"])),
                    int(field(p, &["Size", "s"])),
                    int(field(p, &["ActualSize", "as"])),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let checksums = match erasure.get("Checksums") {
        Some(Value::Array(a)) => a.iter().map(|c| bitrot_name(int(c.get("Algorithm"))).to_string()).collect(),
        _ => Vec::new(),
    };
    let r = Record {
        version: string(o.get("Version")),
        format: string(o.get("Format")),
        size: int(stat.and_then(|s| s.get("Size"))),
        mod_time_ns: msgp_time_ns(stat.and_then(|s| s.get("ModTime"))),
        algorithm: string(erasure.get("Algorithm")),
        data: int(erasure.get("DataBlocks")),
        parity: int(erasure.get("ParityBlocks")),
        block_size: int(erasure.get("BlockSize")),
        index: int(erasure.get("Index")),
        distribution: match erasure.get("Distribution") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_int).collect(),
            _ => Vec::new(),
        },
        checksums,
        meta,
        parts,
        data_dir: string(o.get("DataDir")),
    };
    r.check()?;
    let t = r.mod_time_ns;
    Ok((r.into_object(), t))
}

/// `raw` (a legacy version's msgpack map) with its `V1Obj.Erasure.Index` set to `index`: a
/// drive's copy names the shard that drive holds. `raw` as it is when it does not parse.
pub(super) fn with_index(raw: &[u8], index: i64) -> Vec<u8> {
    fn patch<'a>(v: &Value<'a>, path: &[&str], index: i64) -> Value<'a> {
        match (v, path.split_first()) {
            (Value::Map(m), Some((first, rest))) => Value::Map(
                m.iter()
                    .map(|(k, x)| match k.as_bytes() == Some(first.as_bytes()) {
                        true if rest.is_empty() => (k.clone(), Value::Int(index)),
                        true => (k.clone(), patch(x, rest, index)),
                        false => (k.clone(), x.clone()),
                    })
                    .collect(),
            ),
            _ => v.clone(),
        }
    }
    match Reader::new(raw, 0).value() {
        Ok(v) => super::encode::value(&patch(&v, &["V1Obj", "Erasure", "Index"], index)),
        Err(_) => raw.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MinIO's own test record (cmd/xl-storage_test.go, TestXLStorageReadVersionLegacy),
    /// written by RELEASE.2019-12-30T05-45-39Z: an SSE-S3 object, 2+2.
    const MINIO_2019: &str = r#"{"version":"1.0.1","format":"xl","stat":{"size":2016,"modTime":"2021-10-11T23:40:34.914361617Z"},"erasure":{"algorithm":"klauspost/reedsolomon/vandermonde","data":2,"parity":2,"blockSize":10485760,"index":2,"distribution":[2,3,4,1],"checksum":[{"name":"part.1","algorithm":"highwayhash256S"}]},"minio":{"release":"RELEASE.2019-12-30T05-45-39Z"},"meta":{"X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm":"DAREv2-HMAC-SHA256","content-type":"application/octet-stream","etag":"20000f00cf5e68d3d6b60e44fcd8b9e8-1"},"parts":[{"number":1,"name":"part.1","etag":"","size":2016,"actualSize":1984}]}"#;

    #[test]
    fn reads_minio_xl_json() {
        let m = decode_json(MINIO_2019.as_bytes()).unwrap();
        assert_eq!(m.versions.len(), 1);
        let v = &m.versions[0];
        assert_eq!((v.kind, v.version_id.as_deref(), v.v1_raw.is_none()), (VersionType::Legacy, None, true));
        assert_eq!(v.mod_time_ns, 1_633_995_634_914_361_617);
        let o = v.object.as_ref().unwrap();
        assert_eq!((o.erasure_data, o.erasure_parity, o.erasure_index, o.size), (2, 2, 2, 2016));
        assert_eq!(o.erasure_distribution, vec![2, 3, 4, 1]);
        assert_eq!(
            (o.part_numbers.clone(), o.part_sizes.clone(), o.part_actual_sizes.clone()),
            (vec![1], vec![2016], vec![1984])
        );
        assert_eq!(o.data_dir, "");
        assert_eq!(o.unreadable, None);
        assert_eq!(o.meta_user["etag"], "20000f00cf5e68d3d6b60e44fcd8b9e8-1");
        // decode() recognizes the JSON form too (MinIO may leave it named xl.meta).
        assert_eq!(super::super::decode(MINIO_2019.as_bytes()).unwrap().versions, m.versions);
    }

    #[test]
    fn refuses_what_minio_refuses_and_names_what_it_cannot_serve() {
        let broken = [
            MINIO_2019.replace("\"1.0.1\"", "\"2.0.0\""),
            MINIO_2019.replace("\"parity\":2", "\"parity\":0"),
            MINIO_2019.replace("[2,3,4,1]", "[2,3,4]"),
            MINIO_2019.replace("[2,3,4,1]", "[2,3,4,9]"),
            MINIO_2019.replace("2021-10-11T23:40:34.914361617Z", "yesterday"),
            MINIO_2019[..100].to_string(),
        ];
        for b in broken {
            assert!(decode_json(b.as_bytes()).is_err(), "{b}");
        }
        let whole = decode_json(MINIO_2019.replace("highwayhash256S", "blake2b").as_bytes()).unwrap();
        let why = whole.versions[0].object.as_ref().unwrap().unreadable.clone().unwrap();
        assert!(why.contains("whole-file bitrot checksums (blake2b)"), "{why}");
        let other = decode_json(MINIO_2019.replace(KLAUSPOST, "isa-l/reedsolomon/cauchy").as_bytes()).unwrap();
        assert!(other.versions[0].object.as_ref().unwrap().unreadable.as_ref().unwrap().contains("isa-l"));
    }
}

//! Writing xl.meta in MinIO's v1.3 indexed layout: "XL2 " + version 1.3, a bin32 holding
//! header version 2, meta version 1, the version count and per version [header tuple, meta
//! map] (newest first), the xxhash64-based CRC, then inline data (version 1, a map of version
//! id -> bytes). Field names, their order and the integer encodings follow MinIO's msgp
//! encoding, and each header carries MinIO's signature of its version (the same on every
//! drive, whatever shard the drive holds: MinIO merges the drives' copies of a version by
//! it), so MinIO reads these files as its own. This module must never write anything but
//! the bytes it returns.

use rmp::encode as mp;

use super::msgpack::Value;
use super::{VersionType, XlMeta, XlObject, XlVersion};

const HEADER_VERSION: u64 = 2;
const META_VERSION: u64 = 1;
/// Version header flags, as MinIO defines them.
pub const FLAG_USES_DATA_DIR: u8 = 1 << 1;
pub const FLAG_INLINE_DATA: u8 = 1 << 2;
/// MinIO's system metadata key marking an inline version.
pub const MINIO_INLINE_META: &str = "x-minio-internal-inline-data";

// Writing into a Vec cannot fail; the results are ignored on purpose.
fn str(out: &mut Vec<u8>, s: &str) {
    let _ = mp::write_str(out, s);
}
fn bin(out: &mut Vec<u8>, b: &[u8]) {
    let _ = mp::write_bin(out, b);
}
/// A signed integer as msgp's `AppendInt64` writes it: a fixint, else the smallest of
/// int8/16/32/64 that holds it (signed markers for positive values too, unlike rmp's
/// `write_sint`; the signature hashes these bytes).
fn int(out: &mut Vec<u8>, i: i64) {
    if (-32..=127).contains(&i) {
        out.push(i as u8);
    } else if i8::try_from(i).is_ok() && i < 0 {
        out.push(0xd0);
        out.push(i as u8);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}
fn uint(out: &mut Vec<u8>, u: u64) {
    let _ = mp::write_uint(out, u);
}

fn id_bytes(id: Option<&str>) -> [u8; 16] {
    id.and_then(|s| uuid::Uuid::parse_str(s).ok()).map(|u| *u.as_bytes()).unwrap_or([0; 16])
}

/// MinIO's xlMetaV2Object, fields in its struct order. `signed`: as MinIO hashes it for
/// the signature (no erasure index, nil maps, nil empty part ETags and actual sizes).
fn object_map(out: &mut Vec<u8>, v: &XlVersion, o: &XlObject, signed: bool) {
    let _ = mp::write_map_len(out, 17);
    str(out, "ID");
    bin(out, &id_bytes(v.version_id.as_deref()));
    str(out, "DDir");
    bin(out, &id_bytes(Some(&o.data_dir)));
    str(out, "EcAlgo");
    uint(out, o.erasure_algorithm as u64);
    str(out, "EcM");
    int(out, o.erasure_data);
    str(out, "EcN");
    int(out, o.erasure_parity);
    str(out, "EcBSize");
    int(out, o.erasure_block_size);
    str(out, "EcIndex");
    int(out, if signed { 0 } else { o.erasure_index });
    str(out, "EcDist");
    let _ = mp::write_array_len(out, o.erasure_distribution.len() as u32);
    for d in &o.erasure_distribution {
        uint(out, u64::from(*d));
    }
    str(out, "CSumAlgo");
    uint(out, o.bitrot_algorithm as u64);
    str(out, "PartNums");
    let _ = mp::write_array_len(out, o.part_numbers.len() as u32);
    o.part_numbers.iter().for_each(|n| int(out, *n));
    str(out, "PartETags");
    if o.part_etags.iter().all(String::is_empty) {
        let _ = mp::write_nil(out);
    } else {
        let _ = mp::write_array_len(out, o.part_etags.len() as u32);
        o.part_etags.iter().for_each(|e| str(out, e));
    }
    str(out, "PartSizes");
    let _ = mp::write_array_len(out, o.part_sizes.len() as u32);
    o.part_sizes.iter().for_each(|n| int(out, *n));
    str(out, "PartASizes");
    if signed && o.part_actual_sizes.is_empty() {
        let _ = mp::write_nil(out);
    } else {
        let _ = mp::write_array_len(out, o.part_actual_sizes.len() as u32);
        o.part_actual_sizes.iter().for_each(|n| int(out, *n));
    }
    str(out, "Size");
    int(out, o.size);
    str(out, "MTime");
    int(out, v.mod_time_ns);
    str(out, "MetaSys");
    if signed {
        let _ = mp::write_nil(out);
    } else {
        let _ = mp::write_map_len(out, o.meta_sys.len() as u32);
        for (k, val) in &o.meta_sys {
            str(out, k);
            bin(out, val);
        }
    }
    str(out, "MetaUsr");
    if signed {
        let _ = mp::write_nil(out);
    } else {
        let _ = mp::write_map_len(out, o.meta_user.len() as u32);
        for (k, val) in &o.meta_user {
            str(out, k);
            str(out, val);
        }
    }
}

/// MinIO's order-independent hash of a metadata map (`hashDeterministicString` and
/// `hashDeterministicBytes`: xxh3 of each key and value, combined by xor).
fn map_hash<'a>(seed: u64, entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> u64 {
    use xxhash_rust::xxh3::xxh3_64;
    entries.fold(seed, |crc, (k, v)| {
        crc ^ (xxh3_64(k.as_bytes()) ^ 0x4ee3_bbaf_7ab2_506b).wrapping_add(xxh3_64(v) ^ 0x8da4_c8da_6619_4257)
    })
}

/// MinIO's signature of a version, the same on every drive: the xxhash64 of its msgpack
/// without the per-drive erasure index and without its metadata maps, xor the maps'
/// order-independent hashes, folded to 32 bits.
pub fn signature(v: &XlVersion) -> [u8; 4] {
    const USER_SEED: u64 = 0xc2b4_0bba_c11a_7295;
    const SYS_SEED: u64 = 0x1bbc_7e1d_de65_4743;
    let mut body = Vec::new();
    let crc = match (&v.kind, &v.object) {
        (VersionType::Object, Some(o)) => {
            object_map(&mut body, v, o, true);
            map_hash(USER_SEED, o.meta_user.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
                ^ map_hash(SYS_SEED, o.meta_sys.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
        }
        _ => {
            // A delete marker: its ID and MTime (MetaSys, empty here, is omitted).
            let _ = mp::write_map_len(&mut body, 2);
            str(&mut body, "ID");
            bin(&mut body, &id_bytes(v.version_id.as_deref()));
            str(&mut body, "MTime");
            int(&mut body, v.mod_time_ns);
            map_hash(SYS_SEED, std::iter::empty())
        }
    };
    let crc = crc ^ xxhash_rust::xxh64::xxh64(&body, 0);
    ((crc ^ (crc >> 32)) as u32).to_le_bytes()
}

/// The msgpack map of one version (MinIO's xlMetaV2Version).
fn version_meta(v: &XlVersion) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = mp::write_map_len(&mut out, 2);
    str(&mut out, "Type");
    match (&v.kind, &v.object) {
        (VersionType::Object, Some(o)) => {
            uint(&mut out, 1);
            str(&mut out, "V2Obj");
            object_map(&mut out, v, o, false);
        }
        _ => {
            uint(&mut out, 2);
            str(&mut out, "DelObj");
            // MetaSys (empty) is omitted, as msgp's omitempty does.
            let _ = mp::write_map_len(&mut out, 2);
            str(&mut out, "ID");
            bin(&mut out, &id_bytes(v.version_id.as_deref()));
            str(&mut out, "MTime");
            int(&mut out, v.mod_time_ns);
        }
    }
    out
}

/// A decoded MessagePack value written back (a legacy version read from a 1.0-1.2 file,
/// kept as MinIO wrote it).
pub(super) fn value(v: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Nil => {
            let _ = mp::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = mp::write_bool(out, *b);
        }
        Value::Int(i) => int(out, *i),
        Value::UInt(u) => uint(out, *u),
        Value::F32(f) => {
            let _ = mp::write_f32(out, *f);
        }
        Value::F64(f) => {
            let _ = mp::write_f64(out, *f);
        }
        Value::Str(s) => {
            let _ = mp::write_str_len(out, s.len() as u32);
            out.extend_from_slice(s);
        }
        Value::Bin(b) => bin(out, b),
        Value::Array(a) => {
            let _ = mp::write_array_len(out, a.len() as u32);
            a.iter().for_each(|x| write_value(out, x));
        }
        Value::Map(m) => {
            let _ = mp::write_map_len(out, m.len() as u32);
            for (k, x) in m {
                write_value(out, k);
                write_value(out, x);
            }
        }
        Value::Ext(t, d) => {
            let _ = mp::write_ext_meta(out, d.len() as u32, *t);
            out.extend_from_slice(d);
        }
    }
}

/// The 4-byte signature of a header, from its hex form.
fn signature_bytes(hex_sig: Option<&str>) -> [u8; 4] {
    hex_sig.and_then(|h| hex::decode(h).ok()).and_then(|b| <[u8; 4]>::try_from(b).ok()).unwrap_or_default()
}

/// Encodes `meta` in the v1.3 layout. Versions are written newest first. A legacy (v1)
/// version read from an xl.meta is written back as MinIO wrote it (its map verbatim, its
/// header signature kept); one read from `xl.json` has no xl.meta form and is left out
/// (the store never writes such a file: see `legacy::store`).
pub fn encode(meta: &XlMeta) -> Vec<u8> {
    let mut versions: Vec<&XlVersion> =
        meta.versions.iter().filter(|v| v.kind != VersionType::Legacy || v.v1_raw.is_some()).collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.mod_time_ns));
    let mut payload = Vec::new();
    uint(&mut payload, HEADER_VERSION);
    uint(&mut payload, META_VERSION);
    int(&mut payload, versions.len() as i64);
    for v in versions {
        let (body, sig, kind) = match (&v.kind, &v.v1_raw) {
            (VersionType::Legacy, Some(raw)) => {
                let body = match v.object.as_ref().map(|o| o.erasure_index).filter(|i| *i > 0) {
                    Some(i) => super::v1::with_index(raw, i),
                    None => raw.clone(),
                };
                (body, signature_bytes(v.signature.as_deref()), 3)
            }
            (VersionType::Object, _) => (version_meta(v), signature(v), 1),
            _ => (version_meta(v), signature(v), 2),
        };
        let mut flags = 0u8;
        if let Some(o) = v.object.as_ref().filter(|_| v.kind == VersionType::Object) {
            // As MinIO: an inline version keeps its data dir id but does not use the folder.
            let inline = meta.inline_data(v).is_some() || o.meta_sys.contains_key(MINIO_INLINE_META);
            if !o.data_dir.is_empty() && !inline {
                flags |= FLAG_USES_DATA_DIR;
            }
            if meta.inline_data(v).is_some() {
                flags |= FLAG_INLINE_DATA;
            }
        }
        let mut hdr = Vec::new();
        let _ = mp::write_array_len(&mut hdr, 5);
        bin(&mut hdr, &id_bytes(v.version_id.as_deref()));
        int(&mut hdr, v.mod_time_ns);
        bin(&mut hdr, &sig);
        uint(&mut hdr, kind);
        uint(&mut hdr, u64::from(flags));
        bin(&mut payload, &hdr);
        bin(&mut payload, &body);
    }
    let mut out = Vec::with_capacity(payload.len() + 32);
    out.extend_from_slice(super::MAGIC);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&3u16.to_le_bytes());
    // Always bin32, as MinIO writes it.
    out.push(0xc6);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out.push(0xce);
    out.extend_from_slice(&(xxhash_rust::xxh64::xxh64(&payload, 0) as u32).to_be_bytes());
    if !meta.inline.is_empty() {
        out.push(1);
        let _ = mp::write_map_len(&mut out, meta.inline.len() as u32);
        for (k, v) in &meta.inline {
            str(&mut out, k);
            bin(&mut out, v);
        }
    }
    out
}

//! MinIO's deployment layout: the `.minio.sys/format.json` every drive of a MinIO erasure
//! deployment carries (format `xl`, xl version 3: the deployment id, this drive's uuid, the
//! uuids of every set's drives in set order, and the distribution algorithm), and the
//! placement MinIO derives from it: the set of an object (`SIPMOD`: SipHash-2-4 of the object
//! name keyed by the deployment id; `CRCMOD` on the oldest deployments), the shard order of
//! a new object (`hash_order`, a rotation by the CRC-32 of `bucket/object`), and the
//! default parity of a set size.
//!
//! This module only parses and computes; it never touches a drive, and it refuses formats it
//! does not fully understand instead of guessing a layout.

use std::hash::Hasher;

use serde::{Deserialize, Serialize};

use super::MinioError;

/// MinIO's folder on every drive (its config, bucket metadata, multipart and tmp files).
pub const MINIO_SYS: &str = ".minio.sys";
/// `format.json` inside [`MINIO_SYS`].
pub const FORMAT_FILE: &str = "format.json";

/// How MinIO chooses an object's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distribution {
    /// `CRCMOD`: CRC-32 (IEEE) of the object name, modulo the set count.
    #[serde(rename = "CRCMOD")]
    Crc,
    /// `SIPMOD`: SipHash-2-4 of the object name keyed by the deployment id.
    #[serde(rename = "SIPMOD")]
    Sip,
    /// `SIPMOD+PARITY`: the same placement (the suffix changes MinIO's default parity only).
    #[serde(rename = "SIPMOD+PARITY")]
    SipParity,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XlSection {
    pub version: String,
    pub this: String,
    pub sets: Vec<Vec<String>>,
    #[serde(rename = "distributionAlgo")]
    pub distribution_algo: String,
}

/// One drive's `.minio.sys/format.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinioFormat {
    pub version: String,
    pub format: String,
    pub id: String,
    pub xl: XlSection,
}

fn bad(why: impl Into<String>) -> MinioError {
    MinioError::Layout(format!("MinIO format.json: {}", why.into()))
}

impl MinioFormat {
    /// Parses and checks a `format.json`: an erasure deployment (`xl`, version 3) with a
    /// deployment uuid, sets of 2 to 16 drives all of one size, distinct drive uuids, and a
    /// distribution algorithm this module computes. Single-drive (`xl-single`) and FS-mode
    /// deployments keep objects in other layouts and are refused with that reason.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinioError> {
        let f: MinioFormat = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        match f.format.as_str() {
            "xl" => {}
            "xl-single" => {
                return Err(bad("a single-drive deployment (xl-single) is not an erasure set; not adoptable"));
            }
            "fs" => return Err(bad("an FS-mode deployment keeps plain files; not adoptable")),
            other => return Err(bad(format!("unknown format {other:?}"))),
        }
        if f.version != "1" || f.xl.version != "3" {
            return Err(bad(format!(
                "version {}/xl {} (only 1/3 is understood; start the newest MinIO once to upgrade it)",
                f.version, f.xl.version
            )));
        }
        uuid::Uuid::parse_str(&f.id).map_err(|_| bad(format!("deployment id {:?} is not a uuid", f.id)))?;
        let per_set = f.xl.sets.first().map_or(0, Vec::len);
        if f.xl.sets.is_empty() || !(2..=16).contains(&per_set) || f.xl.sets.iter().any(|s| s.len() != per_set) {
            return Err(bad(format!(
                "sets of {:?} drives (MinIO's sets have 2 to 16 drives, all alike)",
                f.xl.sets.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if !f.xl.sets.iter().flatten().all(|u| seen.insert(u.as_str())) {
            return Err(bad("a drive uuid appears twice in the sets"));
        }
        f.distribution()?;
        Ok(f)
    }

    pub fn distribution(&self) -> Result<Distribution, MinioError> {
        serde_json::from_value(serde_json::Value::String(self.xl.distribution_algo.clone()))
            .map_err(|_| bad(format!("unknown distribution algorithm {:?}", self.xl.distribution_algo)))
    }

    pub fn drives_per_set(&self) -> usize {
        self.xl.sets.first().map_or(0, Vec::len)
    }

    /// Where the drive with uuid `drive` sits: `(set, position in the set)`.
    pub fn position_of(&self, drive: &str) -> Option<(usize, usize)> {
        self.xl.sets.iter().enumerate().find_map(|(s, set)| set.iter().position(|u| u == drive).map(|i| (s, i)))
    }

    /// This drive's place in the deployment.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position_of(&self.xl.this)
    }

    /// Whether two drives' formats describe the same deployment (only `this` differs).
    pub fn same_deployment(&self, other: &MinioFormat) -> bool {
        self.id == other.id && self.xl.sets == other.xl.sets && self.xl.distribution_algo == other.xl.distribution_algo
    }

    /// The deployment id as MinIO keys its SipHash with (the uuid's 16 bytes).
    pub fn id_bytes(&self) -> [u8; 16] {
        uuid::Uuid::parse_str(&self.id).map(|u| *u.as_bytes()).unwrap_or([0; 16])
    }
}

/// The set (of `sets`) MinIO keeps `object` (the object name, without its bucket) in.
pub fn set_index(algo: Distribution, object: &str, sets: usize, id: &[u8; 16]) -> usize {
    if sets <= 1 {
        return 0;
    }
    let h = match algo {
        Distribution::Crc => u64::from(crc32fast::hash(object.as_bytes())),
        Distribution::Sip | Distribution::SipParity => {
            let mut k0 = [0u8; 8];
            let mut k1 = [0u8; 8];
            k0.copy_from_slice(&id[..8]);
            k1.copy_from_slice(&id[8..]);
            let mut s = siphasher::sip::SipHasher24::new_with_keys(u64::from_le_bytes(k0), u64::from_le_bytes(k1));
            s.write(object.as_bytes());
            s.finish()
        }
    };
    (h % sets as u64) as usize
}

/// The shard order MinIO gives a new object of `bucket/object` on a set of `n` drives (its
/// `erasure_distribution`: the shard number, 1-based, of each set position).
pub fn hash_order(bucket_object: &str, n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    let start = crc32fast::hash(bucket_object.as_bytes()) as usize % n;
    (1..=n).map(|i| (1 + (start + i) % n) as u8).collect()
}

/// MinIO's default parity (storage class STANDARD) for a set of `n` drives.
pub fn default_parity(n: usize) -> usize {
    match n {
        0 | 1 => 0,
        2 | 3 => 1,
        4 | 5 => 2,
        6 | 7 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(sets: &[&[&str]], this: &str, algo: &str) -> String {
        serde_json::json!({
            "version": "1", "format": "xl", "id": "5e7c3b2a-1f4d-4c8e-9a6b-2d3e4f5a6b7c",
            "xl": {"version": "3", "this": this, "sets": sets, "distributionAlgo": algo}
        })
        .to_string()
    }

    #[test]
    fn parses_minio_formats_and_refuses_what_it_cannot_place() {
        let f = MinioFormat::parse(format(&[&["a", "b", "c", "d", "e"]], "d", "SIPMOD+PARITY").as_bytes()).unwrap();
        assert_eq!((f.drives_per_set(), f.position()), (5, Some((0, 3))));
        assert_eq!(f.distribution().unwrap(), Distribution::SipParity);
        for (text, why) in [
            (format(&[&["a"]], "a", "SIPMOD"), "2 to 16"),
            (format(&[&["a", "b"], &["c"]], "a", "SIPMOD"), "2 to 16"),
            (format(&[&["a", "a"]], "a", "SIPMOD"), "twice"),
            (format(&[&["a", "b"]], "a", "ROUNDROBIN"), "unknown distribution"),
            (format(&[&["a", "b"]], "a", "SIPMOD").replace("\"xl\",", "\"xl-single\","), "single-drive"),
            (format(&[&["a", "b"]], "a", "SIPMOD").replace("\"version\":\"3\"", "\"version\":\"2\""), "upgrade"),
            ("{".to_string(), "format.json"),
        ] {
            let e = MinioFormat::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn siphash_is_siphash_2_4_with_the_id_as_little_endian_keys() {
        // The SipHash paper's vector: key 00..0f, message 00..0e -> a129ca6149be45e5.
        let id: [u8; 16] = std::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..15).collect();
        let mut s = siphasher::sip::SipHasher24::new_with_keys(
            u64::from_le_bytes(id[..8].try_into().unwrap()),
            u64::from_le_bytes(id[8..].try_into().unwrap()),
        );
        s.write(&msg);
        assert_eq!(s.finish(), 0xa129ca6149be45e5);
        let key = String::from_utf8(msg).unwrap();
        assert_eq!(set_index(Distribution::Sip, &key, 7, &id), (0xa129ca6149be45e5u64 % 7) as usize);
        assert_eq!(set_index(Distribution::Crc, "object", 3, &id), (crc32fast::hash(b"object") % 3) as usize);
        assert_eq!(set_index(Distribution::SipParity, "anything", 1, &id), 0);
    }

    #[test]
    fn hash_order_is_a_rotation_and_parity_follows_minio() {
        for n in 2..=16 {
            let mut o = hash_order("bucket/some/key", n);
            assert_eq!(o[0] as usize, 1 + (crc32fast::hash(b"bucket/some/key") as usize % n + 1) % n);
            o.sort_unstable();
            assert_eq!(o, (1..=n as u8).collect::<Vec<_>>());
        }
        let p: Vec<usize> = (2..=16).map(default_parity).collect();
        assert_eq!(p, [1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4]);
    }
}

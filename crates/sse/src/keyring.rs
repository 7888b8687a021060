//! Master keys and the sealing of object keys (format version 1).
//!
//! A keyring is a list of named 256-bit keys, one per line as `<id> <base64 key>` (`#`
//! starts a comment); the first is the current key, which seals new objects (SSE-S3, and
//! SSE-KMS without a key id); the others stay to open what they sealed, so rotating is:
//! put a new key first and keep the old lines. SSE-KMS names a key of the ring by its id.
//!
//! An object key is sealed as `salt (32 bytes) || AES-256-GCM(HMAC-SHA256(key-encryption
//! key, salt), nonce 0, object key, aad = context)`: a fresh salt per seal, so a master key
//! seals any number of objects; the context binds the sealed key to its bucket and object.
//! This module never logs or prints key material.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};

use crate::SseError;

/// Named master keys; the first is the current one.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:".contains(&b))
}

impl Keyring {
    /// Parses a keyring's text (see the module documentation).
    pub fn parse(text: &str) -> Result<Self, SseError> {
        let mut keys: Vec<(String, [u8; 32])> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| SseError::Keyring(format!("line {}: {why}", n + 1));
            let (id, key) = line.split_once(char::is_whitespace).ok_or_else(|| bad("expected `<id> <base64 key>`"))?;
            if !valid_id(id) {
                return Err(bad("a key id is letters, digits and - _ . / : only"));
            }
            let raw = B64.decode(key.trim()).map_err(|_| bad("the key is not base64"))?;
            let key: [u8; 32] = raw.try_into().map_err(|_| bad("a key is 32 bytes"))?;
            if keys.iter().any(|(i, _)| i == id) {
                return Err(bad("the key id is given twice"));
            }
            keys.push((id.to_string(), key));
        }
        if keys.is_empty() {
            return Err(SseError::Keyring("no key".into()));
        }
        Ok(Self { keys })
    }

    /// The keyring of `path`, created (mode 0600) with one fresh key `sse-1` if the file does
    /// not exist.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self, SseError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let text = format!(
                    "# Server-side encryption master keys: `<id> <base64 32-byte key>`, the first is current.\n\
                     # Keep every line that ever sealed an object; back this file up apart from the data.\n\
                     sse-1 {}\n",
                    B64.encode(key)
                );
                write_private(path, &text).map_err(|e| SseError::Keyring(format!("{}: {e}", path.display())))?;
                Self::parse(&text)
            }
            Err(e) => Err(SseError::Keyring(format!("{}: {e}", path.display()))),
        }
    }

    pub fn current(&self) -> &str {
        &self.keys[0].0
    }

    pub fn get(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys.iter().find(|(i, _)| i == id).map(|(_, k)| k)
    }

    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(i, _)| i.as_str()).collect()
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A fresh random object key.
pub fn new_object_key() -> [u8; 32] {
    rand::random()
}

fn kek(master: &[u8; 32], salt: &[u8]) -> Aes256Gcm {
    let mut mac = <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(master)
        .unwrap_or_else(|_| <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(salt);
    let k: [u8; 32] = mac.finalize().into_bytes().into();
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(k))
}

/// Seals `object_key` under `master` for `context` (see the module documentation).
pub fn seal(master: &[u8; 32], object_key: &[u8; 32], context: &[u8]) -> Vec<u8> {
    let salt: [u8; 32] = rand::random();
    let mut out = salt.to_vec();
    let ct = kek(master, &salt).encrypt(&Nonce::from([0u8; 12]), Payload { msg: object_key, aad: context });
    out.extend(ct.unwrap_or_default());
    out
}

/// Opens a sealed object key; `WrongKey` when `master` or `context` is not the one it was
/// sealed with.
pub fn unseal(master: &[u8; 32], sealed: &[u8], context: &[u8]) -> Result<[u8; 32], SseError> {
    if sealed.len() != 32 + 32 + 16 {
        return Err(SseError::WrongKey);
    }
    let plain = kek(master, &sealed[..32])
        .decrypt(&Nonce::from([0u8; 12]), Payload { msg: &sealed[32..], aad: context })
        .map_err(|_| SseError::WrongKey)?;
    plain.try_into().map_err(|_| SseError::WrongKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyrings() {
        let k = B64.encode([3u8; 32]);
        let r = Keyring::parse(&format!("# c\nnew {k}\n\nold {}\n", B64.encode([4u8; 32])))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.current(), r.ids()), ("new", vec!["new", "old"]));
        assert_eq!(r.get("old"), Some(&[4u8; 32]));
        assert!(format!("{r:?}").contains("new") && !format!("{r:?}").contains(&k), "Debug shows no key");
        for bad in
            ["", "x", "a b", &format!("a {}", B64.encode([1u8; 16])), &format!("a {k}\na {k}"), &format!("a b {k}")]
        {
            assert!(Keyring::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("rustfs-keyring-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let p = dir.join("sse.keys");
        let a = Keyring::load_or_create(&p).unwrap_or_else(|e| panic!("{e}"));
        let b = Keyring::load_or_create(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.get("sse-1"), b.get("sse-1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).map(|m| m.permissions().mode() & 0o777).unwrap_or_default();
            assert_eq!(mode, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sealing() {
        let m = [9u8; 32];
        let ok = new_object_key();
        let s = seal(&m, &ok, b"b/k");
        assert_ne!(s, seal(&m, &ok, b"b/k"), "fresh salt each time");
        assert_eq!(unseal(&m, &s, b"b/k").ok(), Some(ok));
        assert!(unseal(&m, &s, b"b/other").is_err());
        assert!(unseal(&[8u8; 32], &s, b"b/k").is_err());
        assert!(unseal(&m, &s[1..], b"b/k").is_err());
    }
}

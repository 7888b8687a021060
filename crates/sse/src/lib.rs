//! Server-side encryption primitives: the streamed package format of encrypted object data
//! (`package`), master keyrings and the sealing of per-object keys (`keyring`).
//! RustCrypto's AES-256-GCM and HMAC-SHA256 do the cryptography; nothing here is hand-made
//! crypto. No S3 types and no I/O beyond reading or creating a keyring file.

pub mod keyring;
pub mod package;

pub use keyring::{Keyring, new_object_key, seal, unseal};
pub use package::{Decrypt, Encrypt, PACKAGE, PartRange, TAG, cipher_len, part_key, part_range, plain_len};

#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error("keyring: {0}")]
    Keyring(String),
    /// The key given (a master key, a customer key) is not the one the object key was sealed with.
    #[error("the key does not open this object's key")]
    WrongKey,
}

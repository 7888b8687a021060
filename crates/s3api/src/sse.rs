//! Server-side encryption at the S3 edge: the SSE headers of a request (SSE-S3, SSE-KMS
//! with a key of the built-in key store, SSE-C with its MD5 checks) and the bucket's
//! default encryption (Put/Get/DeleteBucketEncryption), the object key of a new version or
//! upload (sealed, see `sse::keyring`), the object key of a stored one, the encrypting and
//! decrypting streams (`sse::package`) over object data, and the SSE response headers.
//! Keys never appear in errors, logs or metrics.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::StreamExt;
use metadata::{BucketEncryption, BucketInfo, Encryption, ObjectData, ObjectVersion, SseKind};
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::{S3Api, auth, error};

/// An SSE-C key a request carries: the key and its base64 MD5.
#[derive(Clone)]
pub struct CustomerKey {
    pub key: [u8; 32],
    pub md5: String,
}

/// The SSE-C headers of a request, checked as AWS checks them (`None`: none given).
pub fn customer_key(alg: Option<&str>, key: Option<&str>, md5: Option<&str>) -> S3Result<Option<CustomerKey>> {
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    match alg {
        Some("AES256") => {}
        Some(_) => {
            return Err(s3_error!(
                InvalidEncryptionAlgorithmError,
                "The encryption request you specified is not valid. The valid value is AES256."
            ));
        }
        None => {
            return Err(s3_error!(
                InvalidArgument,
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
            ));
        }
    }
    let raw = key.and_then(|k| B64.decode(k).ok());
    let Some(key) = raw.and_then(|k| <[u8; 32]>::try_from(k).ok()) else {
        return Err(s3_error!(InvalidArgument, "The secret key was invalid for the specified algorithm."));
    };
    let actual = B64.encode(<md5::Md5 as md5::Digest>::digest(key));
    match md5 {
        Some(m) if m == actual => Ok(Some(CustomerKey { key, md5: actual })),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "The calculated MD5 hash of the key did not match the hash that was provided."
        )),
        None => Err(s3_error!(
            InvalidArgument,
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key."
        )),
    }
}

/// The encryption a write asked for.
pub enum Asked {
    /// Nothing: the bucket's default applies.
    Default,
    S3,
    Kms {
        key_id: Option<String>,
        context: Option<String>,
    },
    Customer(CustomerKey),
}

/// The SSE headers of a write (PUT, copy destination, CreateMultipartUpload).
pub fn asked(
    sse: Option<&ServerSideEncryption>,
    kms_key_id: Option<&str>,
    context: Option<&str>,
    customer: Option<CustomerKey>,
) -> S3Result<Asked> {
    match (sse.map(ServerSideEncryption::as_str), customer) {
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
        )),
        (None, Some(c)) => Ok(Asked::Customer(c)),
        (Some("AES256"), None) if kms_key_id.is_none() => Ok(Asked::S3),
        (Some("aws:kms" | "aws:kms:dsse"), None) => {
            Ok(Asked::Kms { key_id: kms_key_id.map(str::to_string), context: context.map(str::to_string) })
        }
        (None, None) if kms_key_id.is_none() => Ok(Asked::Default),
        (Some("AES256") | None, None) => Err(s3_error!(
            InvalidArgument,
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
        )),
        (Some(other), None) => {
            Err(s3_error!(InvalidArgument, "The encryption method specified is not supported: {other}"))
        }
    }
}

/// What binds a sealed object key to its object.
fn context(bucket: &str, key: &str) -> Vec<u8> {
    let mut c = Vec::with_capacity(bucket.len() + key.len() + 1);
    c.extend_from_slice(bucket.as_bytes());
    c.push(0);
    c.extend_from_slice(key.as_bytes());
    c
}

fn no_keys() -> S3Error {
    s3_error!(
        NotImplemented,
        "Server-side encryption needs a key store: start the server with --sse-keys-file (see the README)"
    )
}

fn kms_not_found(id: &str) -> S3Error {
    let mut e = S3Error::with_message(
        s3s::S3ErrorCode::Custom("KMS.NotFoundException".into()),
        format!("Key '{id}' does not exist"),
    );
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    e
}

impl S3Api {
    fn keyring(&self) -> S3Result<&Arc<rustfs_sse::Keyring>> {
        self.cfg.keys.as_ref().ok_or_else(no_keys)
    }

    /// The encryption of a new version (or upload) of `bucket/key`, with its object key:
    /// what the request asked for, else the bucket's default, else none.
    pub(crate) fn new_encryption(
        &self,
        bucket: &BucketInfo,
        key: &str,
        asked: Asked,
    ) -> S3Result<Option<(Encryption, [u8; 32])>> {
        let asked = match asked {
            Asked::Default => match &bucket.encryption {
                None => return Ok(None),
                Some(BucketEncryption { kind: SseKind::Kms, kms_key_id, .. }) => {
                    Asked::Kms { key_id: kms_key_id.clone(), context: None }
                }
                Some(_) => Asked::S3,
            },
            a => a,
        };
        let object_key = rustfs_sse::new_object_key();
        let cx = context(&bucket.name, key);
        let enc = match asked {
            Asked::Default | Asked::S3 => {
                let ring = self.keyring()?;
                let id = ring.current().to_string();
                let master = ring.get(&id).ok_or_else(no_keys)?;
                Encryption {
                    kind: SseKind::S3,
                    sealed_key: rustfs_sse::seal(master, &object_key, &cx),
                    key_id: id,
                    customer_key_md5: None,
                    context: None,
                }
            }
            Asked::Kms { key_id, context: kms_context } => {
                let ring = self.keyring()?;
                let id = key_id
                    .map(|k| k.trim_start_matches("arn:aws:kms:").rsplit('/').next().unwrap_or_default().to_string());
                let id = id.unwrap_or_else(|| ring.current().to_string());
                let master = ring.get(&id).ok_or_else(|| kms_not_found(&id))?;
                if let Some(c) = &kms_context {
                    let json = B64.decode(c).ok().and_then(|j| serde_json::from_slice::<serde_json::Value>(&j).ok());
                    if !json.is_some_and(|j| j.is_object()) {
                        return Err(s3_error!(
                            InvalidArgument,
                            "The encryption context is not valid base64-encoded JSON"
                        ));
                    }
                }
                Encryption {
                    kind: SseKind::Kms,
                    sealed_key: rustfs_sse::seal(master, &object_key, &cx),
                    key_id: id,
                    customer_key_md5: None,
                    context: kms_context,
                }
            }
            Asked::Customer(c) => Encryption {
                kind: SseKind::Customer,
                sealed_key: rustfs_sse::seal(&c.key, &object_key, &cx),
                key_id: String::new(),
                customer_key_md5: Some(c.md5),
                context: None,
            },
        };
        Ok(Some((enc, object_key)))
    }

    /// The object key of stored data encrypted as `enc` for `bucket/key`; SSE-C needs the
    /// request's key, which must be the one it was stored with.
    pub(crate) fn object_key(
        &self,
        bucket: &str,
        key: &str,
        enc: &Encryption,
        customer: Option<&CustomerKey>,
    ) -> S3Result<[u8; 32]> {
        let cx = context(bucket, key);
        match (enc.kind, customer) {
            (SseKind::Customer, None) => Err(s3_error!(
                InvalidRequest,
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
            )),
            (SseKind::Customer, Some(c)) => {
                if enc.customer_key_md5.as_deref() != Some(c.md5.as_str()) {
                    return Err(s3_error!(AccessDenied, "Access Denied"));
                }
                rustfs_sse::unseal(&c.key, &enc.sealed_key, &cx).map_err(|_| s3_error!(AccessDenied, "Access Denied"))
            }
            (_, Some(_)) => {
                Err(s3_error!(InvalidRequest, "The encryption parameters are not applicable to this object."))
            }
            (_, None) => {
                let ring = self.keyring()?;
                let Some(master) = ring.get(&enc.key_id) else {
                    tracing::error!(bucket, key, key_id = %enc.key_id, "the master key of an encrypted object is not in the keyring");
                    return Err(s3_error!(InternalError, "The object's encryption key is not available"));
                };
                rustfs_sse::unseal(master, &enc.sealed_key, &cx).map_err(|_| {
                    tracing::error!(bucket, key, key_id = %enc.key_id, "an object key does not open with its master key");
                    s3_error!(InternalError, "The object's encryption key is not available")
                })
            }
        }
    }

    /// The object key of a stored version given the request's SSE-C key (`None`: plaintext).
    pub(crate) fn key_of(&self, obj: &ObjectVersion, customer: Option<&CustomerKey>) -> S3Result<Option<[u8; 32]>> {
        match &obj.sse {
            None if customer.is_some() => {
                Err(s3_error!(InvalidRequest, "The encryption parameters are not applicable to this object."))
            }
            None => Ok(None),
            Some(enc) => self.object_key(&obj.bucket, &obj.key, enc, customer).map(Some),
        }
    }

    /// The plaintext of `range` of an encrypted version (`object_key` opened its key).
    pub(crate) async fn open_encrypted(
        &self,
        obj: &ObjectVersion,
        range: std::ops::Range<u64>,
        object_key: &[u8; 32],
    ) -> S3Result<StreamingBlob> {
        match &obj.data {
            ObjectData::Inline(ct) => {
                let r = rustfs_sse::part_range(range, obj.size);
                let slice = ct.get(r.cipher.start as usize..r.cipher.end as usize).unwrap_or_default();
                let once = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(slice))]);
                Ok(StreamingBlob::wrap(rustfs_sse::Decrypt::new(once, &rustfs_sse::part_key(object_key, 1), &r)))
            }
            ObjectData::Erasure(l) => {
                // The parts the range touches, each read and decrypted on its own.
                let mut segments = Vec::new();
                let (mut plain_at, mut cipher_at) = (0u64, 0u64);
                for p in &l.parts {
                    let plain = rustfs_sse::plain_len(p.size)
                        .ok_or_else(|| s3_error!(InternalError, "An encrypted part has an impossible size"))?;
                    let (a, b) = (range.start.max(plain_at), range.end.min(plain_at + plain));
                    if a < b || (plain == 0 && range.is_empty() && segments.is_empty() && a == b) {
                        let r = rustfs_sse::part_range(a - plain_at..b - plain_at, plain);
                        let abs = cipher_at + r.cipher.start..cipher_at + r.cipher.end;
                        segments.push((abs, r, rustfs_sse::part_key(object_key, p.number)));
                    }
                    plain_at += plain;
                    cipher_at += p.size;
                }
                if segments.len() == 1 {
                    let (abs, r, pk) = segments.remove(0);
                    let reader = self.ec.read(l, &obj.bucket, &obj.key, abs).await.map_err(error::store)?;
                    return Ok(StreamingBlob::wrap(rustfs_sse::Decrypt::new(reader, &pk, &r)));
                }
                // Several parts: read one after the other by a task, through a bounded channel.
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
                let (ec, layout, bucket, key) = (self.ec.clone(), l.clone(), obj.bucket.clone(), obj.key.clone());
                tokio::spawn(async move {
                    for (abs, r, pk) in segments {
                        let mut s = match ec.read(&layout, &bucket, &key, abs).await {
                            Ok(reader) => rustfs_sse::Decrypt::new(reader, &pk, &r),
                            Err(e) => {
                                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                                return;
                            }
                        };
                        while let Some(b) = s.next().await {
                            let failed = b.is_err();
                            if tx.send(b).await.is_err() || failed {
                                return;
                            }
                        }
                    }
                });
                Ok(StreamingBlob::wrap(futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|b| (b, rx))
                })))
            }
            ObjectData::None => Ok(crate::put::empty_blob()),
        }
    }

    pub(crate) async fn op_put_bucket_encryption(
        &self,
        req: S3Request<PutBucketEncryptionInput>,
    ) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
        let cx = auth::caller(&req)?;
        let rules = &req.input.server_side_encryption_configuration.rules;
        let [rule] = rules.as_slice() else {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        };
        let d = rule.apply_server_side_encryption_by_default.as_ref().ok_or_else(|| {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        })?;
        let kind = match d.sse_algorithm.as_str() {
            "AES256" if d.kms_master_key_id.is_none() => SseKind::S3,
            "AES256" => {
                return Err(s3_error!(
                    InvalidArgument,
                    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
                ));
            }
            "aws:kms" | "aws:kms:dsse" => SseKind::Kms,
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
        };
        let ring = self.keyring()?;
        if let Some(id) = &d.kms_master_key_id
            && ring.get(id).is_none()
        {
            return Err(kms_not_found(id));
        }
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        b.encryption = Some(BucketEncryption {
            kind,
            kms_key_id: d.kms_master_key_id.clone(),
            bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
        });
        self.meta.update_bucket(b).await.map_err(error::meta)?;
        Ok(S3Response::new(PutBucketEncryptionOutput {}))
    }

    pub(crate) async fn op_get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        let cx = auth::caller(&req)?;
        let b = self.owned_bucket(&cx, &req.input.bucket).await?;
        let e = b.encryption.ok_or_else(|| {
            s3_error!(
                ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found"
            )
        })?;
        let alg = if e.kind == SseKind::Kms { "aws:kms" } else { "AES256" };
        Ok(S3Response::new(GetBucketEncryptionOutput {
            server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration {
                rules: vec![ServerSideEncryptionRule {
                    apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
                        kms_master_key_id: e.kms_key_id,
                        sse_algorithm: ServerSideEncryption::from(alg.to_string()),
                    }),
                    bucket_key_enabled: Some(e.bucket_key_enabled),
                }],
            }),
        }))
    }

    pub(crate) async fn op_delete_bucket_encryption(
        &self,
        req: S3Request<DeleteBucketEncryptionInput>,
    ) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
        let cx = auth::caller(&req)?;
        let mut b = self.owned_bucket(&cx, &req.input.bucket).await?;
        if b.encryption.take().is_some() {
            self.meta.update_bucket(b).await.map_err(error::meta)?;
        }
        Ok(S3Response::new(DeleteBucketEncryptionOutput {}))
    }
}

/// The SSE response fields of a version or upload encrypted as `enc`.
pub struct Shown {
    pub sse: Option<ServerSideEncryption>,
    pub kms_key_id: Option<String>,
    pub customer_algorithm: Option<String>,
    pub customer_key_md5: Option<String>,
}

pub fn shown(enc: Option<&Encryption>) -> Shown {
    let Some(e) = enc else {
        return Shown { sse: None, kms_key_id: None, customer_algorithm: None, customer_key_md5: None };
    };
    match e.kind {
        SseKind::S3 => Shown {
            sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)),
            kms_key_id: None,
            customer_algorithm: None,
            customer_key_md5: None,
        },
        SseKind::Kms => Shown {
            sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS)),
            kms_key_id: Some(e.key_id.clone()),
            customer_algorithm: None,
            customer_key_md5: None,
        },
        SseKind::Customer => Shown {
            sse: None,
            kms_key_id: None,
            customer_algorithm: Some("AES256".into()),
            customer_key_md5: e.customer_key_md5.clone(),
        },
    }
}

/// Sets an output's SSE fields (`server_side_encryption`, `ssekms_key_id`, and the SSE-C
/// ones where the output has them).
macro_rules! set_sse {
    ($out:expr, $enc:expr) => {{
        let s = crate::sse::shown($enc);
        $out.server_side_encryption = s.sse;
        $out.ssekms_key_id = s.kms_key_id;
        $out.sse_customer_algorithm = s.customer_algorithm;
        $out.sse_customer_key_md5 = s.customer_key_md5;
    }};
    ($out:expr, $enc:expr, no_customer) => {{
        let s = crate::sse::shown($enc);
        $out.server_side_encryption = s.sse;
        $out.ssekms_key_id = s.kms_key_id;
    }};
}
pub(crate) use set_sse;

/// [`customer_key`] of an input's SSE-C headers, or (`copy_source`) of its copy source's.
macro_rules! customer_key_of {
    ($i:expr) => {
        crate::sse::customer_key(
            $i.sse_customer_algorithm.as_deref(),
            $i.sse_customer_key.as_deref(),
            $i.sse_customer_key_md5.as_deref(),
        )
    };
    (copy_source $i:expr) => {
        crate::sse::customer_key(
            $i.copy_source_sse_customer_algorithm.as_deref(),
            $i.copy_source_sse_customer_key.as_deref(),
            $i.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}
pub(crate) use customer_key_of;

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T>(r: S3Result<T>) -> Option<String> {
        r.err().map(|e| e.code().as_str().to_string())
    }

    #[test]
    fn customer_key_checks() {
        let key = [5u8; 32];
        let k = B64.encode(key);
        let md5 = B64.encode(<md5::Md5 as md5::Digest>::digest(key));
        assert!(customer_key(Some("AES256"), Some(&k), Some(&md5)).is_ok_and(|c| c.is_some()));
        assert!(customer_key(None, None, None).is_ok_and(|c| c.is_none()));
        assert_eq!(
            code(customer_key(Some("AES128"), Some(&k), Some(&md5))).as_deref(),
            Some("InvalidEncryptionAlgorithmError")
        );
        assert_eq!(
            code(customer_key(Some("AES256"), Some(&B64.encode([1u8; 16])), Some(&md5))).as_deref(),
            Some("InvalidArgument")
        );
        assert_eq!(code(customer_key(Some("AES256"), Some(&k), Some("AAAA"))).as_deref(), Some("InvalidArgument"));
        assert_eq!(code(customer_key(Some("AES256"), Some(&k), None)).as_deref(), Some("InvalidArgument"));
        assert_eq!(code(customer_key(None, Some(&k), Some(&md5))).as_deref(), Some("InvalidArgument"));
    }

    #[test]
    fn asked_headers() {
        let aes = ServerSideEncryption::from_static(ServerSideEncryption::AES256);
        let kms = ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS);
        assert!(matches!(asked(None, None, None, None), Ok(Asked::Default)));
        assert!(matches!(asked(Some(&aes), None, None, None), Ok(Asked::S3)));
        assert!(matches!(asked(Some(&kms), Some("k"), None, None), Ok(Asked::Kms { key_id: Some(_), .. })));
        assert_eq!(code(asked(Some(&aes), Some("k"), None, None)).as_deref(), Some("InvalidArgument"));
        assert_eq!(code(asked(None, Some("k"), None, None)).as_deref(), Some("InvalidArgument"));
        let c = CustomerKey { key: [0; 32], md5: String::new() };
        assert_eq!(code(asked(Some(&aes), None, None, Some(c))).as_deref(), Some("InvalidArgument"));
        let other = ServerSideEncryption::from("rot13".to_string());
        assert_eq!(code(asked(Some(&other), None, None, None)).as_deref(), Some("InvalidArgument"));
    }
}

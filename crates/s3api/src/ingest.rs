//! Taking object bytes in: small bodies are buffered (up to the inline threshold) and kept
//! in the metadata value; larger ones stream through the erasure writer. Used by PUT,
//! UploadPart, CopyObject and UploadPartCopy. Nothing written here is visible until the
//! caller commits metadata; on any error the caller's data is removed.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use metadata::{ErasureLayout, ObjectData};
use s3s::S3Result;

use crate::S3Api;
use crate::error;
use ecstore::{StoreError, Written};

pub(crate) struct Ingested {
    pub data: ObjectData,
    pub size: u64,
    /// Set when some shards could not be written: the object needs heal once committed.
    pub degraded: bool,
}

pub(crate) struct Target<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// The layout to write into when the body is not inlined (its set and data dir).
    pub layout: &'a ErasureLayout,
    pub file: &'a str,
    pub max_size: u64,
    /// Whether a small body may be inlined (not for multipart parts).
    pub inline: bool,
    /// Declared size, if known.
    pub declared: Option<u64>,
}

impl S3Api {
    pub(crate) async fn ingest<S>(&self, t: Target<'_>, mut body: S) -> S3Result<Ingested>
    where
        S: Stream<Item = Result<Bytes, StoreError>> + Unpin + Send,
    {
        let threshold = self.cfg.inline_threshold as u64;
        let mut head = BytesMut::new();
        let may_inline = t.inline && t.declared.is_none_or(|d| d <= threshold);
        if may_inline {
            // Buffer at most threshold + 1 bytes to learn whether the body fits inline.
            loop {
                match body.next().await {
                    Some(Ok(b)) => {
                        head.extend_from_slice(&b);
                        if head.len() as u64 > threshold {
                            break;
                        }
                    }
                    Some(Err(e)) => return Err(error::store(e)),
                    None => {
                        let size = head.len() as u64;
                        return Ok(Ingested { data: ObjectData::Inline(head.to_vec()), size, degraded: false });
                    }
                }
            }
        }
        let head = head.freeze();
        let stream = futures::stream::iter((!head.is_empty()).then_some(Ok(head))).chain(body);
        let written: Written = self
            .ec
            .write_part(t.layout, t.bucket, t.key, t.file, Box::pin(stream), t.max_size)
            .await
            .map_err(error::store)?;
        let mut layout = t.layout.clone();
        layout.parts.clear();
        Ok(Ingested { data: ObjectData::Erasure(layout), size: written.size, degraded: written.degraded() })
    }
}

//! A cluster node's DualTrack `MetadataStore`: every call runs on the node that coordinates
//! the migration (the metadata group's leader, whose `DualTrack` gate is open), so the
//! per-key locks, the barrier and the shadow queue of one process serialise every client
//! write, shadow copy, migrator and validator step of the cluster. Object data never goes
//! through here: shards are written and read by the node the client talks to.
//!
//! A call goes to the coordinator as one message (format 1: a format byte, then MessagePack
//! of `Call`); its answer is the `Result` the coordinator's `DualTrack` returned. While the
//! coordinator moves (an election, a handover), a call the coordinator refused before doing
//! anything (`NotCoordinator`) or that never reached it is asked again, up to a bound. A
//! write whose message may have reached it but whose answer was lost is never asked again
//! (it may have been done): it fails with `CommitUnknown`, so nothing it references is freed.
//!
//! Once the migration is complete the KV alone holds the metadata: calls then run on this
//! node's KV store directly.
//!
//! This module must never retry a write that may have been applied.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::router::DualTrack;
use crate::error::{MetaError, Result};
use crate::model::{BucketInfo, MultipartUpload, ObjectVersion, UploadedPart};
use crate::store::{CompleteOutcome, ListPage, ListQuery, MetadataStore, PutCondition, UploadQuery, VersionQuery};

/// Format byte of a forwarded call and of its answer.
pub const FORMAT: u8 = 1;

/// One `MetadataStore` call, as it crosses to the coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Call {
    CreateBucket(BucketInfo),
    GetBucket(String),
    UpdateBucket(BucketInfo),
    DeleteBucket(String),
    ListBuckets,
    GetObject { bucket: String, key: String, version_id: Option<String> },
    PutObject(Box<ObjectVersion>, PutCondition),
    DeleteVersion { bucket: String, key: String, version_id: String },
    UpdateVersion { bucket: String, key: String, version_id: String, change: crate::model::VersionUpdate },
    ListObjects { bucket: String, q: ListQuery },
    ListVersions { bucket: String, q: VersionQuery },
    CreateUpload(MultipartUpload),
    GetUpload { bucket: String, key: String, upload_id: String },
    PutPart(MultipartUpload, UploadedPart),
    ListParts { upload_id: String, after: u32, max: usize },
    ListUploads { bucket: String, q: UploadQuery },
    CompleteUpload { upload: MultipartUpload, obj: Box<ObjectVersion>, used: Vec<UploadedPart>, cond: PutCondition },
    AbortUpload(MultipartUpload),
    KeyVersions { bucket: String, key: String },
    ReplaceKey { bucket: String, key: String, versions: Vec<ObjectVersion> },
    KeysAfter { bucket: String, after: Option<String>, limit: usize },
    AllBucketIds,
}

impl Call {
    /// Whether the call changes metadata (doing it twice could differ from doing it once).
    fn writes(&self) -> bool {
        !matches!(
            self,
            Call::GetBucket(_)
                | Call::ListBuckets
                | Call::GetObject { .. }
                | Call::ListObjects { .. }
                | Call::ListVersions { .. }
                | Call::GetUpload { .. }
                | Call::ListParts { .. }
                | Call::ListUploads { .. }
                | Call::KeyVersions { .. }
                | Call::KeysAfter { .. }
                | Call::AllBucketIds
        )
    }
}

/// What a call returned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    Unit,
    Bucket(BucketInfo),
    Buckets(Vec<BucketInfo>),
    Object(Box<ObjectVersion>),
    Versions(Vec<ObjectVersion>),
    Removed(Option<Box<ObjectVersion>>),
    Page(ListPage<ObjectVersion>),
    Upload(MultipartUpload),
    Replaced(Option<UploadedPart>),
    Parts(Vec<UploadedPart>),
    Uploads(ListPage<MultipartUpload>),
    Completed(CompleteOutcome),
    Names(Vec<String>),
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![FORMAT];
    // Plain data into a Vec: cannot fail.
    rmp_serde::encode::write_named(&mut out, v).unwrap_or_default();
    out
}

pub fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T> {
    match raw.first() {
        Some(&FORMAT) => rmp_serde::from_slice(&raw[1..])
            .map_err(|e| MetaError::Corrupt { key: "<forwarded call>".into(), reason: e.to_string() }),
        Some(&v) => Err(MetaError::UnsupportedFormat(v)),
        None => Err(MetaError::Corrupt { key: "<forwarded call>".into(), reason: "empty".into() }),
    }
}

/// Runs one call on `store` (the coordinator's `DualTrack`).
pub async fn dispatch(store: &dyn MetadataStore, call: Call) -> Result<Answer> {
    Ok(match call {
        Call::CreateBucket(b) => store.create_bucket(b).await.map(|()| Answer::Unit)?,
        Call::GetBucket(n) => Answer::Bucket(store.get_bucket(&n).await?),
        Call::UpdateBucket(b) => store.update_bucket(b).await.map(|()| Answer::Unit)?,
        Call::DeleteBucket(n) => store.delete_bucket(&n).await.map(|()| Answer::Unit)?,
        Call::ListBuckets => Answer::Buckets(store.list_buckets().await?),
        Call::GetObject { bucket, key, version_id } => {
            Answer::Object(Box::new(store.get_object(&bucket, &key, version_id.as_deref()).await?))
        }
        Call::PutObject(o, c) => Answer::Versions(store.put_object(*o, c).await?),
        Call::UpdateVersion { bucket, key, version_id, change } => {
            Answer::Object(Box::new(store.update_version(&bucket, &key, &version_id, &change).await?))
        }
        Call::DeleteVersion { bucket, key, version_id } => {
            Answer::Removed(store.delete_version(&bucket, &key, &version_id).await?.map(Box::new))
        }
        Call::ListObjects { bucket, q } => Answer::Page(store.list_objects(&bucket, &q).await?),
        Call::ListVersions { bucket, q } => Answer::Page(store.list_versions(&bucket, &q).await?),
        Call::CreateUpload(u) => store.create_upload(u).await.map(|()| Answer::Unit)?,
        Call::GetUpload { bucket, key, upload_id } => {
            Answer::Upload(store.get_upload(&bucket, &key, &upload_id).await?)
        }
        Call::PutPart(u, p) => Answer::Replaced(store.put_part(&u, p).await?),
        Call::ListParts { upload_id, after, max } => Answer::Parts(store.list_parts(&upload_id, after, max).await?),
        Call::ListUploads { bucket, q } => Answer::Uploads(store.list_uploads(&bucket, &q).await?),
        Call::CompleteUpload { upload, obj, used, cond } => {
            Answer::Completed(store.complete_upload(&upload, *obj, &used, cond).await?)
        }
        Call::AbortUpload(u) => Answer::Parts(store.abort_upload(&u).await?),
        Call::KeyVersions { bucket, key } => Answer::Versions(store.key_versions(&bucket, &key).await?),
        Call::ReplaceKey { bucket, key, versions } => {
            store.replace_key(&bucket, &key, versions).await.map(|()| Answer::Unit)?
        }
        Call::KeysAfter { bucket, after, limit } => {
            Answer::Names(store.keys_after(&bucket, after.as_deref(), limit).await?)
        }
        Call::AllBucketIds => Answer::Names(store.all_bucket_ids().await?),
    })
}

/// Answers one encoded call from another node (the coordinator's side).
pub async fn serve(store: &dyn MetadataStore, raw: &[u8]) -> Vec<u8> {
    let res: Result<Answer> = match decode::<Call>(raw) {
        Ok(call) => dispatch(store, call).await,
        Err(e) => Err(e),
    };
    encode(&res)
}

/// Why a call to another node failed.
#[derive(Debug, Clone)]
pub enum LinkError {
    /// It never reached the node (no connection): it was not done.
    NotSent(String),
    /// It may have reached the node: it may have been done.
    Lost(String),
}

/// How a node reaches the coordinator.
#[async_trait]
pub trait Link: Send + Sync + 'static {
    /// The coordinating node as this node knows it (the metadata leader), and whether it is
    /// this node; `None` while no leader is known.
    fn coordinator(&self) -> Option<(u64, bool)>;
    /// Sends an encoded `Call` to node `node`; its encoded answer.
    async fn call(&self, node: u64, body: Vec<u8>) -> std::result::Result<Vec<u8>, LinkError>;
}

/// The `MetadataStore` of a cluster node running DualTrack (see the module documentation).
pub struct Forwarded {
    local: Arc<DualTrack>,
    link: Arc<dyn Link>,
    /// How long a call waits for a coordinator to answer.
    wait: Duration,
}

impl Forwarded {
    pub fn new(local: Arc<DualTrack>, link: Arc<dyn Link>, wait: Duration) -> Self {
        Self { local, link, wait }
    }

    async fn run(&self, call: Call) -> Result<Answer> {
        // Once complete (final), every operation is the KV's alone and the KV serialises
        // them itself: no coordinator is needed.
        if self.local.state().phase == super::state::Phase::Complete {
            return dispatch(self.local.kv_store().as_ref(), call).await;
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut last = String::from("no metadata leader known");
        loop {
            let res = match self.link.coordinator() {
                None => None,
                Some((_, true)) => match dispatch(self.local.as_ref(), call.clone()).await {
                    Err(MetaError::NotCoordinator(why)) => {
                        last = why;
                        None
                    }
                    r => Some(r),
                },
                Some((node, false)) => match self.link.call(node, encode(&call)).await {
                    Ok(raw) => match decode::<Result<Answer>>(&raw) {
                        Ok(Err(MetaError::NotCoordinator(why))) => {
                            last = format!("node {node}: {why}");
                            None
                        }
                        Ok(r) => Some(r),
                        Err(e) if call.writes() => Some(Err(MetaError::CommitUnknown(format!("node {node}: {e}")))),
                        Err(e) => {
                            last = e.to_string();
                            None
                        }
                    },
                    Err(LinkError::NotSent(why)) => {
                        last = format!("node {node}: {why}");
                        None
                    }
                    Err(LinkError::Lost(why)) if call.writes() => Some(Err(MetaError::CommitUnknown(format!(
                        "the coordinator (node {node}) did not answer: {why}"
                    )))),
                    Err(LinkError::Lost(why)) => {
                        last = format!("node {node}: {why}");
                        None
                    }
                },
            };
            if let Some(r) = res {
                return r;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MetaError::NoLeader(format!("no DualTrack coordinator answered: {last}")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn unexpected(a: Answer) -> MetaError {
    MetaError::Backend(format!("the coordinator answered {a:?} to another call"))
}

#[async_trait]
impl MetadataStore for Forwarded {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        match self.run(Call::CreateBucket(info)).await? {
            Answer::Unit => Ok(()),
            a => Err(unexpected(a)),
        }
    }

    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        match self.run(Call::GetBucket(name.into())).await? {
            Answer::Bucket(b) => Ok(b),
            a => Err(unexpected(a)),
        }
    }

    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        match self.run(Call::UpdateBucket(info)).await? {
            Answer::Unit => Ok(()),
            a => Err(unexpected(a)),
        }
    }

    async fn delete_bucket(&self, name: &str) -> Result<()> {
        match self.run(Call::DeleteBucket(name.into())).await? {
            Answer::Unit => Ok(()),
            a => Err(unexpected(a)),
        }
    }

    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        match self.run(Call::ListBuckets).await? {
            Answer::Buckets(b) => Ok(b),
            a => Err(unexpected(a)),
        }
    }

    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        let call = Call::GetObject { bucket: bucket.into(), key: key.into(), version_id: version_id.map(Into::into) };
        match self.run(call).await? {
            Answer::Object(o) => Ok(*o),
            a => Err(unexpected(a)),
        }
    }

    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        match self.run(Call::PutObject(Box::new(obj), cond)).await? {
            Answer::Versions(v) => Ok(v),
            a => Err(unexpected(a)),
        }
    }

    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        let call = Call::DeleteVersion { bucket: bucket.into(), key: key.into(), version_id: version_id.into() };
        match self.run(call).await? {
            Answer::Removed(v) => Ok(v.map(|b| *b)),
            a => Err(unexpected(a)),
        }
    }

    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &crate::model::VersionUpdate,
    ) -> Result<ObjectVersion> {
        let call = Call::UpdateVersion {
            bucket: bucket.into(),
            key: key.into(),
            version_id: version_id.into(),
            change: change.clone(),
        };
        match self.run(call).await? {
            Answer::Object(v) => Ok(*v),
            a => Err(unexpected(a)),
        }
    }

    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        match self.run(Call::ListObjects { bucket: bucket.into(), q: q.clone() }).await? {
            Answer::Page(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        match self.run(Call::ListVersions { bucket: bucket.into(), q: q.clone() }).await? {
            Answer::Page(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        match self.run(Call::CreateUpload(upload)).await? {
            Answer::Unit => Ok(()),
            a => Err(unexpected(a)),
        }
    }

    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        let call = Call::GetUpload { bucket: bucket.into(), key: key.into(), upload_id: upload_id.into() };
        match self.run(call).await? {
            Answer::Upload(u) => Ok(u),
            a => Err(unexpected(a)),
        }
    }

    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        match self.run(Call::PutPart(upload.clone(), part)).await? {
            Answer::Replaced(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        match self.run(Call::ListParts { upload_id: upload_id.into(), after, max }).await? {
            Answer::Parts(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        match self.run(Call::ListUploads { bucket: bucket.into(), q: q.clone() }).await? {
            Answer::Uploads(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        let call = Call::CompleteUpload { upload: upload.clone(), obj: Box::new(obj), used: used.to_vec(), cond };
        match self.run(call).await? {
            Answer::Completed(c) => Ok(c),
            a => Err(unexpected(a)),
        }
    }

    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        match self.run(Call::AbortUpload(upload.clone())).await? {
            Answer::Parts(p) => Ok(p),
            a => Err(unexpected(a)),
        }
    }

    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        match self.run(Call::KeyVersions { bucket: bucket.into(), key: key.into() }).await? {
            Answer::Versions(v) => Ok(v),
            a => Err(unexpected(a)),
        }
    }

    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        match self.run(Call::ReplaceKey { bucket: bucket.into(), key: key.into(), versions }).await? {
            Answer::Unit => Ok(()),
            a => Err(unexpected(a)),
        }
    }

    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        match self.run(Call::KeysAfter { bucket: bucket.into(), after: after.map(Into::into), limit }).await? {
            Answer::Names(n) => Ok(n),
            a => Err(unexpected(a)),
        }
    }

    /// The coordinator recovers when it takes over (`DualTrack::take_over`).
    async fn recover(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        match self.run(Call::AllBucketIds).await? {
            Answer::Names(n) => Ok(n),
            a => Err(unexpected(a)),
        }
    }

    fn keyed_data(&self) -> bool {
        self.local.keyed_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_answers_round_trip_and_garbage_is_refused() {
        let call = Call::ListObjects {
            bucket: "b".into(),
            q: ListQuery { prefix: "p/".into(), delimiter: Some("/".into()), after: None, max_keys: 7 },
        };
        let back: Call = decode(&encode(&call)).unwrap();
        assert!(matches!(back, Call::ListObjects { ref bucket, ref q } if bucket == "b" && q.max_keys == 7));
        let ans: Result<Answer> = Err(MetaError::NoSuchKey { bucket: "b".into(), key: "k".into() });
        let back: Result<Answer> = decode(&encode(&ans)).unwrap();
        assert!(matches!(back, Err(MetaError::NoSuchKey { .. })));
        assert!(decode::<Call>(&[9, 1]).is_err());
        assert!(decode::<Call>(&[FORMAT, 0xc1]).is_err());
        assert!(decode::<Call>(&[]).is_err());
        assert!(Call::PutObject(Box::new(obj()), PutCondition::None).writes());
        assert!(!Call::ListBuckets.writes());
    }

    fn obj() -> ObjectVersion {
        ObjectVersion {
            bucket: "b".into(),
            key: "k".into(),
            version_id: "null".into(),
            delete_marker: false,
            size: 3,
            etag: "e".into(),
            mtime_ns: 1,
            content_type: None,
            headers: Default::default(),
            user_meta: Default::default(),
            checksums: Default::default(),
            data: crate::ObjectData::Inline(vec![1, 2, 3]),
            acl: None,
            tags: Default::default(),
            retention: None,
            legal_hold: false,
            sse: None,
        }
    }
}

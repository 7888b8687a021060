//! Test support: an S3Api over real drive folders and a real surrealkv, called in process
//! the way s3s calls it, and `Gate`, a pass-through around the real metadata store that can
//! hold one kind of call until the test releases it (to open a race window on purpose).

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ecstore::EcStore;
use futures::StreamExt;
use metadata::{
    BucketInfo, CompleteOutcome, KvStore, ListPage, ListQuery, LocalKv, MetadataStore, MultipartUpload, ObjectVersion,
    PutCondition, Result, UploadQuery, UploadedPart, VersionQuery,
};
use rustfs_s3api::{ApiConfig, S3Api};
use s3s::dto;
use s3s::{S3, S3Request};
use tokio::sync::Notify;

pub const ROOT: &str = "root-user";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub ec: Arc<EcStore>,
    pub kv: Arc<LocalKv>,
    pub store: Arc<KvStore>,
    pub gate: Arc<Gate>,
    pub api: S3Api,
    /// Runs the store's background workers (heal queue, deferred frees) while the env lives.
    pub runner: Arc<metadata::background::Runner>,
}

/// An S3Api whose metadata goes through a `Gate` over the KV track; replaced data is freed
/// after `free_delay`.
pub async fn env(free_delay: Duration) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (1..=12).map(|i| dir.path().join(format!("drive{i}"))).collect();
    let ec = Arc::new(EcStore::open_with(&paths, 1 << 20, free_delay, Duration::from_secs(10)).unwrap());
    let runner = metadata::background::Runner::new(Arc::new(|| true));
    ec.start_workers(&runner);
    let kv = Arc::new(LocalKv::open(&dir.path().join("meta")).unwrap());
    let store = Arc::new(KvStore::new(kv.clone()));
    // As the server does at start: the store takes this build's format (and its layout).
    store.recover().await.unwrap();
    let gate = Arc::new(Gate::new(store.clone()));
    let users =
        [rustfs_s3api::User { access_key: ROOT.into(), secret_key: "unused-secret".into(), display_name: ROOT.into() }];
    let iam = Arc::new(rustfs_s3api::iam::Iam::new(kv.clone(), b"test seed", &users));
    let authz = Arc::new(rustfs_s3api::authz::Authz::new(gate.clone(), iam));
    let api = S3Api::new(ec.clone(), gate.clone(), ApiConfig::default(), authz);
    Env { dir, ec, kv, store, gate, api, runner }
}

pub fn req<T>(input: T) -> S3Request<T> {
    S3Request {
        input,
        method: http::Method::GET,
        uri: http::Uri::from_static("/"),
        headers: http::HeaderMap::new(),
        extensions: {
            // What the access check leaves for handlers: the root caller.
            let mut e = http::Extensions::new();
            let id = rustfs_s3api::iam::Identity::bare(ROOT, rustfs_s3api::iam::Kind::Root);
            e.insert(rustfs_s3api::authz::Caller { identity: Some(Arc::new(id)), cx: Arc::default() });
            e
        },
        credentials: Some(s3s::auth::Credentials { access_key: ROOT.into(), secret_key: "unused-secret".into() }),
        region: None,
        service: None,
        trailing_headers: None,
    }
}

pub fn blob(b: &[u8]) -> dto::StreamingBlob {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        b.chunks(256 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    dto::StreamingBlob::wrap(futures::stream::iter(chunks))
}

pub fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(7919) >> 3) as u8 ^ seed).collect()
}

impl Env {
    pub async fn create_bucket(&self, name: &str) {
        let input = dto::CreateBucketInput::builder().bucket(name.into()).build().unwrap();
        self.api.create_bucket(req(input)).await.unwrap();
    }

    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> s3s::S3Result<dto::PutObjectOutput> {
        let input = dto::PutObjectInput::builder()
            .bucket(bucket.into())
            .key(key.into())
            .content_length(Some(body.len() as i64))
            .body(Some(blob(body)))
            .build()
            .unwrap();
        self.api.put_object(req(input)).await.map(|r| r.output)
    }

    /// Opens a GET and returns its body stream.
    pub async fn get_stream(&self, bucket: &str, key: &str) -> s3s::S3Result<dto::StreamingBlob> {
        let input = dto::GetObjectInput::builder().bucket(bucket.into()).key(key.into()).build().unwrap();
        let out = self.api.get_object(req(input)).await?.output;
        Ok(out.body.unwrap())
    }

    pub async fn get(&self, bucket: &str, key: &str) -> std::result::Result<Vec<u8>, String> {
        let mut body = self.get_stream(bucket, key).await.map_err(|e| format!("{e:?}"))?;
        let mut out = Vec::new();
        while let Some(c) = body.next().await {
            out.extend_from_slice(&c.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    pub async fn create_upload(&self, bucket: &str, key: &str) -> String {
        let input = dto::CreateMultipartUploadInput::builder().bucket(bucket.into()).key(key.into()).build().unwrap();
        self.api.create_multipart_upload(req(input)).await.unwrap().output.upload_id.unwrap()
    }

    pub async fn upload_part(&self, bucket: &str, key: &str, id: &str, n: i32, body: &[u8]) -> String {
        let input = dto::UploadPartInput::builder()
            .bucket(bucket.into())
            .key(key.into())
            .upload_id(id.into())
            .part_number(n)
            .content_length(Some(body.len() as i64))
            .body(Some(blob(body)))
            .build()
            .unwrap();
        self.api.upload_part(req(input)).await.unwrap().output.e_tag.unwrap().value().to_string()
    }

    /// Completes with the given part numbers (no ETags: whatever each part is now).
    pub async fn complete(&self, bucket: &str, key: &str, id: &str, parts: &[i32]) -> s3s::S3Result<()> {
        let parts = parts.iter().map(|n| dto::CompletedPart { part_number: Some(*n), ..Default::default() }).collect();
        let input = dto::CompleteMultipartUploadInput::builder()
            .bucket(bucket.into())
            .key(key.into())
            .upload_id(id.into())
            .multipart_upload(Some(dto::CompletedMultipartUpload { parts: Some(parts) }))
            .build()
            .unwrap();
        self.api.complete_multipart_upload(req(input)).await.map(|_| ())
    }
}

/// Which calls a `Gate` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    None,
    CompleteUpload,
    /// The first listing of the second kind a scan makes (uploads after versions, or
    /// versions after uploads): the window between the two scans of garbage collection.
    SecondScan,
}

/// A pass-through around the real store that can hold one call until released.
pub struct Gate {
    inner: Arc<dyn MetadataStore>,
    hold: std::sync::Mutex<Hold>,
    first_scan: std::sync::Mutex<Option<&'static str>>,
    /// Signalled when a held call arrives.
    pub arrived: Notify,
    release: Notify,
    released: AtomicBool,
}

impl Gate {
    pub fn new(inner: Arc<dyn MetadataStore>) -> Self {
        Self {
            inner,
            hold: std::sync::Mutex::new(Hold::None),
            first_scan: std::sync::Mutex::new(None),
            arrived: Notify::new(),
            release: Notify::new(),
            released: AtomicBool::new(false),
        }
    }

    pub fn hold(&self, h: Hold) {
        *self.hold.lock().unwrap() = h;
        *self.first_scan.lock().unwrap() = None;
        self.released.store(false, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        *self.hold.lock().unwrap() = Hold::None;
        self.release.notify_waiters();
    }

    async fn wait_if(&self, this: Hold) {
        if *self.hold.lock().unwrap() != this {
            return;
        }
        self.arrived.notify_one();
        while !self.released.load(Ordering::SeqCst) {
            let n = self.release.notified();
            if self.released.load(Ordering::SeqCst) {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), n).await;
        }
    }

    async fn scan(&self, kind: &'static str) {
        let second = {
            let mut f = self.first_scan.lock().unwrap();
            match *f {
                None => {
                    *f = Some(kind);
                    false
                }
                Some(k) => k != kind,
            }
        };
        if second {
            self.wait_if(Hold::SecondScan).await;
        }
    }
}

#[async_trait]
impl MetadataStore for Gate {
    async fn create_bucket(&self, info: BucketInfo) -> Result<()> {
        self.inner.create_bucket(info).await
    }
    async fn get_bucket(&self, name: &str) -> Result<BucketInfo> {
        self.inner.get_bucket(name).await
    }
    async fn update_bucket(&self, info: BucketInfo) -> Result<()> {
        self.inner.update_bucket(info).await
    }
    async fn delete_bucket(&self, name: &str) -> Result<()> {
        self.inner.delete_bucket(name).await
    }
    async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        self.inner.list_buckets().await
    }
    async fn get_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectVersion> {
        self.inner.get_object(bucket, key, version_id).await
    }
    async fn put_object(&self, obj: ObjectVersion, cond: PutCondition) -> Result<Vec<ObjectVersion>> {
        self.inner.put_object(obj, cond).await
    }
    async fn delete_version(&self, bucket: &str, key: &str, version_id: &str) -> Result<Option<ObjectVersion>> {
        self.inner.delete_version(bucket, key, version_id).await
    }
    async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        change: &metadata::VersionUpdate,
    ) -> Result<ObjectVersion> {
        self.inner.update_version(bucket, key, version_id, change).await
    }
    async fn list_objects(&self, bucket: &str, q: &ListQuery) -> Result<ListPage<ObjectVersion>> {
        self.inner.list_objects(bucket, q).await
    }
    async fn list_versions(&self, bucket: &str, q: &VersionQuery) -> Result<ListPage<ObjectVersion>> {
        self.scan("versions").await;
        self.inner.list_versions(bucket, q).await
    }
    async fn create_upload(&self, upload: MultipartUpload) -> Result<()> {
        self.inner.create_upload(upload).await
    }
    async fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<MultipartUpload> {
        self.inner.get_upload(bucket, key, upload_id).await
    }
    async fn put_part(&self, upload: &MultipartUpload, part: UploadedPart) -> Result<Option<UploadedPart>> {
        self.inner.put_part(upload, part).await
    }
    async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> Result<Vec<UploadedPart>> {
        self.inner.list_parts(upload_id, after, max).await
    }
    async fn list_uploads(&self, bucket: &str, q: &UploadQuery) -> Result<ListPage<MultipartUpload>> {
        self.scan("uploads").await;
        self.inner.list_uploads(bucket, q).await
    }
    async fn complete_upload(
        &self,
        upload: &MultipartUpload,
        obj: ObjectVersion,
        used: &[UploadedPart],
        cond: PutCondition,
    ) -> Result<CompleteOutcome> {
        self.wait_if(Hold::CompleteUpload).await;
        self.inner.complete_upload(upload, obj, used, cond).await
    }
    async fn abort_upload(&self, upload: &MultipartUpload) -> Result<Vec<UploadedPart>> {
        self.inner.abort_upload(upload).await
    }
    async fn key_versions(&self, bucket: &str, key: &str) -> Result<Vec<ObjectVersion>> {
        self.scan("versions").await;
        self.inner.key_versions(bucket, key).await
    }
    async fn replace_key(&self, bucket: &str, key: &str, versions: Vec<ObjectVersion>) -> Result<()> {
        self.inner.replace_key(bucket, key, versions).await
    }
    async fn keys_after(&self, bucket: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        self.inner.keys_after(bucket, after, limit).await
    }
    async fn recover(&self) -> Result<Vec<String>> {
        self.inner.recover().await
    }
    async fn all_bucket_ids(&self) -> Result<Vec<String>> {
        self.inner.all_bucket_ids().await
    }
    fn keyed_data(&self) -> bool {
        self.inner.keyed_data()
    }
}

//! Who a request is: the root user and the YAML `users:` (from the configuration), and the
//! users, access keys, groups and policies managed at runtime (kept in the metadata KV by
//! `metadata::iam`, so a cluster shares them). Secrets are sealed (AES-256-GCM under a key
//! derived from the server's IAM seed) before they reach the KV and unsealed only to verify a
//! signature. Each node keeps the records in memory and reloads them when the KV's IAM
//! version moves (checked at most every `REFRESH` and on a miss), so a new key works at
//! once and a removed or disabled one stops within that interval on other nodes (at once on
//! the node that made the change).
//!
//! This module never logs or returns a secret except to s3s's signature check and to the
//! admin caller that just created it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use access::Policy;
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use metadata::iam::{IamGroup, IamKey, IamPolicy, IamSnapshot, IamStore, IamUser};
use metadata::{Kv, MetaError};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::auth::User;

/// How stale a node's view of IAM may be.
const REFRESH: Duration = Duration::from_secs(1);
const NONCE: usize = 12;
/// User names and access keys: AWS's characters for user names, 3 to 64 long (MinIO's
/// access key length bounds), so a name can be an access key.
const NAME_MIN: usize = 3;
const NAME_MAX: usize = 64;
/// Secret keys: 8 to 64 characters (MinIO's bounds).
const SECRET_MIN: usize = 8;
const SECRET_MAX: usize = 64;

/// What kind of user a request comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The configuration's root user: allowed everything (as MinIO's root).
    Root,
    /// A user of the YAML `users:` list.
    Configured,
    /// A user managed at runtime.
    Managed,
}

/// One access key's user, with the identity policies that apply to it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub kind: Kind,
    pub enabled: bool,
    pub groups: Vec<String>,
    /// The user's and its groups' policies, parsed.
    pub policies: Vec<Arc<Policy>>,
    secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

impl Identity {
    /// A user without policies or secret (a caller made by the server itself, e.g. for tests
    /// that call handlers directly).
    pub fn bare(user: &str, kind: Kind) -> Self {
        Self { user: user.into(), kind, enabled: true, groups: Vec::new(), policies: Vec::new(), secret: String::new() }
    }

    /// The secret of the access key this identity was found by: only to verify a signature.
    pub fn signing_secret(&self) -> &str {
        &self.secret
    }
}

/// s3s's secret lookup over [`Iam`].
pub struct IamAuth(pub Arc<Iam>);

#[async_trait::async_trait]
impl S3Auth for IamAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0.get_secret_key(access_key).await
    }
}

/// Seals and unseals secrets.
struct Sealer(Aes256Gcm);

impl Sealer {
    /// A key derived from `seed` (HKDF-SHA256, a label of its own).
    fn new(seed: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"rustfs-iam-seal-v1"), seed);
        let mut key = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = hk.expand(b"secret keys", &mut key);
        Self(Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)))
    }

    fn seal(&self, secret: &str) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        let mut out = nonce.to_vec();
        out.extend(self.0.encrypt(&Nonce::from(nonce), secret.as_bytes()).unwrap_or_default());
        out
    }

    fn unseal(&self, sealed: &[u8]) -> Option<String> {
        if sealed.len() <= NONCE {
            return None;
        }
        let nonce: [u8; NONCE] = sealed[..NONCE].try_into().ok()?;
        let plain = self.0.decrypt(&Nonce::from(nonce), &sealed[NONCE..]).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[derive(Default)]
struct Cache {
    version: u64,
    checked: Option<Instant>,
    by_key: HashMap<String, Arc<Identity>>,
    snapshot: IamSnapshot,
}

/// The server's users (see the module documentation).
pub struct Iam {
    store: IamStore<dyn Kv>,
    sealer: Sealer,
    configured: HashMap<String, Arc<Identity>>,
    cache: RwLock<Cache>,
    refreshing: tokio::sync::Mutex<()>,
}

/// Checks a user name or access key: letters, digits and `+=,.@_-`, 3 to 64 long.
pub fn check_name(what: &str, n: &str) -> Result<(), IamError> {
    let ok = (NAME_MIN..=NAME_MAX).contains(&n.len())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IamError::Invalid(format!(
            "{what} {n:?}: {NAME_MIN} to {NAME_MAX} letters, digits or any of + = , . @ _ -"
        )))
    }
}

fn check_secret(s: &str) -> Result<(), IamError> {
    if (SECRET_MIN..=SECRET_MAX).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(IamError::Invalid(format!("a secret key has {SECRET_MIN} to {SECRET_MAX} printable characters")))
    }
}

/// A random key of `n` characters from `alphabet`.
fn random_string(n: usize, alphabet: &[u8]) -> String {
    (0..n).map(|_| alphabet[rand::random_range(0..alphabet.len())] as char).collect()
}

/// A new access key (20 upper-case letters and digits, as AWS's) and secret (40 characters).
pub fn new_credentials() -> (String, String) {
    let key = random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    let secret = random_string(40, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    (key, secret)
}

fn now_ns() -> i64 {
    metadata::clock::now_ns()
}

impl Iam {
    /// `configured`: the root user first, then the YAML users; `seed`: what the sealing key
    /// is derived from (the cluster secret, or the node's key file).
    pub fn new(kv: Arc<dyn Kv>, seed: &[u8], configured: &[User]) -> Self {
        let configured = configured
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let id = Identity {
                    user: u.access_key.clone(),
                    kind: if i == 0 { Kind::Root } else { Kind::Configured },
                    enabled: true,
                    groups: Vec::new(),
                    policies: Vec::new(),
                    secret: u.secret_key.clone(),
                };
                (u.access_key.clone(), Arc::new(id))
            })
            .collect();
        Self {
            store: IamStore::new(kv),
            sealer: Sealer::new(seed),
            configured,
            cache: RwLock::new(Cache::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Reloads the records if the KV's version moved since the last load (`force`: check
    /// now, else at most every `REFRESH`).
    pub async fn refresh(&self, force: bool) -> Result<(), IamError> {
        let recent = self.cache.read().map(|c| c.checked.is_some_and(|t| t.elapsed() < REFRESH)).unwrap_or(false);
        if recent && !force {
            return Ok(());
        }
        let _one = self.refreshing.lock().await;
        let version = self.store.version().await?;
        let known = self.cache.read().map(|c| (c.version, c.checked.is_some())).unwrap_or((0, false));
        if known.1 && known.0 == version {
            if let Ok(mut c) = self.cache.write() {
                c.checked = Some(Instant::now());
            }
            return Ok(());
        }
        let snap = self.store.snapshot().await?;
        let by_key = self.index(&snap);
        if let Ok(mut c) = self.cache.write() {
            *c = Cache { version: snap.version, checked: Some(Instant::now()), by_key, snapshot: snap };
        }
        Ok(())
    }

    /// Every access key of the snapshot with its identity (unreadable secrets left out).
    fn index(&self, snap: &IamSnapshot) -> HashMap<String, Arc<Identity>> {
        let parsed: HashMap<&str, Arc<Policy>> = snap
            .policies
            .iter()
            .filter_map(|p| match Policy::parse_identity(&p.document) {
                Ok(pol) => Some((p.name.as_str(), Arc::new(pol))),
                Err(e) => {
                    tracing::warn!(policy = %p.name, error = %e, "stored policy unreadable: ignored");
                    None
                }
            })
            .collect();
        let groups: HashMap<&str, &IamGroup> = snap.groups.iter().map(|g| (g.name.as_str(), g)).collect();
        let mut out = HashMap::new();
        let mut add = |key: &str, u: &IamUser, sealed: &[u8], enabled: bool| {
            let Some(secret) = self.sealer.unseal(sealed) else {
                tracing::warn!(access_key = %key, "a stored secret cannot be unsealed (another IAM seed?): key ignored");
                return;
            };
            let mut names: Vec<&str> = u.policies.iter().map(String::as_str).collect();
            for g in &u.groups {
                if let Some(g) = groups.get(g.as_str()).filter(|g| g.enabled) {
                    names.extend(g.policies.iter().map(String::as_str));
                }
            }
            let id = Identity {
                user: u.name.clone(),
                kind: Kind::Managed,
                enabled: enabled && u.enabled,
                groups: u.groups.clone(),
                policies: names.iter().filter_map(|n| parsed.get(n).cloned()).collect(),
                secret,
            };
            out.insert(key.to_string(), Arc::new(id));
        };
        let users: HashMap<&str, &IamUser> = snap.users.iter().map(|u| (u.name.as_str(), u)).collect();
        for u in &snap.users {
            add(&u.name, u, &u.secret_sealed, true);
        }
        for k in &snap.keys {
            if let Some(u) = users.get(k.user.as_str()) {
                add(&k.access_key, u, &k.secret_sealed, k.enabled);
            }
        }
        out
    }

    /// The identity of `access_key` (configured users first), reloading on a miss.
    pub async fn identity(&self, access_key: &str) -> Option<Arc<Identity>> {
        if let Some(id) = self.configured.get(access_key) {
            return Some(id.clone());
        }
        if let Err(e) = self.refresh(false).await {
            tracing::warn!(error = %e, "cannot reload users; using the last known ones");
        }
        let hit = self.cache.read().ok().and_then(|c| c.by_key.get(access_key).cloned());
        if hit.is_some() {
            return hit;
        }
        // A key created on another node a moment ago.
        let _ = self.refresh(true).await;
        self.cache.read().ok().and_then(|c| c.by_key.get(access_key).cloned())
    }

    /// The identity of a user by name (for policies naming users, ACL grants by id).
    pub async fn user_exists(&self, name: &str) -> bool {
        if self.configured.values().any(|i| i.user == name) {
            return true;
        }
        let _ = self.refresh(false).await;
        self.cache.read().is_ok_and(|c| c.snapshot.users.iter().any(|u| u.name == name))
    }

    /// The user whose canonical id is `id` (ACL grants by id).
    pub async fn user_by_canonical_id(&self, id: &str) -> Option<String> {
        if let Some(i) = self.configured.values().find(|i| access::canonical_id(&i.user) == id) {
            return Some(i.user.clone());
        }
        let _ = self.refresh(false).await;
        let c = self.cache.read().ok()?;
        c.snapshot.users.iter().find(|u| access::canonical_id(&u.name) == id).map(|u| u.name.clone())
    }

    /// The user a configured e-mail address names (ACL grants by e-mail).
    pub async fn user_by_email(&self, email: &str) -> Option<String> {
        let _ = self.refresh(false).await;
        let c = self.cache.read().ok()?;
        c.snapshot
            .users
            .iter()
            .find(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .map(|u| u.name.clone())
    }

    fn taken_by_config(&self, name: &str) -> Result<(), IamError> {
        if self.configured.contains_key(name) {
            return Err(IamError::Exists(format!("{name} is a user of the configuration")));
        }
        Ok(())
    }

    async fn changed(&self) {
        if let Err(e) = self.refresh(true).await {
            tracing::warn!(error = %e, "cannot reload users after a change");
        }
    }

    /// Adds a user (its access key is its name); returns its secret (generated if `secret`
    /// is `None`).
    pub async fn add_user(
        &self,
        name: &str,
        secret: Option<String>,
        email: Option<String>,
    ) -> Result<String, IamError> {
        check_name("user name", name)?;
        self.taken_by_config(name)?;
        let secret = secret.unwrap_or_else(|| new_credentials().1);
        check_secret(&secret)?;
        let u = IamUser {
            name: name.into(),
            secret_sealed: self.sealer.seal(&secret),
            enabled: true,
            groups: Vec::new(),
            policies: Vec::new(),
            email,
            created_ns: now_ns(),
        };
        self.store.create_user(u).await.map_err(|e| exists_or(e, name))?;
        self.changed().await;
        Ok(secret)
    }

    pub async fn remove_user(&self, name: &str) -> Result<(), IamError> {
        if !self.store.delete_user(name).await? {
            return Err(IamError::NotFound(format!("no user {name}")));
        }
        self.changed().await;
        Ok(())
    }

    pub async fn set_user_enabled(&self, name: &str, enabled: bool) -> Result<(), IamError> {
        self.store
            .update_user(name, |u| {
                u.enabled = enabled;
                Ok(())
            })
            .await
            .map_err(|e| not_found_or(e, name))?;
        self.changed().await;
        Ok(())
    }

    /// Adds another access key to a user; returns `(access key, secret)`.
    pub async fn add_key(&self, user: &str) -> Result<(String, String), IamError> {
        let (key, secret) = new_credentials();
        self.taken_by_config(&key)?;
        let k = IamKey {
            access_key: key.clone(),
            user: user.into(),
            secret_sealed: self.sealer.seal(&secret),
            enabled: true,
            created_ns: now_ns(),
        };
        self.store.create_key(k).await.map_err(|e| not_found_or(e, user))?;
        self.changed().await;
        Ok((key, secret))
    }

    pub async fn remove_key(&self, access_key: &str) -> Result<(), IamError> {
        if !self.store.delete_key(access_key).await? {
            return Err(IamError::NotFound(format!("no access key {access_key}")));
        }
        self.changed().await;
        Ok(())
    }

    pub async fn add_group(&self, name: &str) -> Result<(), IamError> {
        check_name("group name", name)?;
        let g = IamGroup { name: name.into(), policies: Vec::new(), enabled: true, created_ns: now_ns() };
        self.store.create_group(g).await.map_err(|e| exists_or(e, name))?;
        self.changed().await;
        Ok(())
    }

    pub async fn remove_group(&self, name: &str) -> Result<(), IamError> {
        if !self.store.delete_group(name).await? {
            return Err(IamError::NotFound(format!("no group {name}")));
        }
        self.changed().await;
        Ok(())
    }

    /// Adds (`member`) or removes a user from a group.
    pub async fn group_member(&self, group: &str, user: &str, member: bool) -> Result<(), IamError> {
        if self.store.group(group).await?.is_none() {
            return Err(IamError::NotFound(format!("no group {group}")));
        }
        self.store
            .update_user(user, |u| {
                u.groups.retain(|g| g != group);
                if member {
                    u.groups.push(group.to_string());
                }
                Ok(())
            })
            .await
            .map_err(|e| not_found_or(e, user))?;
        self.changed().await;
        Ok(())
    }

    /// Adds or replaces a named policy (checked as an identity policy first).
    pub async fn put_policy(&self, name: &str, document: &str) -> Result<(), IamError> {
        check_name("policy name", name)?;
        Policy::parse_identity(document).map_err(|e| IamError::Invalid(format!("MalformedPolicy: {e}")))?;
        let p = IamPolicy { name: name.into(), document: document.into(), created_ns: now_ns() };
        self.store.put_policy(p).await?;
        self.changed().await;
        Ok(())
    }

    pub async fn remove_policy(&self, name: &str) -> Result<(), IamError> {
        match self.store.delete_policy(name).await {
            Ok(true) => {}
            Ok(false) => return Err(IamError::NotFound(format!("no policy {name}"))),
            Err(MetaError::Backend(m)) => return Err(IamError::Invalid(m)),
            Err(e) => return Err(e.into()),
        }
        self.changed().await;
        Ok(())
    }

    /// Attaches (`attach`) or detaches policy `name` to a user or a group.
    pub async fn attach(&self, name: &str, target: Target<'_>, attach: bool) -> Result<(), IamError> {
        if attach && self.store.policy(name).await?.is_none() {
            return Err(IamError::NotFound(format!("no policy {name}")));
        }
        let edit = |list: &mut Vec<String>| {
            list.retain(|p| p != name);
            if attach {
                list.push(name.to_string());
            }
        };
        match target {
            Target::User(u) => self
                .store
                .update_user(u, |x| {
                    edit(&mut x.policies);
                    Ok(())
                })
                .await
                .map(|_| ())
                .map_err(|e| not_found_or(e, u))?,
            Target::Group(g) => self
                .store
                .update_group(g, |x| {
                    edit(&mut x.policies);
                    Ok(())
                })
                .await
                .map_err(|e| not_found_or(e, g))?,
        }
        self.changed().await;
        Ok(())
    }

    /// Everything IAM holds, without secrets.
    pub async fn listing(&self) -> Result<IamListing, IamError> {
        self.refresh(true).await?;
        let c = self.cache.read().map_err(|_| IamError::Invalid("poisoned".into()))?;
        let s = &c.snapshot;
        Ok(IamListing {
            users: s
                .users
                .iter()
                .map(|u| UserInfo {
                    name: u.name.clone(),
                    enabled: u.enabled,
                    groups: u.groups.clone(),
                    policies: u.policies.clone(),
                    keys: s.keys.iter().filter(|k| k.user == u.name).map(|k| k.access_key.clone()).collect(),
                })
                .collect(),
            groups: s
                .groups
                .iter()
                .map(|g| GroupInfo {
                    name: g.name.clone(),
                    policies: g.policies.clone(),
                    members: s.users.iter().filter(|u| u.groups.contains(&g.name)).map(|u| u.name.clone()).collect(),
                })
                .collect(),
            policies: s
                .policies
                .iter()
                .map(|p| PolicyInfo { name: p.name.clone(), document: p.document.clone() })
                .collect(),
            configured: self
                .configured
                .values()
                .filter(|i| i.kind == Kind::Configured)
                .map(|i| i.user.clone())
                .collect(),
        })
    }
}

/// Where a policy is attached.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    User(&'a str),
    Group(&'a str),
}

fn exists_or(e: MetaError, name: &str) -> IamError {
    match e {
        MetaError::Backend(m) if m.contains("exists") => IamError::Exists(format!("{name} exists")),
        other => other.into(),
    }
}

fn not_found_or(e: MetaError, name: &str) -> IamError {
    match e {
        MetaError::Backend(m) if m.starts_with("no ") => IamError::NotFound(format!("no user or group {name}")),
        other => other.into(),
    }
}

/// What `GET /rustfs/admin/v1/iam` answers (shared with `rustfs-admin`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IamListing {
    pub users: Vec<UserInfo>,
    pub groups: Vec<GroupInfo>,
    pub policies: Vec<PolicyInfo>,
    /// Users of the configuration's `users:` list (not managed here).
    pub configured: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub enabled: bool,
    pub groups: Vec<String>,
    pub policies: Vec<String>,
    /// Its other access keys (never their secrets).
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub policies: Vec<String>,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyInfo {
    pub name: String,
    pub document: String,
}

#[async_trait::async_trait]
impl S3Auth for Iam {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.identity(access_key).await {
            Some(id) if id.enabled => Ok(SecretKey::from(id.secret.as_str())),
            _ => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Vec<User> {
        vec![User { access_key: "rootkey".into(), secret_key: "rootsecret".into(), display_name: "root".into() }]
    }

    #[tokio::test]
    async fn users_keys_and_policies_on_a_real_kv() {
        let dir = tempfile::tempdir().unwrap();
        let kv: Arc<dyn Kv> = Arc::new(metadata::LocalKv::open(dir.path()).unwrap());
        let iam = Iam::new(kv.clone(), b"seed", &root());
        assert_eq!(iam.identity("rootkey").await.unwrap().kind, Kind::Root);
        assert!(iam.add_user("rootkey", None, None).await.is_err(), "the configuration's name");
        assert!(iam.add_user("a", None, None).await.is_err(), "too short");
        let secret = iam.add_user("alice", Some("alice-secret".into()), None).await.unwrap();
        assert_eq!(secret, "alice-secret");
        assert_eq!(iam.identity("alice").await.unwrap().secret, "alice-secret");
        // Sealed in the KV: the secret's bytes are nowhere in the stored record.
        let raw = kv.get(b"i/u/alice").await.unwrap().unwrap();
        assert!(!raw.windows(12).any(|w| w == b"alice-secret"));
        // Another node (another Iam over the same KV) sees the user; another seed cannot
        // unseal it.
        let other = Iam::new(kv.clone(), b"seed", &root());
        assert!(other.identity("alice").await.is_some());
        assert!(Iam::new(kv.clone(), b"other seed", &root()).identity("alice").await.is_none());
        iam.put_policy(
            "read",
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#,
        )
        .await
        .unwrap();
        assert!(matches!(iam.put_policy("bad", r#"{"Statement":[]}"#).await, Err(IamError::Invalid(_))));
        iam.add_group("readers").await.unwrap();
        iam.attach("read", Target::Group("readers"), true).await.unwrap();
        iam.group_member("readers", "alice", true).await.unwrap();
        assert_eq!(iam.identity("alice").await.unwrap().policies.len(), 1);
        let (key, ksecret) = iam.add_key("alice").await.unwrap();
        let k = iam.identity(&key).await.unwrap();
        assert_eq!((k.user.as_str(), k.secret.as_str(), k.policies.len()), ("alice", ksecret.as_str(), 1));
        iam.set_user_enabled("alice", false).await.unwrap();
        assert!(iam.get_secret_key("alice").await.is_err() && iam.get_secret_key(&key).await.is_err());
        iam.set_user_enabled("alice", true).await.unwrap();
        let l = iam.listing().await.unwrap();
        assert_eq!(l.users[0].keys, vec![key.clone()]);
        assert_eq!(l.groups[0].members, vec!["alice".to_string()]);
        assert!(!serde_json::to_string(&l).unwrap().contains("alice-secret"));
        iam.remove_user("alice").await.unwrap();
        assert!(iam.get_secret_key("alice").await.is_err() && iam.get_secret_key(&key).await.is_err());
        // Removed on this node: the other node stops within its refresh interval.
        tokio::time::sleep(REFRESH + Duration::from_millis(50)).await;
        assert!(other.get_secret_key("alice").await.is_err());
    }
}

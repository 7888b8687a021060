//! Users, their access keys, groups and named policies, kept in the metadata KV (so a
//! cluster replicates them with everything else) under the `i/` family of `schema`:
//!
//! | key | value |
//! | --- | --- |
//! | `i/u/<name>` | `IamUser` (its first access key is its name) |
//! | `i/k/<access key>` | `IamKey`: another access key of a user |
//! | `i/g/<name>` | `IamGroup` |
//! | `i/p/<name>` | `IamPolicy`: a policy document (JSON text, checked by the caller) |
//! | `i/version` | a counter every change raises, so nodes notice changes with one read |
//!
//! Secrets arrive sealed (encrypted by the caller) and are stored as given: this module
//! never sees a plaintext secret. Every change is one conditional batch (read, change,
//! write if unchanged, retried), so concurrent changes never lose each other's updates.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{MetaError, Result};
use crate::kv::{Kv, WriteBatch, WriteOutcome};
use crate::schema::{self, prefix_end};

pub const IAM: &[u8] = b"i/";
const USER: &str = "i/u/";
const KEY: &str = "i/k/";
const GROUP: &str = "i/g/";
const POLICY: &str = "i/p/";
const VERSION: &[u8] = b"i/version";
/// Most records of one kind listed.
const LIST_LIMIT: usize = 100_000;
/// Attempts of a read-change-write before giving up (concurrent changes of one record).
const ATTEMPTS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamUser {
    pub name: String,
    /// The secret of the access key named like the user, sealed by the server.
    #[serde(with = "serde_bytes")]
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Names of attached policies.
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub created_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamKey {
    pub access_key: String,
    pub user: String,
    #[serde(with = "serde_bytes")]
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    pub created_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamGroup {
    pub name: String,
    #[serde(default)]
    pub policies: Vec<String>,
    pub enabled: bool,
    pub created_ns: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamPolicy {
    pub name: String,
    pub document: String,
    pub created_ns: i64,
}

/// Everything IAM holds, as one read gives it (what a node caches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IamSnapshot {
    pub version: u64,
    pub users: Vec<IamUser>,
    pub keys: Vec<IamKey>,
    pub groups: Vec<IamGroup>,
    pub policies: Vec<IamPolicy>,
}

fn key(family: &str, name: &str) -> Vec<u8> {
    format!("{family}{name}").into_bytes()
}

/// The IAM records over a `Kv`.
pub struct IamStore<K: ?Sized> {
    kv: std::sync::Arc<K>,
}

impl<K: Kv + ?Sized> IamStore<K> {
    pub fn new(kv: std::sync::Arc<K>) -> Self {
        Self { kv }
    }

    async fn get<T: DeserializeOwned>(&self, k: &[u8]) -> Result<Option<T>> {
        match self.kv.get(k).await? {
            Some(v) => schema::decode(k, &v).map(Some),
            None => Ok(None),
        }
    }

    async fn list<T: DeserializeOwned>(&self, family: &str) -> Result<Vec<T>> {
        let start = family.as_bytes().to_vec();
        let end = prefix_end(&start).unwrap_or_default();
        let rows = self.kv.scan(&start, &end, LIST_LIMIT).await?;
        rows.iter().map(|(k, v)| schema::decode(k, v)).collect()
    }

    pub async fn version(&self) -> Result<u64> {
        Ok(self.get::<u64>(VERSION).await?.unwrap_or(0))
    }

    /// Everything, with the version it was read at.
    pub async fn snapshot(&self) -> Result<IamSnapshot> {
        Ok(IamSnapshot {
            version: self.version().await?,
            users: self.list(USER).await?,
            keys: self.list(KEY).await?,
            groups: self.list(GROUP).await?,
            policies: self.list(POLICY).await?,
        })
    }

    /// Applies `change` to the records it names (read under the batch's conditions, so a
    /// concurrent change makes it read again). `change` gets the current values of `keys`
    /// and returns the writes (`None` value: delete), or an error to give up.
    async fn change(
        &self,
        keys: &[Vec<u8>],
        mut change: impl FnMut(&[Option<Vec<u8>>]) -> Result<Vec<(Vec<u8>, Option<Vec<u8>>)>>,
    ) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let mut current = Vec::with_capacity(keys.len());
            for k in keys {
                current.push(self.kv.get(k).await?);
            }
            let version = self.kv.get(VERSION).await?;
            let writes = change(&current)?;
            let mut b = WriteBatch::new();
            for (k, v) in keys.iter().zip(&current) {
                b.require(k.clone(), v.clone());
            }
            b.require(VERSION.to_vec(), version.clone());
            for (k, v) in writes {
                match v {
                    Some(v) => b.put(k, v),
                    None => b.delete(k),
                };
            }
            let next = version.as_deref().and_then(|v| schema::decode::<u64>(VERSION, v).ok()).unwrap_or(0) + 1;
            b.put(VERSION.to_vec(), schema::encode(&next));
            if self.kv.write(b).await? == WriteOutcome::Applied {
                return Ok(());
            }
        }
        Err(MetaError::Conflict(ATTEMPTS))
    }

    fn decode_opt<T: DeserializeOwned>(k: &[u8], v: &Option<Vec<u8>>) -> Result<Option<T>> {
        v.as_deref().map(|v| schema::decode(k, v)).transpose()
    }

    /// Creates a user; an error if the name is taken by a user or an access key.
    pub async fn create_user(&self, user: IamUser) -> Result<()> {
        let (uk, kk) = (key(USER, &user.name), key(KEY, &user.name));
        self.change(&[uk.clone(), kk], |cur| {
            if cur.iter().any(Option::is_some) {
                return Err(MetaError::Backend(format!("user or access key {} exists", user.name)));
            }
            Ok(vec![(uk.clone(), Some(schema::encode(&user)))])
        })
        .await
    }

    pub async fn user(&self, name: &str) -> Result<Option<IamUser>> {
        self.get(&key(USER, name)).await
    }

    /// Changes a user (`f` edits it); an error if it does not exist.
    pub async fn update_user(&self, name: &str, mut f: impl FnMut(&mut IamUser) -> Result<()>) -> Result<IamUser> {
        let uk = key(USER, name);
        let mut out = None;
        self.change(std::slice::from_ref(&uk), |cur| {
            let mut u: IamUser =
                Self::decode_opt(&uk, &cur[0])?.ok_or_else(|| MetaError::Backend(format!("no user {name}")))?;
            f(&mut u)?;
            out = Some(u.clone());
            Ok(vec![(uk.clone(), Some(schema::encode(&u)))])
        })
        .await?;
        out.ok_or_else(|| MetaError::Backend("user change lost".into()))
    }

    /// Removes a user and its other access keys.
    pub async fn delete_user(&self, name: &str) -> Result<bool> {
        let mut keys = vec![key(USER, name)];
        let extra: Vec<IamKey> = self.list::<IamKey>(KEY).await?.into_iter().filter(|k| k.user == name).collect();
        keys.extend(extra.iter().map(|k| key(KEY, &k.access_key)));
        let mut existed = false;
        self.change(&keys, |cur| {
            existed = cur[0].is_some();
            Ok(keys.iter().zip(cur).filter(|(_, v)| v.is_some()).map(|(k, _)| (k.clone(), None)).collect())
        })
        .await?;
        Ok(existed)
    }

    pub async fn users(&self) -> Result<Vec<IamUser>> {
        self.list(USER).await
    }

    /// Adds another access key of a user; an error if the key is taken or the user missing.
    pub async fn create_key(&self, k: IamKey) -> Result<()> {
        let (kk, taken, owner) = (key(KEY, &k.access_key), key(USER, &k.access_key), key(USER, &k.user));
        self.change(&[kk.clone(), taken, owner], |cur| {
            if cur[0].is_some() || cur[1].is_some() {
                return Err(MetaError::Backend(format!("access key {} exists", k.access_key)));
            }
            if cur[2].is_none() {
                return Err(MetaError::Backend(format!("no user {}", k.user)));
            }
            Ok(vec![(kk.clone(), Some(schema::encode(&k)))])
        })
        .await
    }

    pub async fn key(&self, access_key: &str) -> Result<Option<IamKey>> {
        self.get(&key(KEY, access_key)).await
    }

    pub async fn update_key(&self, access_key: &str, mut f: impl FnMut(&mut IamKey)) -> Result<bool> {
        let kk = key(KEY, access_key);
        let mut found = false;
        self.change(std::slice::from_ref(&kk), |cur| {
            let Some(mut k) = Self::decode_opt::<IamKey>(&kk, &cur[0])? else { return Ok(Vec::new()) };
            found = true;
            f(&mut k);
            Ok(vec![(kk.clone(), Some(schema::encode(&k)))])
        })
        .await?;
        Ok(found)
    }

    pub async fn delete_key(&self, access_key: &str) -> Result<bool> {
        let kk = key(KEY, access_key);
        let mut found = false;
        self.change(std::slice::from_ref(&kk), |cur| {
            found = cur[0].is_some();
            Ok(if found { vec![(kk.clone(), None)] } else { Vec::new() })
        })
        .await?;
        Ok(found)
    }

    pub async fn create_group(&self, g: IamGroup) -> Result<()> {
        let gk = key(GROUP, &g.name);
        self.change(std::slice::from_ref(&gk), |cur| {
            if cur[0].is_some() {
                return Err(MetaError::Backend(format!("group {} exists", g.name)));
            }
            Ok(vec![(gk.clone(), Some(schema::encode(&g)))])
        })
        .await
    }

    pub async fn group(&self, name: &str) -> Result<Option<IamGroup>> {
        self.get(&key(GROUP, name)).await
    }

    pub async fn update_group(&self, name: &str, mut f: impl FnMut(&mut IamGroup) -> Result<()>) -> Result<()> {
        let gk = key(GROUP, name);
        self.change(std::slice::from_ref(&gk), |cur| {
            let mut g: IamGroup =
                Self::decode_opt(&gk, &cur[0])?.ok_or_else(|| MetaError::Backend(format!("no group {name}")))?;
            f(&mut g)?;
            Ok(vec![(gk.clone(), Some(schema::encode(&g)))])
        })
        .await
    }

    /// Removes a group (its members keep their other groups).
    pub async fn delete_group(&self, name: &str) -> Result<bool> {
        let members: Vec<IamUser> =
            self.users().await?.into_iter().filter(|u| u.groups.iter().any(|g| g == name)).collect();
        let mut keys = vec![key(GROUP, name)];
        keys.extend(members.iter().map(|u| key(USER, &u.name)));
        let mut found = false;
        self.change(&keys, |cur| {
            found = cur[0].is_some();
            let mut out = Vec::new();
            if found {
                out.push((keys[0].clone(), None));
            }
            for (k, v) in keys.iter().zip(cur).skip(1) {
                if let Some(mut u) = Self::decode_opt::<IamUser>(k, v)? {
                    u.groups.retain(|g| g != name);
                    out.push((k.clone(), Some(schema::encode(&u))));
                }
            }
            Ok(out)
        })
        .await?;
        Ok(found)
    }

    pub async fn groups(&self) -> Result<Vec<IamGroup>> {
        self.list(GROUP).await
    }

    /// Creates or replaces a named policy.
    pub async fn put_policy(&self, p: IamPolicy) -> Result<()> {
        let pk = key(POLICY, &p.name);
        self.change(std::slice::from_ref(&pk), |_| Ok(vec![(pk.clone(), Some(schema::encode(&p)))])).await
    }

    pub async fn policy(&self, name: &str) -> Result<Option<IamPolicy>> {
        self.get(&key(POLICY, name)).await
    }

    pub async fn policies(&self) -> Result<Vec<IamPolicy>> {
        self.list(POLICY).await
    }

    /// Removes a named policy; refused while a user or group has it attached.
    pub async fn delete_policy(&self, name: &str) -> Result<bool> {
        let pk = key(POLICY, name);
        let users = self.users().await?;
        let groups = self.groups().await?;
        let mut keys = vec![pk.clone()];
        keys.extend(users.iter().map(|u| key(USER, &u.name)));
        keys.extend(groups.iter().map(|g| key(GROUP, &g.name)));
        let mut found = false;
        self.change(&keys, |cur| {
            for (k, v) in keys.iter().zip(cur).skip(1) {
                let attached = if k.starts_with(USER.as_bytes()) {
                    Self::decode_opt::<IamUser>(k, v)?.is_some_and(|u| u.policies.iter().any(|p| p == name))
                } else {
                    Self::decode_opt::<IamGroup>(k, v)?.is_some_and(|g| g.policies.iter().any(|p| p == name))
                };
                if attached {
                    let who = String::from_utf8_lossy(&k[2..]).into_owned();
                    return Err(MetaError::Backend(format!("policy {name} is attached ({who}): detach it first")));
                }
            }
            found = cur[0].is_some();
            Ok(if found { vec![(pk.clone(), None)] } else { Vec::new() })
        })
        .await?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn user(name: &str) -> IamUser {
        IamUser {
            name: name.into(),
            secret_sealed: vec![1, 2, 3],
            enabled: true,
            groups: vec![],
            policies: vec![],
            email: None,
            created_ns: 1,
        }
    }

    #[tokio::test]
    async fn users_keys_groups_and_policies_on_a_real_kv() {
        let dir = tempfile::tempdir().unwrap();
        let kv = Arc::new(crate::LocalKv::open(dir.path()).unwrap());
        let iam = IamStore::new(kv.clone());
        assert_eq!(iam.version().await.unwrap(), 0);
        iam.create_user(user("alice")).await.unwrap();
        assert!(iam.create_user(user("alice")).await.is_err(), "names are unique");
        iam.create_key(IamKey {
            access_key: "AKALICE2".into(),
            user: "alice".into(),
            secret_sealed: vec![9],
            enabled: true,
            created_ns: 2,
        })
        .await
        .unwrap();
        assert!(iam.create_user(user("AKALICE2")).await.is_err(), "a user cannot take an access key's name");
        assert!(
            iam.create_key(IamKey {
                access_key: "k".into(),
                user: "nobody".into(),
                secret_sealed: vec![],
                enabled: true,
                created_ns: 2
            })
            .await
            .is_err()
        );
        iam.put_policy(IamPolicy { name: "read".into(), document: "{}".into(), created_ns: 3 }).await.unwrap();
        iam.create_group(IamGroup { name: "ops".into(), policies: vec!["read".into()], enabled: true, created_ns: 4 })
            .await
            .unwrap();
        iam.update_user("alice", |u| {
            u.groups.push("ops".into());
            u.policies.push("read".into());
            Ok(())
        })
        .await
        .unwrap();
        assert!(iam.delete_policy("read").await.unwrap_err().to_string().contains("attached"));
        let snap = iam.snapshot().await.unwrap();
        assert_eq!((snap.users.len(), snap.keys.len(), snap.groups.len(), snap.policies.len()), (1, 1, 1, 1));
        assert!(snap.version >= 5, "every change raised the version: {}", snap.version);
        assert!(iam.delete_group("ops").await.unwrap());
        assert!(iam.user("alice").await.unwrap().unwrap().groups.is_empty(), "members leave a deleted group");
        iam.update_user("alice", |u| {
            u.policies.clear();
            Ok(())
        })
        .await
        .unwrap();
        assert!(iam.delete_policy("read").await.unwrap());
        assert!(iam.update_key("AKALICE2", |k| k.enabled = false).await.unwrap());
        assert!(!iam.key("AKALICE2").await.unwrap().unwrap().enabled);
        assert!(iam.delete_user("alice").await.unwrap());
        assert!(iam.key("AKALICE2").await.unwrap().is_none(), "a user's keys go with it");
        assert!(!iam.delete_user("alice").await.unwrap());
        // Concurrent changes of one record never lose each other's updates.
        iam.create_user(user("bob")).await.unwrap();
        let iam = Arc::new(iam);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let iam = iam.clone();
            tasks.push(tokio::spawn(async move {
                iam.update_user("bob", |u| {
                    u.policies.push(format!("p{i}"));
                    Ok(())
                })
                .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(iam.user("bob").await.unwrap().unwrap().policies.len(), 8);
    }
}

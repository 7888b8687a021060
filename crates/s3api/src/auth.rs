//! Users of the configuration (the root user and the YAML `users:`), and the caller of a
//! request as handlers see it (see `authz` for the access check itself). Secrets never leave this
//! module except to s3s's verifier, and are never logged.

use std::collections::HashMap;

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Request, S3Result, s3_error};

#[derive(Clone)]
pub struct User {
    pub access_key: String,
    pub secret_key: String,
    pub display_name: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("access_key", &self.access_key)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Users {
    by_key: HashMap<String, User>,
}

impl Users {
    pub fn new(users: impl IntoIterator<Item = User>) -> Self {
        Self { by_key: users.into_iter().map(|u| (u.access_key.clone(), u)).collect() }
    }

    pub fn get(&self, access_key: &str) -> Option<&User> {
        self.by_key.get(access_key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[async_trait::async_trait]
impl S3Auth for Users {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.by_key.get(access_key) {
            Some(u) => Ok(SecretKey::from(u.secret_key.as_str())),
            None => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
        }
    }
}

/// Who asks, and the bucket record the access check read for the request (so a handler
/// does not read it again).
pub struct Ctx {
    pub caller: crate::authz::Caller,
    pub bucket: Option<metadata::BucketInfo>,
}

impl Ctx {
    /// The caller's user name (`anonymous` for an unsigned request).
    pub fn name(&self) -> &str {
        self.caller.name()
    }
}

/// The caller of a request as the access check resolved it (s3s ran the check before any
/// handler: a request that reaches one was allowed).
pub fn caller<T>(req: &S3Request<T>) -> S3Result<Ctx> {
    Ok(Ctx {
        caller: crate::authz::caller_of(&req.extensions),
        bucket: req.extensions.get::<metadata::BucketInfo>().cloned(),
    })
}

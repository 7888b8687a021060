//! Admin API calls of users, access keys, groups and policies (under `/rustfs/admin/v1/`,
//! root only, JSON; secrets and policy documents travel in request bodies, never in a URL):
//!
//! - `GET    iam`: users (with their groups, policies and other access keys), groups,
//!   policies and the configuration's users, without any secret
//! - `POST   iam/users?name=N[&email=E]`, body `{"secret": S}` or empty: add a user (its
//!   access key is its name); answers its credentials, the only time the secret is shown
//! - `DELETE iam/users?name=N`; `POST iam/users/enable?name=N`, `iam/users/disable?name=N`
//! - `POST   iam/keys?user=N`: another access key of a user (answers its credentials);
//!   `DELETE iam/keys?access_key=K`
//! - `POST   iam/groups?name=G`, `DELETE iam/groups?name=G`;
//!   `POST|DELETE iam/groups/members?group=G&user=N`
//! - `PUT    iam/policies?name=P`, body the policy document; `DELETE iam/policies?name=P`;
//!   `POST   iam/policies/attach?name=P&(user=N|group=G)`, `iam/policies/detach?…`
//!
//! This module translates; the work is `s3api::iam`'s. It never logs a secret.

use http::{Method, StatusCode, Uri};
use s3api::iam::{IamError, Target};
use s3s::{Body, S3Error, S3ErrorCode, S3Response, S3Result};
use serde::{Deserialize, Serialize};

use crate::admin::json;
use crate::admin_query::query_param;
use crate::app::App;

/// Largest request body (a policy document, a secret).
const MAX_BODY: usize = 64 * 1024;

/// Credentials just created (`POST iam/users`, `POST iam/keys`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub access_key: String,
    pub secret_key: String,
}

#[derive(Debug, Default, Deserialize)]
struct NewUser {
    #[serde(default)]
    secret: Option<String>,
}

fn error(e: IamError) -> S3Error {
    let (code, status) = match &e {
        IamError::Invalid(_) => (S3ErrorCode::InvalidArgument, StatusCode::BAD_REQUEST),
        IamError::NotFound(_) => (S3ErrorCode::Custom("NoSuchEntity".into()), StatusCode::NOT_FOUND),
        IamError::Exists(_) => (S3ErrorCode::Custom("EntityAlreadyExists".into()), StatusCode::CONFLICT),
        IamError::Meta(_) => (S3ErrorCode::ServiceUnavailable, StatusCode::SERVICE_UNAVAILABLE),
    };
    let mut err = S3Error::with_message(code, e.to_string());
    err.set_status_code(status);
    err
}

fn required(uri: &Uri, name: &str) -> S3Result<String> {
    query_param(uri, name).filter(|v| !v.is_empty()).ok_or_else(|| {
        S3Error::with_message(S3ErrorCode::InvalidArgument, format!("the query parameter {name} is required"))
    })
}

async fn body_text(body: &mut Body) -> S3Result<String> {
    let b = body.store_all_limited(MAX_BODY).await.map_err(|e| {
        S3Error::with_message(S3ErrorCode::InvalidRequest, format!("request body too large or unreadable: {e}"))
    })?;
    String::from_utf8(b.to_vec())
        .map_err(|_| S3Error::with_message(S3ErrorCode::InvalidRequest, "the body is not UTF-8"))
}

#[derive(Serialize)]
struct Done {
    ok: bool,
}

fn done() -> S3Result<S3Response<Body>> {
    json(StatusCode::OK, &Done { ok: true })
}

/// Answers an IAM call, or `None` when `path` is not one.
pub async fn handle(
    app: &App,
    method: &Method,
    path: &str,
    uri: &Uri,
    body: &mut Body,
) -> Option<S3Result<S3Response<Body>>> {
    let iam = &app.iam;
    let r = async {
        match (method.clone(), path) {
            (Method::GET, "iam") => json(StatusCode::OK, &iam.listing().await.map_err(error)?),
            (Method::POST, "iam/users") => {
                let name = required(uri, "name")?;
                let text = body_text(body).await?;
                let b: NewUser = if text.trim().is_empty() {
                    NewUser::default()
                } else {
                    serde_json::from_str(&text)
                        .map_err(|e| S3Error::with_message(S3ErrorCode::InvalidRequest, format!("invalid body: {e}")))?
                };
                let secret = iam.add_user(&name, b.secret, query_param(uri, "email")).await.map_err(error)?;
                tracing::info!(user = %name, "user added");
                json(StatusCode::CREATED, &Credentials { user: name.clone(), access_key: name, secret_key: secret })
            }
            (Method::DELETE, "iam/users") => {
                let name = required(uri, "name")?;
                iam.remove_user(&name).await.map_err(error)?;
                tracing::info!(user = %name, "user removed");
                done()
            }
            (Method::POST, "iam/users/enable" | "iam/users/disable") => {
                let name = required(uri, "name")?;
                let on = path.ends_with("enable");
                iam.set_user_enabled(&name, on).await.map_err(error)?;
                tracing::info!(user = %name, enabled = on, "user changed");
                done()
            }
            (Method::POST, "iam/keys") => {
                let user = required(uri, "user")?;
                let (access_key, secret_key) = iam.add_key(&user).await.map_err(error)?;
                tracing::info!(%user, %access_key, "access key added");
                json(StatusCode::CREATED, &Credentials { user, access_key, secret_key })
            }
            (Method::DELETE, "iam/keys") => {
                let key = required(uri, "access_key")?;
                iam.remove_key(&key).await.map_err(error)?;
                tracing::info!(access_key = %key, "access key removed");
                done()
            }
            (Method::POST, "iam/groups") => {
                iam.add_group(&required(uri, "name")?).await.map_err(error)?;
                done()
            }
            (Method::DELETE, "iam/groups") => {
                iam.remove_group(&required(uri, "name")?).await.map_err(error)?;
                done()
            }
            (Method::POST | Method::DELETE, "iam/groups/members") => {
                let (group, user) = (required(uri, "group")?, required(uri, "user")?);
                iam.group_member(&group, &user, *method == Method::POST).await.map_err(error)?;
                done()
            }
            (Method::PUT, "iam/policies") => {
                let name = required(uri, "name")?;
                iam.put_policy(&name, &body_text(body).await?).await.map_err(error)?;
                tracing::info!(policy = %name, "policy stored");
                done()
            }
            (Method::DELETE, "iam/policies") => {
                iam.remove_policy(&required(uri, "name")?).await.map_err(error)?;
                done()
            }
            (Method::POST, "iam/policies/attach" | "iam/policies/detach") => {
                let name = required(uri, "name")?;
                let (user, group) = (query_param(uri, "user"), query_param(uri, "group"));
                let target = match (&user, &group) {
                    (Some(u), None) => Target::User(u),
                    (None, Some(g)) => Target::Group(g),
                    _ => {
                        return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "give either user or group"));
                    }
                };
                iam.attach(&name, target, path.ends_with("attach")).await.map_err(error)?;
                done()
            }
            _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
        }
    };
    if !path.starts_with("iam") {
        return None;
    }
    Some(r.await)
}

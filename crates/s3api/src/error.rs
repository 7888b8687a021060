//! The one place where internal errors become S3 errors (status, code, message).
//! Internal causes are logged here, never sent to clients beyond a generic message.

use ecstore::StoreError;
use metadata::MetaError;
use s3s::{S3Error, S3ErrorCode, s3_error};

pub fn meta(e: MetaError) -> S3Error {
    match e {
        MetaError::NoSuchBucket(_) => {
            s3_error!(NoSuchBucket, "The specified bucket does not exist")
        }
        MetaError::BucketExists(_) => s3_error!(BucketAlreadyExists),
        MetaError::BucketNotEmpty(_) => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        MetaError::NoSuchKey { .. } => s3_error!(NoSuchKey, "The specified key does not exist."),
        MetaError::NoSuchVersion { .. } => {
            s3_error!(NoSuchVersion, "The specified version does not exist.")
        }
        MetaError::NoSuchUpload(_) => s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        MetaError::PreconditionFailed => {
            s3_error!(PreconditionFailed, "At least one of the pre-conditions you specified did not hold")
        }
        MetaError::Unavailable(what) => {
            tracing::error!(%what, "metadata unavailable");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "Not enough drives are available to serve this request; please retry later.",
            )
        }
        MetaError::NoLeader(what) | MetaError::NotCoordinator(what) => {
            tracing::warn!(%what, "metadata group without a leader");
            S3Error::with_message(S3ErrorCode::SlowDown, "Please reduce your request rate.")
        }
        MetaError::InvalidKey(_) => invalid_object_name(),
        MetaError::ParentIsObject(_) => custom(
            "XMinioParentIsObject",
            "Object-prefix is already an object, please choose a different object-prefix name.",
            http::StatusCode::BAD_REQUEST,
        ),
        MetaError::PartReplaced(_) => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        ),
        MetaError::CommitUnknown(what) => {
            tracing::error!(%what, "metadata commit outcome unknown");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "The metadata store could not confirm that this change is durable; please retry later.",
            )
        }
        MetaError::Unsupported(why) => S3Error::with_message(S3ErrorCode::NotImplemented, why),
        MetaError::Conflict(_) => {
            S3Error::with_message(S3ErrorCode::SlowDown, "Too many concurrent updates of this key; retry")
        }
        other => {
            tracing::error!(error = %other, "metadata error");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// An error code S3 does not define (MinIO's, for the legacy engine), with its status.
pub fn custom(code: &'static str, message: &'static str, status: http::StatusCode) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

/// MinIO's answer to a key its layout cannot hold (the legacy engine keeps its rules).
fn invalid_object_name() -> S3Error {
    custom("XMinioInvalidObjectName", "Object name contains unsupported characters.", http::StatusCode::BAD_REQUEST)
}

pub fn store(e: StoreError) -> S3Error {
    match e {
        StoreError::InvalidName(k) if k.is_empty() || k.len() > ecstore::paths::KEY_MAX => {
            s3_error!(KeyTooLongError, "Your key is too long")
        }
        StoreError::InvalidName(_) => invalid_object_name(),
        StoreError::TooLarge(_) => {
            s3_error!(EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.")
        }
        StoreError::InvalidRange => {
            s3_error!(InvalidRange, "The requested range is not satisfiable")
        }
        StoreError::Body(msg) if crate::limits::BodyLimit::find(&msg).is_some() => {
            crate::limits::BodyLimit::find(&msg).map_or_else(|| s3_error!(IncompleteBody), |l| l.to_s3())
        }
        // s3s checks a signed payload's digest and each aws-chunked chunk's signature as the
        // body streams; its stream errors name the failure.
        StoreError::Body(msg) if msg.contains("Sha256Mismatch") => custom(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            http::StatusCode::BAD_REQUEST,
        ),
        StoreError::Body(msg) if msg.contains("SignatureMismatch") => s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided."
        ),
        StoreError::Body(msg) => {
            tracing::debug!(%msg, "request body failed");
            s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            )
        }
        StoreError::WriteQuorum { .. } | StoreError::ReadQuorum(..) => {
            tracing::error!(error = %e, "erasure quorum lost");
            S3Error::with_message(
                S3ErrorCode::ServiceUnavailable,
                "Not enough drives are available to serve this request; please retry later.",
            )
        }
        StoreError::Unsupported(why) => {
            tracing::warn!(reason = %why, "object in a stored form this server does not serve");
            S3Error::with_message(S3ErrorCode::NotImplemented, why)
        }
        other => {
            tracing::error!(error = %other, "storage error");
            s3_error!(InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

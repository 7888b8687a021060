//! The shard RPC's messages (format 1, msgpack via rmp-serde): a request names a drive by its
//! path as configured on the serving node, and one operation of `DiskIo`; an answer is a
//! reply or an I/O error kind with its message. Stateless: a write is `Create`, `Append`s at
//! explicit offsets (a retried append rewrites the same bytes), then `Sync` (or `Commit`,
//! which moves the file into place in a flush the peer shares among writes); a read is
//! `ReadAt` on a path. So a node that dies mid-write leaves only a temporary file, which the
//! tmp sweep removes, and no server keeps per-client handles.
//! This module must never change the meaning of a message of format 1: a new operation is
//! a new variant at the end.

use std::io;

use serde::{Deserialize, Serialize};

use super::{Entry, Stat, Usage};

/// The internode message kind of a shard RPC request.
pub const KIND_DISK: u16 = 0x0200;
/// Every internode kind of the shard RPC.
pub const INTERNODE_KINDS: std::ops::RangeInclusive<u16> = 0x0200..=0x02ff;
/// Format of the messages below.
pub const FORMAT: u8 = 1;
/// The largest read one `ReadAt` may ask for.
pub const MAX_READ: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub format: u8,
    /// The drive's path on the serving node, as configured there.
    pub drive: String,
    pub op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Create {
        path: String,
    },
    Append {
        path: String,
        offset: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    Sync {
        path: String,
    },
    Open {
        path: String,
    },
    ReadAt {
        path: String,
        offset: u64,
        len: u64,
    },
    RenameDurable {
        from: String,
        to: String,
    },
    /// `(from, to)` pairs.
    LinkDurable {
        links: Vec<(String, String)>,
    },
    WriteDurable {
        path: String,
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
    },
    ReadAll {
        path: String,
        max: u64,
    },
    RemoveAll {
        path: String,
    },
    RemoveEmptyDir {
        path: String,
    },
    List {
        path: String,
    },
    Stat {
        path: String,
    },
    Usage,
    RemoveDurable {
        path: String,
    },
    Walk {
        path: String,
        query: super::walk::WalkQuery,
    },
    /// `DiskIo::commit` of a file written by `Create` and `Append`s (not synced): moved to
    /// `to` and made durable with its folders in a flush shared with the node's other
    /// commits. A node older than this variant cannot decode it (see `predates`).
    Commit {
        from: String,
        to: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Len(u64),
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    Removed(bool),
    Entries(Vec<Entry>),
    Stat(Stat),
    Usage(Usage),
    Walked(Vec<super::walk::Entry>),
}

/// An I/O error as it crosses the wire: its kind (the ones callers tell apart) and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub kind: u8,
    pub message: String,
}

const KINDS: [io::ErrorKind; 8] = [
    io::ErrorKind::Other,
    io::ErrorKind::NotFound,
    io::ErrorKind::AlreadyExists,
    io::ErrorKind::InvalidInput,
    io::ErrorKind::InvalidData,
    io::ErrorKind::UnexpectedEof,
    io::ErrorKind::DirectoryNotEmpty,
    io::ErrorKind::PermissionDenied,
];

impl From<&io::Error> for WireError {
    fn from(e: &io::Error) -> Self {
        let kind = KINDS.iter().position(|k| *k == e.kind()).unwrap_or(0) as u8;
        Self { kind, message: e.to_string() }
    }
}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> Self {
        io::Error::new(KINDS.get(e.kind as usize).copied().unwrap_or(io::ErrorKind::Other), e.message)
    }
}

pub type Answer = Result<Reply, WireError>;

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    rmp_serde::to_vec(v).unwrap_or_default()
}

/// How a node names a message it cannot decode.
const UNDECODABLE: &str = "shard RPC message: ";

pub fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> io::Result<T> {
    rmp_serde::from_slice(raw).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{UNDECODABLE}{e}")))
}

/// Whether `e` is a peer's answer that it could not decode the request: a node that
/// predates the operation sent (a variant added at the end since).
pub fn predates(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().starts_with(UNDECODABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_errors_keep_their_kind() {
        let r = Request {
            format: FORMAT,
            drive: "/data/d1".into(),
            op: Op::Append { path: "a/b".into(), offset: 7, data: vec![0, 255, 3] },
        };
        assert_eq!(decode::<Request>(&encode(&r)).unwrap(), r);
        let a: Answer = Ok(Reply::Entries(vec![Entry { name: "x".into(), is_dir: true, is_file: false, mtime_ns: 5 }]));
        assert_eq!(decode::<Answer>(&encode(&a)).unwrap(), a);
        let e = io::Error::new(io::ErrorKind::NotFound, "gone");
        let back: io::Error = WireError::from(&e).into();
        assert_eq!((back.kind(), back.to_string()), (io::ErrorKind::NotFound, "gone".to_string()));
        assert!(decode::<Request>(&[0xc1, 0]).is_err());
    }

    /// A node of before `Commit` fails to decode it as an unknown variant, and the caller
    /// tells that answer from other errors.
    #[test]
    fn an_operation_a_peer_predates_is_recognised() {
        #[derive(Deserialize)]
        enum OldOp {
            Create {
                #[allow(dead_code)]
                path: String,
            },
        }
        #[derive(Deserialize)]
        struct OldRequest {
            #[allow(dead_code)]
            format: u8,
            #[allow(dead_code)]
            drive: String,
            #[allow(dead_code)]
            op: OldOp,
        }
        let req = Request { format: FORMAT, drive: "/d".into(), op: Op::Commit { from: "a".into(), to: "b".into() } };
        let Err(e) = decode::<OldRequest>(&encode(&req)) else { panic!("an old node decoded Commit") };
        // The error crosses the wire as the old node answers it.
        let back: io::Error = WireError::from(&e).into();
        assert!(predates(&back));
        assert!(!predates(&io::Error::new(io::ErrorKind::InvalidData, "bad frame")));
        let create = Request { format: FORMAT, drive: "/d".into(), op: Op::Create { path: "a".into() } };
        assert!(decode::<OldRequest>(&encode(&create)).is_ok());
    }
}

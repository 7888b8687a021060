//! Frames on an internode connection: `u32` length (big endian, of what follows), `u64`
//! request id, `u16` kind, then the body. Request ids are per connection; id 0 is a one-way
//! message. Kinds `RESPONSE_OK`/`RESPONSE_ERR` answer a request; other kinds are services.
//! This module must never allocate a frame over `MAX_FRAME`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{MAX_FRAME, NetError};

pub const RESPONSE_OK: u16 = 0xFFFF;
pub const RESPONSE_ERR: u16 = 0xFFFE;
const HEADER: usize = 8 + 2;

pub struct Frame {
    pub id: u64,
    pub kind: u16,
    pub body: Vec<u8>,
}

pub fn encode(id: u64, kind: u16, body: &[u8]) -> Result<Vec<u8>, NetError> {
    let len = HEADER + body.len();
    if len > MAX_FRAME {
        return Err(NetError::TooLarge(len));
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Frame>> {
    read_max(r, MAX_FRAME).await
}

/// Like [`read`], refusing frames over `max` bytes (before allocating them).
pub async fn read_max<R: AsyncReadExt + Unpin>(r: &mut R, max: usize) -> std::io::Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if !(HEADER..=max.min(MAX_FRAME)).contains(&len) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad frame length {len}")));
    }
    let mut head = [0u8; HEADER];
    r.read_exact(&mut head).await?;
    let mut body = vec![0u8; len - HEADER];
    r.read_exact(&mut body).await?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&head[..8]);
    Ok(Some(Frame { id: u64::from_be_bytes(id), kind: u16::from_be_bytes([head[8], head[9]]), body }))
}

pub async fn write<W: AsyncWriteExt + Unpin>(w: &mut W, raw: &[u8]) -> std::io::Result<()> {
    w.write_all(raw).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_refuse_bad_lengths() {
        let raw = encode(7, 3, b"hello").unwrap();
        let f = read(&mut raw.as_slice()).await.unwrap().unwrap();
        assert_eq!((f.id, f.kind, f.body.as_slice()), (7, 3, b"hello".as_slice()));
        assert!(read(&mut [].as_slice()).await.unwrap().is_none());
        let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(read(&mut huge.as_slice()).await.is_err());
        assert!(read(&mut [0, 0, 0, 1, 0].as_slice()).await.is_err());
        assert!(read_max(&mut encode(1, 1, &[0; 100]).unwrap().as_slice(), 64).await.is_err());
        assert!(matches!(encode(1, 1, &vec![0; MAX_FRAME]), Err(NetError::TooLarge(_))));
    }
}

//! Shard files written around the page cache: what is appended is gathered in an aligned
//! buffer and written with `O_DIRECT` a chunk at a time, so a PUT's bytes go from that
//! buffer to the drive without a copy into page-cache pages (which costs more CPU than
//! MD5 on a busy node) and without evicting what reads keep cached. The unaligned tail is
//! written through the page cache when the file is closed (`O_DIRECT` cleared), so the file
//! has exactly the bytes written. A file system without `O_DIRECT` (tmpfs) gets plain
//! writes. Buffers are reused from a small pool, so steady writing touches no new memory.
//!
//! `O_DIRECT` data is on the drive when `write` returns but may sit in its volatile cache:
//! durability still comes from `sync` (fsync) or the file system's flush (`DiskIo::commit`).
//! This module must never leave a file with other bytes than those appended, and never
//! report a write done that failed.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Mutex;

use rustix::fs::OFlags;

use super::FileSink;

/// Alignment of `O_DIRECT` buffers, offsets and lengths (a multiple of any logical block
/// size in use).
const ALIGN: usize = 4096;
/// Bytes gathered before a direct write.
const CHUNK: usize = 256 << 10;
/// Buffers kept for reuse.
const POOL_MAX: usize = 64;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn take_buffer() -> Vec<u8> {
    POOL.lock().ok().and_then(|mut p| p.pop()).unwrap_or_else(|| vec![0u8; CHUNK + ALIGN])
}

fn give_back(buf: Vec<u8>) {
    if let Ok(mut p) = POOL.lock()
        && p.len() < POOL_MAX
    {
        p.push(buf);
    }
}

/// A file being written with `O_DIRECT` (see the module documentation).
pub struct DirectSink {
    file: File,
    /// `CHUNK + ALIGN` bytes; the chunk starts at `start` (aligned in memory).
    buf: Vec<u8>,
    start: usize,
    /// Bytes gathered in the chunk.
    pending: usize,
    /// Where the next chunk goes in the file.
    offset: u64,
    /// Writes still bypass the page cache.
    direct: bool,
}

/// Creates (or truncates) `path` for writing, with `O_DIRECT` where the file system has it.
pub fn create(path: &Path) -> io::Result<Box<dyn FileSink>> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    let (file, direct) = match o.clone().custom_flags(OFlags::DIRECT.bits() as i32).open(path) {
        Ok(f) => (f, true),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => (o.open(path)?, false),
        Err(e) => return Err(e),
    };
    if !direct {
        return Ok(Box::new(Buffered(file)));
    }
    let buf = take_buffer();
    let start = buf.as_ptr().align_offset(ALIGN);
    if start + CHUNK > buf.len() {
        return Ok(Box::new(Buffered(file)));
    }
    Ok(Box::new(DirectSink { file, buf, start, pending: 0, offset: 0, direct }))
}

/// A plain file (no `O_DIRECT` here).
struct Buffered(File);

impl FileSink for Buffered {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(self: Box<Self>) -> io::Result<()> {
        self.0.sync_all()
    }
    fn close(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

impl DirectSink {
    /// Writes `len` gathered bytes (aligned, unless the file no longer bypasses the cache).
    fn write_out(&mut self, len: usize) -> io::Result<()> {
        let range = self.start..self.start + len;
        match self.file.write_all_at(&self.buf[range.clone()], self.offset) {
            // A block size over `ALIGN`: go on through the page cache.
            Err(e) if self.direct && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                self.buffered()?;
                self.file.write_all_at(&self.buf[range], self.offset)?;
            }
            r => r?,
        }
        self.offset += len as u64;
        Ok(())
    }

    fn buffered(&mut self) -> io::Result<()> {
        if self.direct {
            let flags = rustix::fs::fcntl_getfl(&self.file)?;
            rustix::fs::fcntl_setfl(&self.file, flags - OFlags::DIRECT)?;
            self.direct = false;
        }
        Ok(())
    }

    /// Writes what is gathered: its aligned part directly, the rest through the page cache.
    fn finish(&mut self) -> io::Result<()> {
        let aligned = self.pending / ALIGN * ALIGN;
        if aligned > 0 {
            self.write_out(aligned)?;
            self.buf.copy_within(self.start + aligned..self.start + self.pending, self.start);
            self.pending -= aligned;
        }
        if self.pending > 0 {
            self.buffered()?;
            let n = self.pending;
            self.write_out(n)?;
            self.pending = 0;
        }
        Ok(())
    }
}

impl Drop for DirectSink {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

impl FileSink for DirectSink {
    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (CHUNK - self.pending).min(data.len());
            let at = self.start + self.pending;
            self.buf[at..at + take].copy_from_slice(&data[..take]);
            self.pending += take;
            data = &data[take..];
            if self.pending == CHUNK {
                self.write_out(CHUNK)?;
                self.pending = 0;
            }
        }
        Ok(())
    }
    fn sync(mut self: Box<Self>) -> io::Result<()> {
        self.finish()?;
        self.file.sync_all()
    }
    fn close(mut self: Box<Self>) -> io::Result<()> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of every length around the chunk and alignment edges read back exactly.
    #[test]
    fn files_read_back_with_exactly_the_bytes_written() {
        let dir = tempfile::tempdir().unwrap();
        for (i, len) in [0, 1, 31, ALIGN - 1, ALIGN, ALIGN + 1, CHUNK - 1, CHUNK, CHUNK + 33, 3 * CHUNK + ALIGN + 7]
            .into_iter()
            .enumerate()
        {
            let body: Vec<u8> = (0..len).map(|x| (x * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{i}"));
            let mut f = create(&path).unwrap();
            // Appends of uneven sizes, like a frame header then a shard.
            for piece in body.chunks(32 + i * 1000) {
                f.write_all(piece).unwrap();
            }
            if i % 2 == 0 {
                f.sync().unwrap()
            } else {
                f.close().unwrap()
            }
            assert_eq!(std::fs::read(&path).unwrap(), body, "length {len}");
        }
        // A file rewritten shorter is truncated.
        let path = dir.path().join("f9");
        let mut f = create(&path).unwrap();
        f.write_all(b"short").unwrap();
        f.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"short");
    }
}

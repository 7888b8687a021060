//! `LocalDisk`: a drive that is a folder on this node, through `std::fs`. This module must
//! never touch a path outside its root (every path goes through `check_rel`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use super::flush::Flusher;
use super::{DiskIo, Entry, FileSink, FileSource, Stat, Usage, check_rel, check_rel_or_root};

#[derive(Clone)]
pub struct LocalDisk {
    root: PathBuf,
    location: String,
    /// The group commit of the drive's file system, found at the first commit and again
    /// whenever the folder a commit lands in is on another file system (a drive replaced
    /// under the same path while running).
    flusher: Arc<Mutex<Option<Arc<Flusher>>>>,
}

impl std::fmt::Debug for LocalDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDisk").field("root", &self.root).finish()
    }
}

impl LocalDisk {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let location = root.display().to_string();
        Self { root, location, flusher: Default::default() }
    }

    /// The flusher of file system `dev`, which holds `dir` (an existing folder).
    fn flusher_for(&self, dev: u64, dir: &Path) -> io::Result<Arc<Flusher>> {
        let mut cached = self.flusher.lock().map_err(|_| io::Error::other("flusher cache poisoned"))?;
        if let Some(f) = cached.as_ref().filter(|f| f.dev() == dev) {
            return Ok(Arc::clone(f));
        }
        let f = super::flush::for_path(dir)?;
        *cached = Some(Arc::clone(&f));
        Ok(f)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DiskIo::commit` of a file already closed (written by another process or through the
    /// shard RPC): moved to `to` and made durable, with its folders, in a shared flush.
    pub fn commit_closed(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.commit_closed_abs(&self.abs(from)?, &self.abs(to)?)
    }

    fn commit_closed_abs(&self, from_abs: &Path, to_abs: &Path) -> io::Result<()> {
        let dir = to_abs.parent().unwrap_or(&self.root).to_path_buf();
        let dev = create_dirs(Some(&self.root), &dir, false)?;
        fs::rename(from_abs, to_abs)?;
        // The file's pages, its inode, the new folders and both folder entries are all in
        // this file system's next flush.
        self.flusher_for(dev, &dir)?.flush()
    }

    fn abs(&self, rel: &Path) -> io::Result<PathBuf> {
        check_rel(rel)?;
        Ok(self.root.join(rel))
    }

    /// `abs`, where `""` (the root) is allowed.
    fn abs_or_root(&self, rel: &Path) -> io::Result<PathBuf> {
        check_rel_or_root(rel)?;
        Ok(self.root.join(rel))
    }
}

fn mtime_ns(m: &fs::Metadata) -> i64 {
    m.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64)
}

/// Makes `dir`'s entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, each new entry made durable in its parent. With
/// `stop`, never creates `stop` itself or anything above it (a drive folder that vanished is
/// not silently recreated on another file system).
pub fn create_dirs_durable(stop: Option<&Path>, dir: &Path) -> io::Result<()> {
    create_dirs(stop, dir, true).map(|_| ())
}

/// `create_dirs_durable`, where `durable: false` leaves making the new entries durable to a
/// later flush of the file system. Returns the id of the file system `dir` is on (that of
/// its nearest existing folder: the new ones are made there), found with one `stat` of each
/// folder looked at.
fn create_dirs(stop: Option<&Path>, dir: &Path, durable: bool) -> io::Result<u64> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    let mut dev = None;
    while let Some(c) = cur {
        if let Ok(m) = fs::metadata(c)
            && m.is_dir()
        {
            dev = Some(m.dev());
            break;
        }
        if stop.is_some_and(|s| c == s || !c.starts_with(s)) {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{} is missing", c.display())));
        }
        missing.push(c);
        cur = c.parent();
    }
    for d in missing.iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if let Some(parent) = d.parent()
            && durable
        {
            sync_dir(parent)?;
        }
    }
    match dev {
        Some(dev) => Ok(dev),
        // Made from the file system's root down (a relative path with no existing folder).
        None => Ok(fs::metadata(dir)?.dev()),
    }
}

/// Writes `body` to `path` atomically and durably (a temporary file beside it, fsync, rename,
/// fsync of the folder); the folder must exist. A failed write leaves no temporary file.
pub fn write_file_durable(path: &Path, body: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

struct LocalSource {
    file: File,
    len: u64,
}

impl FileSource for LocalSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
}

impl DiskIo for LocalDisk {
    fn location(&self) -> &str {
        &self.location
    }

    fn create(&self, rel: &Path) -> io::Result<Box<dyn FileSink>> {
        let p = self.abs(rel)?;
        if let Some(dir) = p.parent()
            && !dir.is_dir()
        {
            // Durable or not does not matter here (a file's place is made durable by
            // `rename_durable`); never above the drive's root.
            create_dirs_durable(Some(&self.root), dir)?;
        }
        super::direct::create(&p)
    }

    fn open(&self, rel: &Path) -> io::Result<Box<dyn FileSource>> {
        let file = File::open(self.abs(rel)?)?;
        let m = file.metadata()?;
        if m.is_dir() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{rel:?} is a folder")));
        }
        Ok(Box::new(LocalSource { len: m.len(), file }))
    }

    fn commit(&self, file: Box<dyn FileSink>, from: &Path, to: &Path) -> io::Result<()> {
        let (from_abs, to_abs) = (self.abs(from)?, self.abs(to)?);
        file.close()?;
        self.commit_closed_abs(&from_abs, &to_abs)
    }

    fn rename_durable(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (self.abs(from)?, self.abs(to)?);
        let dir = to.parent().unwrap_or(&self.root).to_path_buf();
        create_dirs_durable(Some(&self.root), &dir)?;
        fs::rename(&from, &to)?;
        sync_dir(&dir)
    }

    fn link_durable(&self, links: &[(PathBuf, PathBuf)]) -> io::Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (from, to) in links {
            let (from, to) = (self.abs(from)?, self.abs(to)?);
            let dir = to.parent().unwrap_or(&self.root).to_path_buf();
            if !dirs.contains(&dir) {
                create_dirs_durable(Some(&self.root), &dir)?;
                dirs.push(dir);
            }
            fs::hard_link(&from, &to)?;
        }
        dirs.iter().try_for_each(|d| sync_dir(d))
    }

    fn write_durable(&self, rel: &Path, body: &[u8]) -> io::Result<()> {
        let path = self.abs(rel)?;
        create_dirs_durable(Some(&self.root), path.parent().unwrap_or(&self.root))?;
        write_file_durable(&path, body)
    }

    fn read_all(&self, rel: &Path, max: u64) -> io::Result<Vec<u8>> {
        let f = File::open(self.abs(rel)?)?;
        let mut out = Vec::new();
        f.take(max + 1).read_to_end(&mut out)?;
        if out.len() as u64 > max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{rel:?} is over {max} bytes")));
        }
        Ok(out)
    }

    fn remove_all(&self, rel: &Path) -> io::Result<()> {
        let p = self.abs(rel)?;
        let res = match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p),
            Ok(_) => fs::remove_file(&p),
            Err(e) => Err(e),
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn remove_durable(&self, rel: &Path) -> io::Result<()> {
        self.remove_all(rel)?;
        let p = self.abs(rel)?;
        match p.parent() {
            Some(dir) if dir.exists() => sync_dir(dir),
            _ => Ok(()),
        }
    }

    fn walk(&self, rel: &Path, q: &super::walk::WalkQuery) -> io::Result<Vec<super::walk::Entry>> {
        Ok(q.walk().run(&self.abs_or_root(rel)?))
    }

    fn remove_empty_dir(&self, rel: &Path) -> io::Result<bool> {
        match fs::remove_dir(self.abs(rel)?) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self, rel: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.abs_or_root(rel)?)? {
            let e = e?;
            let Ok(name) = e.file_name().into_string() else { continue };
            let m = e.metadata()?;
            out.push(Entry { name, is_dir: m.is_dir(), is_file: m.is_file(), mtime_ns: mtime_ns(&m) });
        }
        Ok(out)
    }

    fn stat(&self, rel: &Path) -> io::Result<Stat> {
        let m = fs::metadata(self.abs_or_root(rel)?)?;
        Ok(Stat { len: m.len(), is_dir: m.is_dir(), mtime_ns: mtime_ns(&m) })
    }

    fn usage(&self) -> io::Result<Usage> {
        let s = rustix::fs::statvfs(&self.root).map_err(io::Error::from)?;
        Ok(Usage { total_bytes: s.f_blocks * s.f_frsize, free_bytes: s.f_bavail * s.f_frsize })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_disk_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(dir.path());
        super::super::suite::run_all(&disk).unwrap();
        assert!(!dir.path().join("escape").exists());
    }

    /// A drive folder that vanished (unmounted, removed) is never recreated by a write.
    #[test]
    fn a_vanished_drive_folder_is_not_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("drive");
        let disk = LocalDisk::new(&root);
        assert!(disk.create(Path::new("tmp/x/part.1")).is_err());
        assert!(disk.write_durable(Path::new("sys/format.json"), b"{}").is_err());
        assert!(disk.rename_durable(Path::new("a"), Path::new("b/c")).is_err());
        assert!(!root.exists(), "the drive folder stays absent");
    }
}

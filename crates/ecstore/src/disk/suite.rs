//! The conformance checks every `DiskIo` passes (a local folder, a drive of another node over
//! the shard RPC): files written, synced, moved durably and read back at offsets; atomic
//! replacement; listings and stats; removal; paths that would leave the drive refused; size
//! limits. Each check returns `Err(what went wrong)` and writes only under `suite/`.
//! This module does nothing but call the `DiskIo` it is handed.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::DiskIo;

type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A file written in pieces, synced, moved into a new folder and read back at offsets.
pub fn write_move_read(d: &dyn DiskIo) -> Check {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut f = d.create(p("suite/tmp/w1/part.1")).map_err(err("create"))?;
    for chunk in body.chunks(70_000) {
        f.write_all(chunk).map_err(err("write"))?;
    }
    f.sync().map_err(err("sync"))?;
    d.rename_durable(p("suite/tmp/w1/part.1"), p("suite/data/ab/dir/part.1")).map_err(err("rename"))?;
    ensure!(d.stat(p("suite/tmp/w1/part.1")).is_err(), "the moved file left its old place");
    let r = d.open(p("suite/data/ab/dir/part.1")).map_err(err("open"))?;
    ensure!(r.len() == body.len() as u64, "length {} after writing {}", r.len(), body.len());
    let mut buf = vec![0u8; 1000];
    r.read_exact_at(&mut buf, 123_456).map_err(err("read_at"))?;
    ensure!(buf == body[123_456..124_456], "bytes at an offset are the bytes written there");
    let mut tail = vec![0u8; 10];
    ensure!(r.read_exact_at(&mut tail, body.len() as u64 - 5).is_err(), "a read past the end fails");
    let mut empty = d.create(p("suite/tmp/w1/empty")).map_err(err("create empty"))?;
    empty.write_all(&[]).map_err(err("write nothing"))?;
    empty.sync().map_err(err("sync empty"))?;
    ensure!(d.open(p("suite/tmp/w1/empty")).map_err(err("open empty"))?.is_empty(), "an empty file is empty");
    ensure!(d.open(p("suite/missing")).is_err_and(|e| e.kind() == ErrorKind::NotFound), "a missing file is NotFound");
    ensure!(d.open(p("suite/data")).is_err(), "a folder does not open as a file");
    Ok(())
}

/// Files committed (closed, moved into new folders, made durable together) from several
/// threads at once read back whole at their new place; a commit to a path leaving the drive
/// is refused and leaves the file where it was.
pub fn commit_files(d: &dyn DiskIo) -> Check {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|t| {
                s.spawn(move || -> Check {
                    for i in 0..5 {
                        let body: Vec<u8> = (0..10_000u32 + t * 7 + i).map(|x| (x % 253) as u8).collect();
                        let from = PathBuf::from(format!("suite/tmp/c{t}-{i}"));
                        let to = PathBuf::from(format!("suite/data/c{t}/{i}/part.1"));
                        let mut f = d.create(&from).map_err(err("create"))?;
                        f.write_all(&body).map_err(err("write"))?;
                        d.commit(f, &from, &to).map_err(err("commit"))?;
                        ensure!(d.stat(&from).is_err(), "the committed file left its old place");
                        let r = d.open(&to).map_err(err("open committed"))?;
                        let mut back = vec![0u8; body.len()];
                        r.read_exact_at(&mut back, 0).map_err(err("read committed"))?;
                        ensure!(back == body && r.len() == body.len() as u64, "a committed file reads back whole");
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| Err("a commit thread panicked".into())))
    })?;
    let f = d.create(p("suite/tmp/c-bad")).map_err(err("create"))?;
    ensure!(d.commit(f, p("suite/tmp/c-bad"), p("../c-bad")).is_err(), "a commit leaving the drive is refused");
    ensure!(d.stat(p("suite/tmp/c-bad")).is_ok(), "a refused commit leaves the file");
    Ok(())
}

/// Files linked under new names into a new folder read the same under both; a name
/// already taken is refused.
pub fn link_files(d: &dyn DiskIo) -> Check {
    d.write_durable(p("suite/ln/a/part.1.x"), b"one").map_err(err("write"))?;
    d.write_durable(p("suite/ln/a/part.2.y"), b"two").map_err(err("write"))?;
    let links = [
        (PathBuf::from("suite/ln/a/part.1.x"), PathBuf::from("suite/ln/b/part.1")),
        (PathBuf::from("suite/ln/a/part.2.y"), PathBuf::from("suite/ln/b/part.2")),
    ];
    d.link_durable(&links).map_err(err("link"))?;
    ensure!(d.read_all(p("suite/ln/b/part.2"), 10).map_err(err("read link"))? == b"two", "the new name reads");
    ensure!(d.read_all(p("suite/ln/a/part.1.x"), 10).map_err(err("read old"))? == b"one", "the old name stays");
    ensure!(d.link_durable(&links[..1]).is_err(), "a name already taken");
    d.remove_all(p("suite/ln/a")).map_err(err("remove old"))?;
    ensure!(d.read_all(p("suite/ln/b/part.1"), 10).map_err(err("read after"))? == b"one", "outlives the old name");
    let out = [(PathBuf::from("suite/ln/b/part.1"), PathBuf::from("../escape"))];
    ensure!(d.link_durable(&out).is_err(), "a link out of the drive");
    Ok(())
}

/// `write_durable` replaces atomically; `read_all` honours its limit.
pub fn durable_small_files(d: &dyn DiskIo) -> Check {
    d.write_durable(p("suite/sys/new/format.json"), b"one").map_err(err("write_durable"))?;
    d.write_durable(p("suite/sys/new/format.json"), b"second").map_err(err("overwrite"))?;
    ensure!(d.read_all(p("suite/sys/new/format.json"), 100).map_err(err("read_all"))? == b"second", "last write wins");
    ensure!(
        d.read_all(p("suite/sys/new/format.json"), 3).is_err_and(|e| e.kind() == ErrorKind::InvalidData),
        "a file over the limit is refused"
    );
    let names: Vec<String> = d.list(p("suite/sys/new")).map_err(err("list"))?.into_iter().map(|e| e.name).collect();
    ensure!(names == ["format.json"], "no temporary file is left behind: {names:?}");
    ensure!(
        d.read_all(p("suite/sys/none"), 10).is_err_and(|e| e.kind() == ErrorKind::NotFound),
        "a missing file is NotFound"
    );
    Ok(())
}

/// Listings, stats and removal.
pub fn list_stat_remove(d: &dyn DiskIo) -> Check {
    d.write_durable(p("suite/tree/a/f1"), b"12345").map_err(err("write"))?;
    d.write_durable(p("suite/tree/b/f2"), b"").map_err(err("write"))?;
    d.write_durable(p("suite/tree/f3"), b"x").map_err(err("write"))?;
    let mut l = d.list(p("suite/tree")).map_err(err("list"))?;
    l.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&str, bool, bool)> = l.iter().map(|e| (e.name.as_str(), e.is_dir, e.is_file)).collect();
    ensure!(got == [("a", true, false), ("b", true, false), ("f3", false, true)], "listing: {got:?}");
    ensure!(l.iter().all(|e| e.mtime_ns > 0), "entries carry their mtime");
    let s = d.stat(p("suite/tree/a/f1")).map_err(err("stat"))?;
    ensure!(s.len == 5 && !s.is_dir, "stat of a file: {s:?}");
    ensure!(d.stat(p("suite/tree/a")).map_err(err("stat dir"))?.is_dir, "stat of a folder");
    ensure!(d.stat(p("suite/tree/zz")).is_err_and(|e| e.kind() == ErrorKind::NotFound), "stat of nothing");
    ensure!(d.list(p("suite/tree/zz")).is_err_and(|e| e.kind() == ErrorKind::NotFound), "list of nothing");
    ensure!(!d.remove_empty_dir(p("suite/tree/a")).map_err(err("rmdir"))?, "a full folder stays");
    d.remove_all(p("suite/tree/a/f1")).map_err(err("remove a file"))?;
    ensure!(d.remove_empty_dir(p("suite/tree/a")).map_err(err("rmdir"))?, "an empty folder goes");
    ensure!(!d.remove_empty_dir(p("suite/tree/a")).map_err(err("rmdir again"))?, "a missing folder is no error");
    d.remove_all(p("suite/tree")).map_err(err("remove_all"))?;
    ensure!(d.stat(p("suite/tree")).is_err(), "remove_all removes the whole tree");
    d.remove_all(p("suite/tree")).map_err(err("remove_all again"))?;
    let u = d.usage().map_err(err("usage"))?;
    ensure!(u.total_bytes > 0 && u.free_bytes <= u.total_bytes, "usage: {u:?}");
    Ok(())
}

/// The key walk of a bucket folder, and durable removal.
pub fn walk_and_remove_durable(d: &dyn DiskIo) -> Check {
    for k in
        ["a/xl.meta", "a-b/xl.meta", "a/x/xl.meta", "b/c/xl.meta", "b/c/1e2f0a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b/part.1"]
    {
        d.write_durable(&Path::new("suite/bkt").join(k), b"x").map_err(err("write"))?;
    }
    let q = |after: Option<&str>, slash, limit| super::walk::WalkQuery {
        prefix: String::new(),
        after: after.map(str::to_string),
        slash_delimiter: slash,
        limit,
        xl_json: false,
    };
    let names = |v: Vec<super::walk::Entry>| -> Vec<String> { v.iter().map(|e| e.name().to_string()).collect() };
    let all = names(d.walk(p("suite/bkt"), &q(None, false, 100)).map_err(err("walk"))?);
    ensure!(all == ["a", "a-b", "a/x", "b/c"], "keys in byte order, no data dir: {all:?}");
    let page = names(d.walk(p("suite/bkt"), &q(Some("a-b"), true, 1)).map_err(err("walk page"))?);
    ensure!(page == ["a/"], "a page after a marker, with the delimiter: {page:?}");
    ensure!(
        d.walk(p("suite/none"), &q(None, false, 10)).map_err(err("walk nothing"))?.is_empty(),
        "no folder, no keys"
    );
    d.remove_durable(p("suite/bkt/a/xl.meta")).map_err(err("remove_durable"))?;
    ensure!(d.stat(p("suite/bkt/a/xl.meta")).is_err(), "removed");
    d.remove_durable(p("suite/bkt/a/xl.meta")).map_err(err("remove_durable again"))?;
    ensure!(
        d.remove_durable(p("")).is_err() && d.remove_durable(p("../x")).is_err(),
        "remove_durable of the root or outside"
    );
    d.remove_all(p("suite/bkt")).map_err(err("cleanup"))
}

/// Paths that would leave the drive are refused by every call; the root (`""`) may be
/// listed and stated, never changed.
pub fn escapes_refused(d: &dyn DiskIo) -> Check {
    let root = p("");
    ensure!(d.list(root).map_err(err("list the root"))?.iter().any(|e| e.name == "suite"), "the root lists");
    ensure!(d.stat(root).map_err(err("stat the root"))?.is_dir, "the root is a folder");
    ensure!(d.create(root).is_err(), "create the root");
    ensure!(d.write_durable(root, b"x").is_err(), "write_durable the root");
    ensure!(d.remove_all(root).is_err(), "remove_all the root");
    ensure!(d.remove_empty_dir(root).is_err(), "remove_empty_dir the root");
    ensure!(d.rename_durable(root, p("suite/x")).is_err(), "rename the root");
    for bad in ["../escape", "/tmp/escape", "suite/../../escape", "./suite"] {
        let q = p(bad);
        ensure!(d.create(q).is_err(), "create {bad:?}");
        ensure!(d.open(q).is_err(), "open {bad:?}");
        ensure!(d.write_durable(q, b"x").is_err(), "write_durable {bad:?}");
        ensure!(d.read_all(q, 10).is_err(), "read_all {bad:?}");
        ensure!(d.remove_all(q).is_err(), "remove_all {bad:?}");
        ensure!(d.remove_empty_dir(q).is_err(), "remove_empty_dir {bad:?}");
        ensure!(d.list(q).is_err(), "list {bad:?}");
        ensure!(d.stat(q).is_err(), "stat {bad:?}");
        ensure!(d.rename_durable(p("suite/x"), q).is_err(), "rename to {bad:?}");
        ensure!(d.rename_durable(q, p("suite/x")).is_err(), "rename from {bad:?}");
    }
    Ok(())
}

/// Every check, in order; cleans `suite/` up at the end.
pub fn run_all(d: &dyn DiskIo) -> Check {
    write_move_read(d)?;
    commit_files(d)?;
    durable_small_files(d)?;
    link_files(d)?;
    list_stat_remove(d)?;
    walk_and_remove_durable(d)?;
    escapes_refused(d)?;
    d.remove_all(p("suite")).map_err(err("final cleanup"))
}

//! Adopting a MinIO deployment in place: finds MinIO's `.minio.sys/format.json` on the
//! drives of each pool given (MinIO's pools share the deployment id; each pool has its own
//! sets, set size and distribution), checks that they describe one deployment whose drive
//! counts match, and orders each pool's drives as MinIO's sets do (by each drive's uuid,
//! whatever the order of the arguments, as MinIO itself places them). Drives without
//! MinIO's format (a replaced drive, one of another deployment) take the positions no drive
//! of their pool claims, in argument order, and are then formatted or refused by `drives`.
//! A cluster's drives keep their places in MinIO's endpoint order instead
//! (`detect_cluster`). It also takes stock of what is adopted (pools, buckets, an object
//! count estimate) for the start-up log and `rustfs-admin info`.
//!
//! This module only reads: it must never write to a drive (formats are written by
//! `drives`, bucket records by the legacy store) nor touch MinIO's files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::disk::DiskIo;
use crate::drives::{FORMAT_FILE, Format, SYS_DIR};
use crate::minio::MinioFormat;
use crate::minio::format::{FORMAT_FILE as MINIO_FORMAT_FILE, MINIO_SYS};

/// What the adoption found, as logged at start and shown by `rustfs-admin info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AdoptionReport {
    pub deployment_id: String,
    /// The first pool's distribution algorithm, set size and code of new objects (each
    /// pool's are in `pools`); `sets`: the sets of every pool.
    pub distribution: String,
    pub sets: usize,
    pub drives_per_set: usize,
    /// Data and parity shards of new objects (MinIO's default for the set size).
    pub data: usize,
    pub parity: usize,
    /// Each pool, in pool order.
    #[serde(default)]
    pub pools: Vec<PoolReport>,
    /// MinIO drive uuids no drive given carries (missing, or replaced by an empty drive).
    pub unclaimed: Vec<String>,
    /// Drives given that carry no MinIO format of this deployment, with why.
    pub other_drives: Vec<String>,
    /// Buckets found on the drives (top-level folders with bucket names).
    pub buckets: Vec<String>,
    /// Objects counted on one drive (xl.meta files), up to `objects_capped` entries walked.
    pub objects: u64,
    pub objects_capped: bool,
    /// What MinIO keeps that this server does not take over (left as it is in `.minio.sys`).
    pub not_imported: Vec<String>,
}

/// One pool of an adopted deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PoolReport {
    /// The pool's drive arguments, as MinIO's command line gave them.
    pub args: String,
    pub sets: usize,
    pub drives_per_set: usize,
    pub distribution: String,
    /// Data and parity shards of new objects on the pool (MinIO's parity is the first
    /// pool's default, for every pool).
    pub data: usize,
    pub parity: usize,
    /// `active`, or why the pool takes no new objects (MinIO's decommission).
    pub state: String,
}

impl PoolReport {
    /// A pool of `format`'s sets, with MinIO's parity `parity` (the first pool's default).
    pub fn of(format: &MinioFormat, args: &str, parity: usize) -> Self {
        let per_set = format.drives_per_set();
        Self {
            args: args.to_string(),
            sets: format.xl.sets.len(),
            drives_per_set: per_set,
            distribution: format.xl.distribution_algo.clone(),
            data: per_set.saturating_sub(parity),
            parity,
            state: "active".into(),
        }
    }
}

/// A MinIO deployment found on the drives.
#[derive(Debug, Clone)]
pub struct Adoption {
    /// MinIO's format of each pool, in pool order (on a cluster, `None` for a pool none of
    /// this node's drives is in: it is read from another node's drive when the drives are
    /// opened, see [`Adoption::complete`]).
    pub formats: Vec<Option<MinioFormat>>,
    /// The drives in MinIO's set order (set by set, pool by pool); on a cluster, this
    /// node's drives only.
    pub drives: Vec<PathBuf>,
    pub report: AdoptionReport,
}

impl Adoption {
    /// The formats of every pool, once each is known.
    pub fn known_formats(&self) -> Option<Vec<MinioFormat>> {
        self.formats.iter().cloned().collect()
    }

    /// Completes the adoption with the format of every pool (`formats`, those this node
    /// knew first among them) and the pools' arguments: fills the report's pools.
    pub fn complete(&mut self, formats: Vec<MinioFormat>, args: &[String]) {
        let parity = formats.first().map_or(0, |f| crate::minio::format::default_parity(f.drives_per_set()));
        let r = &mut self.report;
        r.pools = formats
            .iter()
            .enumerate()
            .map(|(i, f)| PoolReport::of(f, args.get(i).map_or("", String::as_str), parity))
            .collect();
        r.sets = r.pools.iter().map(|p| p.sets).sum();
        if let Some(first) = formats.first() {
            r.deployment_id = first.id.clone();
            r.distribution = first.xl.distribution_algo.clone();
            r.drives_per_set = first.drives_per_set();
            r.data = r.drives_per_set.saturating_sub(parity);
            r.parity = parity;
        }
        self.formats = formats.into_iter().map(Some).collect();
    }
}

/// Most directory entries walked to estimate the object count.
const COUNT_WALK_LIMIT: u64 = 200_000;

fn minio_format(drive: &Path) -> Option<Result<MinioFormat, String>> {
    let p = drive.join(MINIO_SYS).join(MINIO_FORMAT_FILE);
    match std::fs::read(&p) {
        Ok(b) => Some(MinioFormat::parse(&b).map_err(|e| format!("{}: {e}", p.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot read {}: {e}", p.display()))),
    }
}

/// Our format on a drive, if it records an adopted MinIO drive.
fn adopted_uuid(drive: &Path) -> Option<String> {
    let b = std::fs::read(drive.join(SYS_DIR).join(FORMAT_FILE)).ok()?;
    serde_json::from_slice::<Format>(&b).ok()?.minio_drive
}

type Found = Vec<Option<Result<MinioFormat, String>>>;

/// The deployment most of `paths` describe, with what each path carries. `Ok(None)`: no
/// drive carries MinIO's format.
fn reference(paths: &[PathBuf]) -> Result<Option<(MinioFormat, Found)>, String> {
    let found: Found = paths.iter().map(|p| minio_format(p)).collect();
    let mut groups: Vec<(MinioFormat, usize)> = Vec::new();
    for f in found.iter().flatten().flatten() {
        match groups.iter_mut().find(|(g, _)| g.same_deployment(f)) {
            Some((_, n)) => *n += 1,
            None => groups.push((f.clone(), 1)),
        }
    }
    groups.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let Some((reference, n)) = groups.first().cloned() else {
        if let Some(Some(Err(e))) = found.iter().find(|f| matches!(f, Some(Err(_)))) {
            return Err(format!("a drive carries a MinIO format this server cannot adopt: {e}"));
        }
        return Ok(None);
    };
    if groups.get(1).is_some_and(|(_, m)| *m == n) {
        return Err("the drives carry MinIO formats of different deployments in equal numbers".into());
    }
    Ok(Some((reference, found)))
}

/// The MinIO drive uuid a drive carries (MinIO's format, or ours recording it), or why not
/// (pushed to `other_drives`).
fn drive_uuid(
    p: &Path,
    f: &Option<Result<MinioFormat, String>>,
    reference: &MinioFormat,
    other_drives: &mut Vec<String>,
) -> Option<String> {
    match f {
        Some(Ok(f)) if f.same_deployment(reference) => Some(f.xl.this.clone()),
        Some(Ok(f)) if f.id == reference.id => {
            other_drives.push(format!("{}: a drive of another pool of this MinIO deployment", p.display()));
            None
        }
        Some(Ok(f)) => {
            other_drives.push(format!("{}: MinIO deployment {}", p.display(), f.id));
            None
        }
        Some(Err(e)) => {
            other_drives.push(e.clone());
            None
        }
        None => {
            let ours = adopted_uuid(p);
            if ours.is_none() {
                other_drives.push(format!("{}: no MinIO format", p.display()));
            }
            ours
        }
    }
}

fn check_count(reference: &MinioFormat, given: usize, pool: usize) -> Result<(), String> {
    let per_set = reference.drives_per_set();
    let total = reference.xl.sets.len() * per_set;
    if given != total {
        return Err(format!(
            "MinIO's format.json of pool {} describes {} sets of {per_set} drives ({total} in all); {given} drives given (give every drive of the deployment, as MinIO was started with)",
            pool + 1,
            reference.xl.sets.len(),
        ));
    }
    Ok(())
}

/// Checks that the pools' formats are one deployment's (one id) and different pools.
fn check_pools(formats: &[&MinioFormat]) -> Result<(), String> {
    let Some(first) = formats.first() else { return Ok(()) };
    for (i, f) in formats.iter().enumerate().skip(1) {
        if f.id != first.id {
            return Err(format!("pool {} belongs to MinIO deployment {}, pool 1 to {}", i + 1, f.id, first.id));
        }
        if let Some(j) = formats[..i].iter().position(|g| g.xl.sets == f.xl.sets) {
            return Err(format!(
                "pools {} and {} are the same MinIO pool (the same drives given twice?)",
                j + 1,
                i + 1
            ));
        }
    }
    Ok(())
}

/// One pool's drives in MinIO's set order, from `paths` (bare paths of this node): with
/// `reference`, its format; unclaimed uuids and other drives added to the lists given.
fn order_pool(
    paths: &[PathBuf],
    reference: &MinioFormat,
    found: &Found,
    unclaimed: &mut Vec<String>,
    other_drives: &mut Vec<String>,
) -> Result<Vec<PathBuf>, String> {
    let per_set = reference.drives_per_set();
    let mut slots: Vec<Option<PathBuf>> = vec![None; paths.len()];
    let mut rest = Vec::new();
    for (p, f) in paths.iter().zip(found) {
        let uuid = drive_uuid(p, f, reference, other_drives);
        match uuid.and_then(|u| reference.position_of(&u)) {
            Some((s, i)) => {
                let at = s * per_set + i;
                if let Some(other) = &slots[at] {
                    return Err(format!(
                        "drives {} and {} both claim MinIO drive {}",
                        other.display(),
                        p.display(),
                        reference.xl.sets[s][i]
                    ));
                }
                slots[at] = Some(p.clone());
            }
            None => rest.push(p.clone()),
        }
    }
    unclaimed.extend(
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(at, _)| reference.xl.sets[at / per_set][at % per_set].clone()),
    );
    let mut rest = rest.into_iter();
    Ok(slots.into_iter().map(|s| s.or_else(|| rest.next()).unwrap_or_default()).collect())
}

/// Looks for a MinIO deployment on `pools` (each pool's drives: bare paths of this node;
/// `args`, each pool's drive arguments for the report). `Ok(None)`: no drive carries
/// MinIO's format. An error when a pool's drives describe more than one deployment in equal
/// numbers, name a different drive count, or two drives claim one uuid; when some pools
/// carry MinIO's format and others none; or when the pools are not one deployment's.
pub fn detect(pools: &[Vec<PathBuf>], args: &[String]) -> Result<Option<Adoption>, String> {
    let mut refs = Vec::new();
    for paths in pools {
        refs.push(reference(paths)?);
    }
    if refs.iter().all(Option::is_none) {
        return Ok(None);
    }
    if let Some(i) = refs.iter().position(Option::is_none) {
        return Err(format!("the drives of pool {} carry no MinIO format.json, those of the other pools do", i + 1));
    }
    let refs: Vec<(MinioFormat, Found)> = refs.into_iter().flatten().collect();
    check_pools(&refs.iter().map(|(f, _)| f).collect::<Vec<_>>())?;
    let (mut unclaimed, mut other_drives, mut drives) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (paths, (reference, found))) in pools.iter().zip(&refs).enumerate() {
        check_count(reference, paths.len(), i)?;
        drives.extend(order_pool(paths, reference, found, &mut unclaimed, &mut other_drives)?);
    }
    let formats: Vec<MinioFormat> = refs.into_iter().map(|(f, _)| f).collect();
    let mut a = Adoption { formats: Vec::new(), report: report(&drives, unclaimed, other_drives), drives };
    a.complete(formats, args);
    Ok(Some(a))
}

/// The MinIO deployment most of `paths` (folders of this machine) describe, if any.
pub fn cluster_format(paths: &[PathBuf]) -> Result<Option<MinioFormat>, String> {
    Ok(reference(paths)?.map(|(f, _)| f))
}

/// Looks for a MinIO deployment of several nodes, from the drive folders of this node
/// (`mine`: each with its position in MinIO's endpoint order, see
/// `topology::Topology::minio`) and the drive positions of each pool (`pools`, in order). A
/// cluster's drives keep their positions (every node must place every drive alike, and a
/// node cannot read the others' drives before they start): a drive of this node carrying
/// another position's uuid is reported here, and refused when the drives are opened. The
/// format of a pool none of this node's drives is in stays unknown (`None`) until then.
/// `Ok(None)`: none of this node's drives carries MinIO's format.
pub fn detect_cluster(mine: &[(usize, PathBuf)], pools: &[std::ops::Range<usize>]) -> Result<Option<Adoption>, String> {
    let (mut unclaimed, mut other_drives) = (Vec::new(), Vec::new());
    let mut formats = Vec::new();
    for (p, range) in pools.iter().enumerate() {
        let here: Vec<&(usize, PathBuf)> = mine.iter().filter(|(at, _)| range.contains(at)).collect();
        let paths: Vec<PathBuf> = here.iter().map(|(_, p)| p.clone()).collect();
        let Some((reference, found)) = reference(&paths)? else {
            formats.push(None);
            continue;
        };
        check_count(&reference, range.len(), p)?;
        let per_set = reference.drives_per_set();
        for ((at, path), f) in here.iter().zip(&found) {
            let at = at - range.start;
            let want = &reference.xl.sets[at / per_set][at % per_set];
            match drive_uuid(path, f, &reference, &mut other_drives) {
                Some(u) if u == *want => {}
                Some(u) => {
                    other_drives.push(format!(
                        "{}: MinIO drive {u}, but its place in the drive list is MinIO drive {want}'s (drives swapped?)",
                        path.display()
                    ));
                    unclaimed.push(want.clone());
                }
                None => unclaimed.push(want.clone()),
            }
        }
        formats.push(Some(reference));
    }
    if formats.iter().all(Option::is_none) {
        return Ok(None);
    }
    check_pools(&formats.iter().flatten().collect::<Vec<_>>())?;
    let paths: Vec<PathBuf> = mine.iter().map(|(_, p)| p.clone()).collect();
    Ok(Some(Adoption { formats, report: report(&paths, unclaimed, other_drives), drives: paths }))
}

/// The MinIO format of each pool: `known`'s, and for a pool this node knows none of (none of
/// its drives is here), the `format.json` a drive of the pool carries (`drives`: every drive
/// of the deployment in order, other nodes' through the shard RPC; `ranges`: each pool's
/// positions), asked again until one answers: a node starting before the pool's nodes are
/// up waits for them, calling `waiting(pool, why)` before each pause. An error when every
/// drive of such a pool answers and none carries a format of this deployment with the
/// pool's drive count (and not another pool's). Blocking.
pub fn complete_formats(
    known: &[Option<MinioFormat>],
    drives: &[Arc<dyn DiskIo>],
    ranges: &[std::ops::Range<usize>],
    mut waiting: impl FnMut(usize, &str),
) -> Result<Vec<MinioFormat>, String> {
    let id = known.iter().flatten().next().map(|f| f.id.clone());
    let rel = Path::new(MINIO_SYS).join(MINIO_FORMAT_FILE);
    let mut out = Vec::with_capacity(known.len());
    for (p, k) in known.iter().enumerate() {
        if let Some(f) = k {
            out.push(f.clone());
            continue;
        }
        let range = ranges.get(p).cloned().unwrap_or_default();
        let mut pause = std::time::Duration::from_secs(1);
        let found = loop {
            let mut unreachable = None;
            let mut found = None;
            for io in drives.get(range.clone()).unwrap_or_default() {
                match io.read_all(&rel, 1 << 20) {
                    Ok(b) => match MinioFormat::parse(&b) {
                        Ok(f)
                            if id.as_ref().is_none_or(|i| *i == f.id)
                                && f.xl.sets.len() * f.drives_per_set() == range.len()
                                && !known.iter().flatten().any(|k| k.xl.sets == f.xl.sets) =>
                        {
                            found = Some(f);
                            break;
                        }
                        _ => {}
                    },
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => unreachable = Some(format!("{}: {e}", io.location())),
                }
            }
            match (found, unreachable) {
                (Some(f), _) => break f,
                (None, None) => {
                    return Err(format!(
                        "no drive of pool {} carries a MinIO format.json of this deployment for its {} drives",
                        p + 1,
                        range.len()
                    ));
                }
                (None, Some(why)) => {
                    waiting(p, &why);
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_secs(15));
                }
            }
        };
        out.push(found);
    }
    Ok(out)
}

/// What the adoption found on `drives` (this node's), for the log and `rustfs-admin info`
/// (the layout is filled in by [`Adoption::complete`]).
fn report(drives: &[PathBuf], unclaimed: Vec<String>, other_drives: Vec<String>) -> AdoptionReport {
    let (buckets, objects, objects_capped) = take_stock(drives);
    let mut not_imported = Vec::new();
    let sys = |rel: &str| drives.iter().any(|d| d.join(MINIO_SYS).join(rel).exists());
    if let Some(iam) = iam_inventory(drives) {
        not_imported.push(iam);
    }
    if sys("config/config.json") {
        not_imported.push("server configuration (.minio.sys/config/config.json: storage class, notification targets, ...): not read; new objects use MinIO's default parity".to_string());
    }
    AdoptionReport { unclaimed, other_drives, buckets, objects, objects_capped, not_imported, ..Default::default() }
}

/// The names of up to 8 entries, then how many more.
fn some_names(names: &BTreeSet<String>) -> String {
    let mut out: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    let more = names.len().saturating_sub(8);
    let tail = format!("{more} more");
    if more > 0 {
        out.push(&tail);
    }
    out.join(", ")
}

/// What MinIO's IAM store (`.minio.sys/config/iam`) holds, for the report: each user,
/// service account, group and policy is an object there (`users/<name>/identity.json`,
/// `service-accounts/<key>/identity.json`, `groups/<name>/members.json`,
/// `policies/<name>/policy.json`), so the folder names on the drives (any set's) say who
/// and what exists. Nothing is read or decrypted (MinIO may seal these with its
/// credentials or KMS) and nothing is imported: the access model that would enforce MinIO's
/// policies is not there yet, and users without their policies would gain access.
fn iam_inventory(drives: &[PathBuf]) -> Option<String> {
    let iam = Path::new(MINIO_SYS).join("config/iam");
    if !drives.iter().any(|d| d.join(&iam).is_dir()) {
        return None;
    }
    let names = |kind: &str, file: &str| -> BTreeSet<String> {
        drives
            .iter()
            .filter_map(|d| std::fs::read_dir(d.join(&iam).join(kind)).ok())
            .flat_map(|rd| rd.flatten())
            .filter(|e| e.path().join(file).exists())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect()
    };
    let users = names("users", "identity.json");
    let service_accounts = names("service-accounts", "identity.json");
    let groups = names("groups", "members.json");
    let policies = names("policies", "policy.json");
    let mut found = Vec::new();
    if !users.is_empty() {
        found.push(format!("{} users ({})", users.len(), some_names(&users)));
    }
    if !service_accounts.is_empty() {
        found.push(format!("{} service accounts", service_accounts.len()));
    }
    if !groups.is_empty() {
        found.push(format!("{} groups ({})", groups.len(), some_names(&groups)));
    }
    if !policies.is_empty() {
        found.push(format!("{} policies ({})", policies.len(), some_names(&policies)));
    }
    let what = if found.is_empty() { "no users, groups or policies".to_string() } else { found.join(", ") };
    Some(format!(
        "MinIO's IAM store (.minio.sys/config/iam): {what}; not imported (their policies cannot be enforced here yet): \
         recreate the users in the YAML users: list; MinIO's files are kept"
    ))
}

/// Whether `name` is a bucket name MinIO would list (S3's rules; so never `.minio.sys` nor
/// our own folder).
pub fn is_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
}

/// Buckets on any drive, and xl.meta files counted on the first drive that has buckets.
fn take_stock(drives: &[PathBuf]) -> (Vec<String>, u64, bool) {
    let mut buckets = std::collections::BTreeSet::new();
    for d in drives {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.file_type().is_ok_and(|t| t.is_dir()) && is_bucket_name(&name) {
                    buckets.insert(name);
                }
            }
        }
    }
    let mut objects = 0u64;
    let mut walked = 0u64;
    if let Some(d) = drives.iter().find(|d| buckets.iter().any(|b| d.join(b).is_dir())) {
        let mut stack: Vec<PathBuf> = buckets.iter().map(|b| d.join(b)).collect();
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for e in rd.flatten() {
                walked += 1;
                if walked > COUNT_WALK_LIMIT {
                    return (buckets.into_iter().collect(), objects, true);
                }
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                let meta = |n: &std::ffi::OsStr| n == crate::paths::XL_META || n == crate::xlmeta::v1::XL_JSON;
                if !is_dir && meta(&e.file_name()) {
                    // xl.meta, or MinIO's xl.json of a release before 2020 (not both: a
                    // folder with both counts once, by its xl.meta).
                    if e.file_name() == crate::paths::XL_META || !dir.join(crate::paths::XL_META).exists() {
                        objects += 1;
                    }
                } else if is_dir
                    && !dir.join(crate::paths::XL_META).exists()
                    && !dir.join(crate::xlmeta::v1::XL_JSON).exists()
                {
                    // Below an object are its data dirs, not more objects.
                    stack.push(e.path());
                }
            }
        }
    }
    (buckets.into_iter().collect(), objects, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_format(drive: &Path, id: &str, sets: &[Vec<String>], this: &str) {
        std::fs::create_dir_all(drive.join(MINIO_SYS)).unwrap();
        let f = serde_json::json!({"version": "1", "format": "xl", "id": id,
            "xl": {"version": "3", "this": this, "sets": sets, "distributionAlgo": "SIPMOD+PARITY"}});
        std::fs::write(drive.join(MINIO_SYS).join(MINIO_FORMAT_FILE), f.to_string()).unwrap();
    }

    const ID: &str = "5e7c3b2a-1f4d-4c8e-9a6b-2d3e4f5a6b7c";

    fn uuids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("00000000-0000-4000-8000-{i:012}")).collect()
    }

    #[test]
    fn drives_take_minio_positions_whatever_the_argument_order() {
        let t = tempfile::tempdir().unwrap();
        let u = uuids(5);
        let sets = vec![u.clone()];
        let paths: Vec<PathBuf> = (0..5).map(|i| t.path().join(format!("d{i}"))).collect();
        // Argument i carries MinIO drive (i + 2) % 5; drive 3 is a fresh, empty replacement.
        for (i, p) in paths.iter().enumerate() {
            std::fs::create_dir_all(p).unwrap();
            if i != 3 {
                write_format(p, ID, &sets, &u[(i + 2) % 5]);
            }
        }
        std::fs::create_dir_all(paths[0].join("photos/a.jpg")).unwrap();
        std::fs::write(paths[0].join("photos/a.jpg/xl.meta"), b"x").unwrap();
        // An object of a MinIO release before 2020 (xl.json, its part beside it).
        std::fs::create_dir_all(paths[0].join("photos/2019/b.jpg")).unwrap();
        std::fs::write(paths[0].join("photos/2019/b.jpg/xl.json"), b"{}").unwrap();
        std::fs::write(paths[0].join("photos/2019/b.jpg/part.1"), b"x").unwrap();
        std::fs::create_dir_all(paths[1].join(".minio.sys/buckets")).unwrap();
        // MinIO's IAM objects, on the drives of whichever set their names hash to.
        for (d, rel) in [
            (0, "users/alice/identity.json"),
            (1, "users/bob/identity.json"),
            (2, "users/alice/identity.json"),
            (2, "service-accounts/SVCACCT1/identity.json"),
            (4, "groups/ops/members.json"),
            (4, "policies/read-logs/policy.json"),
            (1, "policydb/users/alice.json"),
            (0, "users/half-written"),
        ] {
            std::fs::create_dir_all(paths[d].join(".minio.sys/config/iam").join(rel)).unwrap();
        }
        let a = detect(std::slice::from_ref(&paths), &["/d{0...4}".to_string()]).unwrap().unwrap();
        // Position (i + 2) % 5 holds argument i; position 0 (uuid 0, argument 3's) is unclaimed.
        assert_eq!(
            a.drives,
            vec![paths[3].clone(), paths[4].clone(), paths[0].clone(), paths[1].clone(), paths[2].clone()]
        );
        assert_eq!(a.report.unclaimed, vec![u[0].clone()]);
        assert_eq!((a.report.data, a.report.parity, a.report.sets), (3, 2, 1));
        assert_eq!((a.report.buckets.clone(), a.report.objects), (vec!["photos".to_string()], 2));
        let iam = a.report.not_imported.iter().find(|n| n.contains("IAM")).unwrap();
        assert!(
            iam.contains(
                "2 users (alice, bob), 1 service accounts, 1 groups (ops), 1 policies (read-logs); not imported"
            ),
            "{iam}"
        );
        assert!(!iam.contains("SVCACCT1") && !iam.contains("half-written"), "{iam}");
    }

    #[test]
    fn refuses_wrong_counts_and_duplicates_and_ignores_plain_drives() {
        let t = tempfile::tempdir().unwrap();
        let u = uuids(4);
        let sets = vec![u.clone()];
        let paths: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        let one = |p: &[PathBuf]| detect(&[p.to_vec()], &[]);
        assert!(one(&paths).unwrap().is_none(), "no MinIO format: nothing to adopt");
        for (i, p) in paths.iter().enumerate() {
            write_format(p, ID, &sets, &u[i]);
        }
        assert!(one(&paths[..3]).unwrap_err().contains("4 in all"));
        write_format(&paths[1], ID, &sets, &u[0]);
        assert!(one(&paths).unwrap_err().contains("both claim"));
    }

    #[test]
    fn a_cluster_node_checks_its_own_drives_at_their_places() {
        let t = tempfile::tempdir().unwrap();
        let u = uuids(6);
        let sets = vec![u[..3].to_vec(), u[3..].to_vec()];
        // This node holds positions 1, 3 and 5; the drive at 5 carries position 4's uuid.
        let mine: Vec<(usize, PathBuf)> = [1usize, 3, 5].iter().map(|&i| (i, t.path().join(format!("d{i}")))).collect();
        assert!(detect_cluster(&mine, std::slice::from_ref(&(0..6))).unwrap().is_none(), "no folder, no MinIO format");
        for (i, p) in &mine {
            std::fs::create_dir_all(p).unwrap();
            write_format(p, ID, &sets, &u[if *i == 5 { 4 } else { *i }]);
        }
        let mut a = detect_cluster(&mine, std::slice::from_ref(&(0..6))).unwrap().unwrap();
        let formats = a.known_formats().unwrap();
        a.complete(formats, &["http://n{1...3}:1/d{1...2}".to_string()]);
        assert_eq!((a.report.sets, a.report.drives_per_set, a.report.data, a.report.parity), (2, 3, 2, 1));
        assert_eq!(a.report.unclaimed, vec![u[5].clone()]);
        assert!(a.report.other_drives[0].contains("swapped"), "{:?}", a.report.other_drives);
        assert_eq!(a.drives, mine.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
        assert!(detect_cluster(&mine, std::slice::from_ref(&(0..12))).unwrap_err().contains("6 in all"));
        assert_eq!(cluster_format(&a.drives).unwrap().unwrap().id, ID);
    }

    /// MinIO's pools share the deployment id, each with its own sets, set size and
    /// distribution: each pool's drives are ordered by their uuids within the pool, the
    /// parity of every pool is the first pool's default, and mistakes are named.
    #[test]
    fn pools_of_one_deployment_keep_their_own_sets() {
        let t = tempfile::tempdir().unwrap();
        let (u1, u2): (Vec<String>, Vec<String>) =
            (uuids(4), (0..8).map(|i| format!("00000000-0000-4000-9000-{i:012}")).collect());
        let sets2 = vec![u2[..4].to_vec(), u2[4..].to_vec()];
        let p1: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("a{i}"))).collect();
        let p2: Vec<PathBuf> = (0..8).map(|i| t.path().join(format!("b{i}"))).collect();
        for (i, p) in p1.iter().enumerate() {
            write_format(p, ID, std::slice::from_ref(&u1), &u1[3 - i]);
        }
        for (i, p) in p2.iter().enumerate() {
            write_format(p, ID, &sets2, &u2[i]);
        }
        let args = ["/a{0...3}".to_string(), "/b{0...7}".to_string()];
        let a = detect(&[p1.clone(), p2.clone()], &args).unwrap().unwrap();
        assert_eq!(a.drives[..4], [p1[3].clone(), p1[2].clone(), p1[1].clone(), p1[0].clone()]);
        assert_eq!(a.drives[4..], p2[..]);
        let r = &a.report;
        assert_eq!((r.sets, r.drives_per_set, r.data, r.parity), (3, 4, 2, 2));
        let pools: Vec<(usize, usize, usize, usize)> =
            r.pools.iter().map(|p| (p.sets, p.drives_per_set, p.data, p.parity)).collect();
        assert_eq!(pools, [(1, 4, 2, 2), (2, 4, 2, 2)]);
        assert_eq!(r.pools[1].args, "/b{0...7}");
        assert_eq!(a.known_formats().unwrap().len(), 2);
        // The pools swapped in the arguments are still two pools (each keeps its sets).
        let swapped = detect(&[p2.clone(), p1.clone()], &args).unwrap().unwrap();
        assert_eq!(swapped.report.pools[0].sets, 2);
        // A drive carrying pool 1's format given in pool 2 is another pool's drive (its
        // place in pool 2 stays unclaimed); a pool short of drives is named.
        let stray = t.path().join("stray");
        write_format(&stray, ID, std::slice::from_ref(&u1), &u1[0]);
        let mut mixed = p2.clone();
        mixed[7] = stray;
        let m = detect(&[p1.clone(), mixed], &args).unwrap().unwrap();
        assert_eq!(m.report.unclaimed, [u2[7].clone()]);
        assert!(m.report.other_drives[0].contains("another pool"), "{:?}", m.report.other_drives);
        let e = detect(&[p1[1..].to_vec(), p2.clone()], &args).unwrap_err();
        assert!(e.contains("pool 1") && e.contains("4 in all"), "{e}");
        // The same pool twice, a pool of another deployment, a pool without MinIO's format.
        assert!(detect(&[p1.clone(), p1.clone()], &args).unwrap_err().contains("same MinIO pool"));
        let other: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("c{i}"))).collect();
        let u3 = uuids(4).iter().map(|u| u.replace("4000-8000", "4000-a000")).collect::<Vec<_>>();
        for (i, p) in other.iter().enumerate() {
            write_format(p, "6e7c3b2a-1f4d-4c8e-9a6b-2d3e4f5a6b7c", std::slice::from_ref(&u3), &u3[i]);
        }
        assert!(detect(&[p1.clone(), other], &args).unwrap_err().contains("belongs to MinIO deployment"));
        let empty: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("e{i}"))).collect();
        for p in &empty {
            std::fs::create_dir_all(p).unwrap();
        }
        assert!(detect(&[p1.clone(), empty], &args).unwrap_err().contains("pool 2 carry no MinIO"));
        // A cluster node holding drives of pool 2 only: pool 1's format is not known here.
        let mine: Vec<(usize, PathBuf)> = p2.iter().enumerate().map(|(i, p)| (4 + i, p.clone())).collect();
        let c = detect_cluster(&mine, &[0..4, 4..12]).unwrap().unwrap();
        assert!(c.formats[0].is_none() && c.formats[1].is_some());
        assert!(c.known_formats().is_none());
        // ... read from pool 1's drives (any node's, through their DiskIo).
        let ios: Vec<Arc<dyn DiskIo>> =
            p1.iter().chain(&p2).map(|p| Arc::new(crate::disk::LocalDisk::new(p)) as Arc<dyn DiskIo>).collect();
        let all = complete_formats(&c.formats, &ios, &[0..4, 4..12], |_, _| panic!("no wait")).unwrap();
        assert_eq!(all[0].xl.sets, vec![u1.clone()]);
        let wrong = complete_formats(&c.formats, &ios, &[4..12, 0..4], |_, _| {}).unwrap_err();
        assert!(wrong.contains("pool 1"), "{wrong}");
    }
}

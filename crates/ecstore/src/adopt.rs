//! Adopting a MinIO deployment in place: finds MinIO's `.minio.sys/format.json` on the
//! drives given, checks that they describe one deployment whose drive count matches, and
//! orders the drives as MinIO's sets do (by each drive's uuid, whatever the order of the
//! arguments, as MinIO itself places them). Drives without MinIO's format (a replaced drive,
//! one of another deployment) take the positions no drive claims, in argument order, and
//! are then formatted or refused by `drives`. A cluster's drives keep their places in
//! MinIO's endpoint order instead (`detect_cluster`). It also takes stock of what is adopted
//! (buckets, an object count estimate) for the start-up log and `rustfs-admin info`.
//!
//! This module only reads: it must never write to a drive (formats are written by
//! `drives`, bucket records by the legacy store) nor touch MinIO's files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::drives::{FORMAT_FILE, Format, SYS_DIR};
use crate::minio::MinioFormat;
use crate::minio::format::{FORMAT_FILE as MINIO_FORMAT_FILE, MINIO_SYS};

/// What the adoption found, as logged at start and shown by `rustfs-admin info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AdoptionReport {
    pub deployment_id: String,
    pub distribution: String,
    pub sets: usize,
    pub drives_per_set: usize,
    /// Data and parity shards of new objects (MinIO's default for the set size).
    pub data: usize,
    pub parity: usize,
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

/// A MinIO deployment found on the drives.
#[derive(Debug, Clone)]
pub struct Adoption {
    pub format: MinioFormat,
    /// The drives in MinIO's set order (set by set); on a cluster, this node's drives only.
    pub drives: Vec<PathBuf>,
    pub report: AdoptionReport,
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

fn check_count(reference: &MinioFormat, given: usize) -> Result<(), String> {
    let per_set = reference.drives_per_set();
    let total = reference.xl.sets.len() * per_set;
    if given != total {
        return Err(format!(
            "MinIO's format.json describes {} sets of {per_set} drives ({total} in all); {given} drives given (give every drive of the deployment, as MinIO was started with)",
            reference.xl.sets.len(),
        ));
    }
    Ok(())
}

/// Looks for a MinIO deployment on `paths` (bare paths of this node). `Ok(None)`: no drive
/// carries MinIO's format. An error when the drives found describe more than one deployment
/// in equal numbers, name a different drive count, or two drives claim one uuid.
pub fn detect(paths: &[PathBuf]) -> Result<Option<Adoption>, String> {
    let Some((reference, found)) = reference(paths)? else { return Ok(None) };
    check_count(&reference, paths.len())?;
    let per_set = reference.drives_per_set();
    let total = paths.len();
    let mut slots: Vec<Option<PathBuf>> = vec![None; total];
    let mut rest = Vec::new();
    let mut other_drives = Vec::new();
    for (p, f) in paths.iter().zip(&found) {
        let uuid = drive_uuid(p, f, &reference, &mut other_drives);
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
    let unclaimed: Vec<String> = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(at, _)| reference.xl.sets[at / per_set][at % per_set].clone())
        .collect();
    let mut rest = rest.into_iter();
    let drives: Vec<PathBuf> = slots.into_iter().map(|s| s.or_else(|| rest.next()).unwrap_or_default()).collect();
    let report = report(&reference, &drives, unclaimed, other_drives);
    Ok(Some(Adoption { format: reference, drives, report }))
}

/// The MinIO deployment most of `paths` (folders of this machine) describe, if any.
pub fn cluster_format(paths: &[PathBuf]) -> Result<Option<MinioFormat>, String> {
    Ok(reference(paths)?.map(|(f, _)| f))
}

/// Looks for a MinIO deployment of several nodes, from the drive folders of this node
/// (`mine`: each with its position in MinIO's endpoint order, see
/// `topology::Topology::minio`) and the deployment's drive count. A cluster's drives keep
/// their positions (every node must place every drive alike, and a node cannot read the
/// others' drives before they start): a drive of this node carrying another position's
/// uuid is reported here, and refused when the drives are opened. `Ok(None)`: none of this
/// node's drives carries MinIO's format.
pub fn detect_cluster(mine: &[(usize, PathBuf)], total: usize) -> Result<Option<Adoption>, String> {
    let paths: Vec<PathBuf> = mine.iter().map(|(_, p)| p.clone()).collect();
    let Some((reference, found)) = reference(&paths)? else { return Ok(None) };
    check_count(&reference, total)?;
    let per_set = reference.drives_per_set();
    let (mut unclaimed, mut other_drives) = (Vec::new(), Vec::new());
    for ((at, p), f) in mine.iter().zip(&found) {
        let want = &reference.xl.sets[at / per_set][at % per_set];
        match drive_uuid(p, f, &reference, &mut other_drives) {
            Some(u) if u == *want => {}
            Some(u) => {
                other_drives.push(format!(
                    "{}: MinIO drive {u}, but its place in the drive list is MinIO drive {want}'s (drives swapped?)",
                    p.display()
                ));
                unclaimed.push(want.clone());
            }
            None => unclaimed.push(want.clone()),
        }
    }
    let report = report(&reference, &paths, unclaimed, other_drives);
    Ok(Some(Adoption { format: reference, drives: paths, report }))
}

/// What the adoption found on `drives` (this node's), for the log and `rustfs-admin info`.
fn report(
    reference: &MinioFormat,
    drives: &[PathBuf],
    unclaimed: Vec<String>,
    other_drives: Vec<String>,
) -> AdoptionReport {
    let per_set = reference.drives_per_set();
    let parity = crate::minio::format::default_parity(per_set);
    let (buckets, objects, objects_capped) = take_stock(drives);
    let mut not_imported = Vec::new();
    let sys = |rel: &str| drives.iter().any(|d| d.join(MINIO_SYS).join(rel).exists());
    if let Some(iam) = iam_inventory(drives) {
        not_imported.push(iam);
    }
    if sys("config/config.json") {
        not_imported.push("server configuration (.minio.sys/config/config.json: storage class, notification targets, ...): not read; new objects use MinIO's default parity".to_string());
    }
    AdoptionReport {
        deployment_id: reference.id.clone(),
        distribution: reference.xl.distribution_algo.clone(),
        sets: reference.xl.sets.len(),
        drives_per_set: per_set,
        data: per_set - parity,
        parity,
        unclaimed,
        other_drives,
        buckets,
        objects,
        objects_capped,
        not_imported,
    }
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
        let a = detect(&paths).unwrap().unwrap();
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
        assert!(detect(&paths).unwrap().is_none(), "no MinIO format: nothing to adopt");
        for (i, p) in paths.iter().enumerate() {
            write_format(p, ID, &sets, &u[i]);
        }
        assert!(detect(&paths[..3]).unwrap_err().contains("4 in all"));
        write_format(&paths[1], ID, &sets, &u[0]);
        assert!(detect(&paths).unwrap_err().contains("both claim"));
    }

    #[test]
    fn a_cluster_node_checks_its_own_drives_at_their_places() {
        let t = tempfile::tempdir().unwrap();
        let u = uuids(6);
        let sets = vec![u[..3].to_vec(), u[3..].to_vec()];
        // This node holds positions 1, 3 and 5; the drive at 5 carries position 4's uuid.
        let mine: Vec<(usize, PathBuf)> = [1usize, 3, 5].iter().map(|&i| (i, t.path().join(format!("d{i}")))).collect();
        assert!(detect_cluster(&mine, 6).unwrap().is_none(), "no folder, no MinIO format");
        for (i, p) in &mine {
            std::fs::create_dir_all(p).unwrap();
            write_format(p, ID, &sets, &u[if *i == 5 { 4 } else { *i }]);
        }
        let a = detect_cluster(&mine, 6).unwrap().unwrap();
        assert_eq!((a.report.sets, a.report.drives_per_set, a.report.data, a.report.parity), (2, 3, 2, 1));
        assert_eq!(a.report.unclaimed, vec![u[5].clone()]);
        assert!(a.report.other_drives[0].contains("swapped"), "{:?}", a.report.other_drives);
        assert_eq!(a.drives, mine.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>());
        assert!(detect_cluster(&mine, 12).unwrap_err().contains("6 in all"));
        assert_eq!(cluster_format(&a.drives).unwrap().unwrap().id, ID);
    }
}

//! Listings of a key family with prefix/delimiter semantics, for `KvStore`: the paging
//! loop (`list_family`), what it reads entries with (`Source`: a family's entries as they are,
//! or a bucket's versions merged from `v/` and `l/`, see `schema` format 3), and positions
//! in a family. It reads through `Scan` only and must never write.

use crate::error::Result;
use crate::model::{ObjectData, ObjectVersion};
use crate::schema;
use crate::store::{ListItem, ListPage};

/// A current version stored whole, from its `l/` entry: its `v/` key and the version without
/// bytes (`None` for any other entry).
pub(crate) type WholeOf = fn(&[u8], &[u8]) -> Result<Option<(Vec<u8>, ObjectVersion)>>;

/// A store's range read, as listings use it.
pub(crate) trait Scan {
    /// Up to `limit` entries from `start` (included) to `end` (excluded), in key order.
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// Lists one key family with prefix/delimiter semantics. `pos_of` maps an object-key
/// byte string to its position in the family; `source` reads its entries as object keys
/// and the items to show (`None` hides one, e.g. a delete marker in a plain listing).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn list_family<T>(
    store: &impl Scan,
    start: Vec<u8>,
    prefix: &str,
    delimiter: Option<&str>,
    max: usize,
    pos_of: impl Fn(&[u8]) -> Vec<u8>,
    end: Vec<u8>,
    source: impl Source<T>,
) -> Result<ListPage<T>> {
    let mut page = ListPage { items: Vec::new(), truncated: false };
    let delimiter = delimiter.filter(|d| !d.is_empty());
    let mut pos = start.max(pos_of(prefix.as_bytes()));
    // After a common prefix is skipped, the next entries often roll up too: read small
    // chunks there, large ones while plain keys keep coming.
    let mut after_skip = false;
    'outer: loop {
        let cap = if after_skip { 16 } else { 1000 };
        let want = (max.saturating_sub(page.items.len()) + 1).clamp(16, cap);
        after_skip = false;
        let chunk = source.chunk(store, &pos, &end, want).await?;
        for entry in &chunk.entries {
            // Decoded one by one: a page often ends, or skips a common prefix, mid-chunk.
            let (okey, item) = source.item(entry)?;
            if let Some(d) = delimiter
                && let Some(rest) = okey.strip_prefix(prefix)
                && let Some(i) = rest.find(d)
            {
                if page.items.len() >= max {
                    page.truncated = true;
                    break 'outer;
                }
                let cp = okey[..prefix.len() + i + d.len()].to_string();
                let skip = schema::prefix_end(cp.as_bytes()).map(|e| pos_of(&e));
                page.items.push(ListItem::CommonPrefix(cp));
                match skip {
                    Some(p) => {
                        pos = p;
                        after_skip = true;
                        continue 'outer;
                    }
                    None => break 'outer,
                }
            }
            if let Some(item) = item {
                if page.items.len() >= max {
                    page.truncated = true;
                    break 'outer;
                }
                page.items.push(ListItem::Object(item));
            }
        }
        match chunk.next {
            Some(next) => pos = next,
            None => break,
        }
    }
    Ok(page)
}

/// One chunk of a listed family, in order.
pub(crate) struct Chunk<E> {
    entries: Vec<E>,
    /// Where the next chunk starts; `None` when the family ends here.
    next: Option<Vec<u8>>,
}

/// What `list_family` reads a family's entries with.
pub(crate) trait Source<T> {
    type Entry;
    /// The entries from `pos` (included) to `end` (excluded), `want` of them or about.
    async fn chunk(&self, store: &impl Scan, pos: &[u8], end: &[u8], want: usize) -> Result<Chunk<Self::Entry>>;
    /// An entry's object key and the item to show (`None` hides it).
    fn item(&self, entry: &Self::Entry) -> Result<(String, Option<T>)>;
}

/// A family listed as its entries are: `item_of` decodes one into its object key and item.
pub(crate) struct Entries<F>(F);

pub(crate) fn entries<T, F: Fn(&[u8], &[u8]) -> Result<(String, Option<T>)>>(item_of: F) -> Entries<F> {
    Entries(item_of)
}

impl<T, F: Fn(&[u8], &[u8]) -> Result<(String, Option<T>)>> Source<T> for Entries<F> {
    type Entry = (Vec<u8>, Vec<u8>);

    async fn chunk(&self, store: &impl Scan, pos: &[u8], end: &[u8], want: usize) -> Result<Chunk<Self::Entry>> {
        let entries = store.scan(pos, end, want).await?;
        let next = match entries.last() {
            Some((k, _)) if entries.len() == want => Some([k.as_slice(), &[0]].concat()),
            _ => None,
        };
        Ok(Chunk { entries, next })
    }

    fn item(&self, (k, v): &Self::Entry) -> Result<(String, Option<T>)> {
        (self.0)(k, v)
    }
}

/// An entry of a bucket's version listing: a `v/` record, or a current version stored whole
/// without one (read from `l/`, without bytes).
pub(crate) enum VersionEntry {
    Record(Vec<u8>, Vec<u8>),
    Whole(Box<ObjectVersion>),
}

/// A bucket's versions (positions in its `v/` family): the `v/` scan with, merged in, the
/// current versions stored whole that have no `v/` record (format 3), read from `l/` in step.
/// A listing shows no object data, so an entry of either is shown as it is, without bytes.
pub(crate) struct Versions<'a> {
    pub bucket: &'a str,
    /// Decodes an `l/` entry into the `v/` key and the version (without bytes) of a current
    /// version stored whole; `None` for any other.
    pub whole_of: WholeOf,
}

impl Source<ObjectVersion> for Versions<'_> {
    type Entry = VersionEntry;

    async fn chunk(&self, store: &impl Scan, pos: &[u8], end: &[u8], want: usize) -> Result<Chunk<VersionEntry>> {
        let (lpos, lend) = (schema::latest_bound(self.bucket, pos), schema::latest_bound(self.bucket, end));
        // `l/` first: a version that stops being current in between has its full `v/` value
        // by the time `v/` is read, and one made current keeps a `v/` record (`put_current`),
        // so neither goes missing; one in both shows once.
        let latest = store.scan(&lpos, &lend, want).await?;
        let versions = store.scan(pos, end, want).await?;
        // What both scans covered: up to the last entry of a full one (a full `l/` scan
        // covers every `v/` position of the keys up to its last).
        let mut cut: Option<Vec<u8>> = None;
        if versions.len() == want
            && let Some((k, _)) = versions.last()
        {
            cut = Some([k.as_slice(), &[0]].concat());
        }
        if latest.len() == want
            && let Some((k, _)) = latest.last()
        {
            let key = String::from_utf8_lossy(&k[schema::latest_base(self.bucket).len()..]).into_owned();
            let after = after_escaped_key(&schema::version_base(self.bucket), &key);
            cut = Some(match cut {
                Some(c) => c.min(after),
                None => after,
            });
        }
        let within = |k: &[u8]| k >= pos && k < end && cut.as_deref().is_none_or(|c| k < c);
        let mut whole = Vec::new();
        for (k, v) in &latest {
            if let Some((vkey, version)) = (self.whole_of)(k, v)?
                && within(vkey.as_slice())
            {
                whole.push((vkey, version));
            }
        }
        let mut entries = Vec::with_capacity(versions.len() + whole.len());
        let mut whole = whole.into_iter().peekable();
        for (k, v) in versions.into_iter().filter(|(k, _)| within(k.as_slice())) {
            while let Some((_, w)) = whole.next_if(|(wk, _)| wk.as_slice() < k.as_slice()) {
                entries.push(VersionEntry::Whole(Box::new(w)));
            }
            // A format-2 value without bytes of a version stored whole: the same version.
            whole.next_if(|(wk, _)| *wk == k);
            entries.push(VersionEntry::Record(k, v));
        }
        entries.extend(whole.map(|(_, w)| VersionEntry::Whole(Box::new(w))));
        Ok(Chunk { entries, next: cut })
    }

    fn item(&self, entry: &VersionEntry) -> Result<(String, Option<ObjectVersion>)> {
        let ov = match entry {
            VersionEntry::Record(k, v) => {
                let (mut ov, _): (ObjectVersion, bool) = schema::decode_version(k, v)?;
                if let ObjectData::Inline(_) = ov.data {
                    ov.data = ObjectData::None;
                }
                ov
            }
            VersionEntry::Whole(w) => (**w).clone(),
        };
        Ok((ov.key.clone(), Some(ov)))
    }
}

pub(crate) fn family_end(base: &[u8], prefix: &str, pos_of: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    match schema::prefix_end(prefix.as_bytes()) {
        Some(e) if !prefix.is_empty() => pos_of(&e),
        // `base` ends with '/', so its prefix end bounds the whole family.
        _ => schema::prefix_end(base).unwrap_or_default(),
    }
}

pub(crate) fn escaped_pos(base: &[u8]) -> impl Fn(&[u8]) -> Vec<u8> + '_ {
    move |s| {
        let mut k = base.to_vec();
        schema::push_escaped(&mut k, s);
        k
    }
}

/// The first position after every entry of `key` in an escaped family.
pub(crate) fn after_escaped_key(base: &[u8], key: &str) -> Vec<u8> {
    let mut k = base.to_vec();
    schema::push_escaped(&mut k, key.as_bytes());
    k.extend_from_slice(&[0, 2]);
    k
}

/// Where a listing resumes after `marker`, skipping a whole common prefix when the marker
/// is one (or lies inside one).
pub(crate) fn resume_after(
    marker: &str,
    prefix: &str,
    delimiter: Option<&str>,
    pos_of: impl Fn(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    if let Some(d) = delimiter.filter(|d| !d.is_empty())
        && let Some(rest) = marker.strip_prefix(prefix)
        && let Some(i) = rest.find(d)
    {
        let cp = &marker[..prefix.len() + i + d.len()];
        if let Some(e) = schema::prefix_end(cp.as_bytes()) {
            return pos_of(&e);
        }
    }
    let mut p = pos_of(marker.as_bytes());
    p.push(0);
    p
}

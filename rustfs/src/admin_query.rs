//! The admin API's query parameters, parsed and checked in one place into typed structs the
//! handlers use (and the fuzz target drives). This module does no I/O and never panics on
//! any query string.

use http::Uri;
use metadata::dualtrack::migrator::Priority;
use metadata::dualtrack::{Level, Phase, Repair};

/// The percent-decoded value of query parameter `name` (the first one), if present.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

fn parse<T: std::str::FromStr>(uri: &Uri, name: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    match query_param(uri, name) {
        None => Ok(None),
        Some(v) => v.parse::<T>().map(Some).map_err(|e| format!("{name}: {e}")),
    }
}

fn share(uri: &Uri, name: &str) -> Result<Option<f64>, String> {
    match parse::<f64>(uri, name)? {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(format!("{name} must be between 0 and 1")),
        v => Ok(v),
    }
}

/// A bucket name as S3 allows them (3 to 63 of `a-z0-9.-`), or an error.
fn bucket(uri: &Uri) -> Result<Option<String>, String> {
    match query_param(uri, "bucket") {
        None => Ok(None),
        Some(b)
            if (3..=63).contains(&b.len())
                && b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-') =>
        {
            Ok(Some(b))
        }
        Some(_) => Err("bucket: not a valid bucket name".into()),
    }
}

/// `POST migration/phase?phase=P[&ratio=R][&level=L]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseQuery {
    pub phase: Phase,
    pub ratio: Option<f64>,
    pub level: Option<Level>,
}

impl PhaseQuery {
    pub fn parse(uri: &Uri) -> Result<Self, String> {
        Ok(Self {
            phase: parse(uri, "phase")?.ok_or("phase is required")?,
            ratio: share(uri, "ratio")?,
            level: parse(uri, "level")?,
        })
    }
}

/// `POST migration/start[?concurrency=N][&objects_per_day=N][&priority=P]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartQuery {
    pub concurrency: Option<usize>,
    pub objects_per_day: Option<u64>,
    pub priority: Option<Priority>,
}

impl StartQuery {
    pub fn parse(uri: &Uri) -> Result<Self, String> {
        Ok(Self {
            concurrency: parse::<usize>(uri, "concurrency")?.map(|n| n.clamp(1, 256)),
            objects_per_day: parse(uri, "objects_per_day")?,
            priority: parse(uri, "priority")?,
        })
    }
}

/// `POST validate[?bucket=B][&sample=S][&repair=R]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidateQuery {
    pub bucket: Option<String>,
    pub sample: f64,
    pub repair: Option<Repair>,
}

impl ValidateQuery {
    pub fn parse(uri: &Uri) -> Result<Self, String> {
        let sample = share(uri, "sample")?.unwrap_or(1.0);
        if sample <= 0.0 {
            return Err("sample must be above 0".into());
        }
        Ok(Self { bucket: bucket(uri)?, sample, repair: parse(uri, "repair")? })
    }
}

/// `POST heal[?bucket=B]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealQuery {
    pub bucket: Option<String>,
}

impl HealQuery {
    pub fn parse(uri: &Uri) -> Result<Self, String> {
        Ok(Self { bucket: bucket(uri)? })
    }
}

/// `POST metadata/add-node?id=N&address=HOST:PORT`, `remove-node?id=N`,
/// `transfer-leadership?to=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    pub id: u64,
    pub address: Option<String>,
}

impl MemberQuery {
    pub fn parse(uri: &Uri, id_param: &str, needs_address: bool) -> Result<Self, String> {
        let id: u64 = parse(uri, id_param)?.ok_or_else(|| format!("{id_param} is required"))?;
        if id == 0 {
            return Err(format!("{id_param} must be above 0"));
        }
        let address = query_param(uri, "address");
        match &address {
            None if needs_address => return Err("address is required".into()),
            Some(a) if a.parse::<std::net::SocketAddr>().is_err() && !valid_host_port(a) => {
                return Err("address must be HOST:PORT".into());
            }
            _ => {}
        }
        Ok(Self { id, address })
    }
}

fn valid_host_port(a: &str) -> bool {
    match a.rsplit_once(':') {
        Some((h, p)) => {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
                && p.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(q: &str) -> Uri {
        format!("/rustfs/admin/v1/x?{q}").parse().unwrap()
    }

    #[test]
    fn parses_and_refuses() {
        let p = PhaseQuery::parse(&uri("phase=canary&ratio=0.25&level=strong")).unwrap();
        assert_eq!((p.phase, p.ratio, p.level), (Phase::Canary, Some(0.25), Some(Level::Strong)));
        for bad in
            ["ratio=0.5", "phase=canary&ratio=NaN", "phase=canary&ratio=inf", "phase=canary&ratio=1.5", "phase=x"]
        {
            assert!(PhaseQuery::parse(&uri(bad)).is_err(), "{bad}");
        }
        assert_eq!(StartQuery::parse(&uri("concurrency=100000")).unwrap().concurrency, Some(256));
        assert!(StartQuery::parse(&uri("concurrency=-1")).is_err());
        let v = ValidateQuery::parse(&uri("bucket=my-bucket&sample=0.1&repair=use-kv")).unwrap();
        assert_eq!((v.bucket.as_deref(), v.sample), (Some("my-bucket"), 0.1));
        for bad in ["sample=0", "sample=-1", "bucket=..%2F..", "bucket=A", "repair=nope"] {
            assert!(ValidateQuery::parse(&uri(bad)).is_err(), "{bad}");
        }
        assert_eq!(HealQuery::parse(&uri("bucket=b%2Dc1")).unwrap().bucket.as_deref(), Some("b-c1"));
        assert_eq!(query_param(&uri("a=%FF%FE"), "a").as_deref(), Some("\u{fffd}\u{fffd}"));
        let m = MemberQuery::parse(&uri("id=4&address=node-4.rustfs:7000"), "id", true).unwrap();
        assert_eq!((m.id, m.address.as_deref()), (4, Some("node-4.rustfs:7000")));
        assert!(MemberQuery::parse(&uri("id=4&address=127.0.0.1:7000"), "id", true).is_ok());
        for bad in [
            "id=0&address=a:1",
            "id=x&address=a:1",
            "address=a:1",
            "id=4",
            "id=4&address=a",
            "id=4&address=a:0",
            "id=4&address=a%20b:1",
        ] {
            assert!(MemberQuery::parse(&uri(bad), "id", true).is_err(), "{bad}");
        }
    }
}

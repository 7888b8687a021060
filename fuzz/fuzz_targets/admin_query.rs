//! The admin API's query parsing on arbitrary query strings: never a panic, and what parses
//! is within bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rustfs/src/admin_query.rs"]
#[allow(dead_code)]
mod admin_query;

fuzz_target!(|q: &str| {
    let Ok(uri) = format!("/rustfs/admin/v1/x?{q}").parse::<http::Uri>() else { return };
    if let Ok(p) = admin_query::PhaseQuery::parse(&uri) {
        assert!(p.ratio.is_none_or(|r| (0.0..=1.0).contains(&r)));
    }
    if let Ok(s) = admin_query::StartQuery::parse(&uri) {
        assert!(s.concurrency.is_none_or(|c| (1..=256).contains(&c)));
    }
    if let Ok(v) = admin_query::ValidateQuery::parse(&uri) {
        assert!(v.sample > 0.0 && v.sample <= 1.0);
        assert!(v.bucket.is_none_or(|b| !b.contains('/')));
    }
    let _ = admin_query::HealQuery::parse(&uri);
    if let Ok(m) = admin_query::MemberQuery::parse(&uri, "id", true) {
        assert!(m.id > 0 && m.address.is_some());
    }
    let _ = admin_query::query_param(&uri, "bucket");
});

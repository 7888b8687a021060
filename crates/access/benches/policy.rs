//! Policy evaluation cost: one request judged against a bucket policy of 20 statements
//! (wildcard resources, a principal list, IP and string conditions), the case the issue
//! sets a budget for (under 5% of a 4 KiB request's CPU).

use criterion::{Criterion, criterion_group, criterion_main};
use rustfs_access::{Caller, Context, Policy, Request};

fn twenty_statements() -> String {
    let mut s = Vec::new();
    for i in 0..20 {
        s.push(format!(
            r#"{{"Sid":"s{i}","Effect":"{}","Principal":{{"AWS":["arn:aws:iam:::user/u{i}","arn:aws:iam:::user/alice"]}},
               "Action":["s3:GetObject","s3:PutObject","s3:List*"],"Resource":["arn:aws:s3:::bench/p{i}/*","arn:aws:s3:::bench"],
               "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.0.2.0/24"]}},"StringLike":{{"s3:prefix":["p{i}/*",""]}}}}}}"#,
            if i % 5 == 4 { "Deny" } else { "Allow" }
        ));
    }
    format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, s.join(","))
}

fn bench(c: &mut Criterion) {
    let p = Policy::parse_bucket(&twenty_statements(), "bench").unwrap_or_else(|e| panic!("{e}"));
    let mut cx = Context::default();
    cx.set("aws:SourceIp", "192.0.2.7").set("aws:username", "alice").set("s3:prefix", "p7/");
    let caller = Caller::User { name: "alice", canonical_id: "c" };
    c.bench_function("evaluate 20-statement bucket policy (GetObject)", |b| {
        b.iter(|| {
            let r = Request { caller, action: "s3:GetObject", resource: "arn:aws:s3:::bench/p7/obj.bin", cx: &cx };
            std::hint::black_box(p.evaluate(&r))
        })
    });
    let text = twenty_statements();
    c.bench_function("parse 20-statement bucket policy", |b| {
        b.iter(|| std::hint::black_box(Policy::parse_bucket(&text, "bench").is_ok()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

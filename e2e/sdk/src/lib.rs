//! End-to-end tests of the real `rustfs` binary with the Rust aws-sdk-s3 (see `tests/`).

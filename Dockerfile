# syntax=docker/dockerfile:1
# The rustfs image: `rustfs` (the server, the entrypoint) and `rustfs-admin` (the operator
# CLI, which the migration and cleanup Jobs run). Build from the repository root:
#   docker build -t rustfs:0.1.0 .
# Run (credentials are required off loopback; drives and the KV under /data):
#   docker run -p 9000:9000 -e RUSTFS_ACCESS_KEY=admin -e RUSTFS_SECRET_KEY=change-me-please \
#     -v /srv/rustfs:/data rustfs:0.1.0

# Build stage: the toolchain this repository is built and tested with (Rust 1.95).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# make builds jemalloc (the server's allocator, tikv-jemalloc-sys); gcc is in the image.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# Dependencies pinned by the committed Cargo.lock; symbols kept (readable backtraces),
# debug info dropped (the binary shrinks from ~140 MB to ~25 MB).
ENV CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin rustfs --bin rustfs-admin \
    && install -D -m 0755 target/release/rustfs /out/rustfs \
    && install -D -m 0755 target/release/rustfs-admin /out/rustfs-admin \
    && install -d -m 0750 /out/data

# Runtime stage: glibc and libgcc only (the binaries link nothing else), no shell, no
# package manager; a numeric non-root user the Kubernetes securityContext repeats.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/rustfs /out/rustfs-admin /usr/local/bin/
COPY --from=build --chown=10001:10001 /out/data /data
USER 10001:10001
ENV RUSTFS_DATA=/data RUSTFS_ADDRESS=0.0.0.0:9000
VOLUME ["/data"]
# 9000: S3, the admin API, /metrics and the health probes; 7000: the internode port.
EXPOSE 9000 7000
ENTRYPOINT ["/usr/local/bin/rustfs"]
CMD ["server"]

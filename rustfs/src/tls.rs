//! HTTPS on the S3 port: the server's certificate chain and private key (MinIO's
//! `--certs-dir` layout, `public.crt` and `private.key`, or `--tls-cert`/`--tls-key`), served
//! with rustls and ALPN offering HTTP/2 and HTTP/1.1. The files are checked every
//! [`RELOAD_EVERY`] and a changed pair is loaded for new connections, so a renewed
//! certificate needs no restart (a pair that cannot be read is reported and the last good
//! one kept). Also the client side for `rustfs-admin`: the system's roots plus an optional CA
//! file (`--ca-cert`, for a self-signed server).
//!
//! This module never logs key material.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate files are checked for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Where the certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// MinIO's layout of a certificates folder.
    pub fn in_dir(dir: &Path) -> Self {
        Self { cert: dir.join("public.crt"), key: dir.join("private.key") }
    }

    fn mtimes(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    /// Reads and checks the pair (the key must sign for the certificate's public key).
    pub fn load(&self) -> Result<Arc<CertifiedKey>, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| format!("{}: {e}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", self.cert.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no certificate", self.cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| format!("{}: {e}", self.key.display()))?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let ck = CertifiedKey::from_der(certs, key, &provider)
            .map_err(|e| format!("{} and {}: {e}", self.cert.display(), self.key.display()))?;
        Ok(Arc::new(ck))
    }
}

/// The modification times of a certificate and its key, as last loaded.
type Stamp = Option<(SystemTime, SystemTime)>;

/// The certificate being served, swapped when its files change.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.0.clone())
    }
}

impl Reloading {
    /// Loads the pair now (refused at start if it cannot be read).
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, String> {
        let mtimes = files.mtimes();
        let key = files.load()?;
        Ok(Arc::new(Self { files, current: RwLock::new((key, mtimes)) }))
    }

    /// Loads the pair again if a file changed; returns whether the served pair changed.
    pub fn reload_if_changed(&self) -> bool {
        let now = self.files.mtimes();
        let known = self.current.read().ok().and_then(|c| c.1);
        if now.is_none() || now == known {
            return false;
        }
        match self.files.load() {
            Ok(k) => {
                if let Ok(mut c) = self.current.write() {
                    *c = (k, now);
                }
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Half-written files (a renewal in progress) are tried again next time.
                tracing::warn!(error = %e, "TLS certificate changed but cannot be loaded; serving the previous one");
                false
            }
        }
    }

    /// Checks the files every [`RELOAD_EVERY`] for as long as the server runs.
    pub fn watch(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RELOAD_EVERY).await;
                let m = me.clone();
                let _ = tokio::task::spawn_blocking(move || m.reload_if_changed()).await;
            }
        });
    }
}

/// The acceptor of the S3 port's TLS connections.
pub fn acceptor(certs: &Arc<Reloading>) -> Result<tokio_rustls::TlsAcceptor, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The roots a client trusts: the system's, plus the certificates of `ca_file` if given.
pub fn client_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if let Some(p) = ca_file {
        for c in CertificateDer::pem_file_iter(p).map_err(|e| format!("{}: {e}", p.display()))? {
            roots.add(c.map_err(|e| format!("{}: {e}", p.display()))?).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed pair made by `openssl` (as an operator would), for `name`.
    fn pair(dir: &Path, name: &str) -> TlsFiles {
        let files = TlsFiles::in_dir(dir);
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", &format!("/CN={name}"), "-addext", &format!("subjectAltName=DNS:{name}")])
            .arg("-keyout")
            .arg(&files.key)
            .arg("-out")
            .arg(&files.cert)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(ok, "openssl req failed");
        files
    }

    #[test]
    fn pairs_load_reload_and_refuse_garbage() {
        let d = tempfile::tempdir().unwrap();
        let files = pair(d.path(), "one.test");
        let r = Reloading::new(files.clone()).unwrap();
        let first = r.current.read().unwrap().0.clone();
        assert!(!r.reload_if_changed(), "nothing changed");
        std::thread::sleep(Duration::from_millis(20));
        pair(d.path(), "two.test");
        assert!(r.reload_if_changed());
        assert_ne!(r.current.read().unwrap().0.cert, first.cert);
        // A broken pair keeps the last good one.
        std::fs::write(&files.cert, b"-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
        let served = r.current.read().unwrap().0.cert.clone();
        assert!(!r.reload_if_changed());
        assert_eq!(r.current.read().unwrap().0.cert, served);
        assert!(Reloading::new(files).is_err());
        assert!(acceptor(&r).is_ok());
    }
}

//! TLS for `wss://` masters: which certificate authorities the edge trusts.
//!
//! With `--ca-file` the edge trusts only the CAs in that file (a deployment CA pinned by
//! Ansible); without it, the system's roots (`/etc/ssl/certs`, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), read from disk so no network is needed. A master whose certificate
//! does not chain to a trusted CA, or does not name the host in the URL, is refused.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Client TLS configuration trusting the CAs of `ca_file`, or the system roots.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading --ca-file {}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("parsing --ca-file {}", path.display()))?;
            if certs.is_empty() {
                bail!("--ca-file {} holds no certificate", path.display());
            }
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("--ca-file {}: unusable CA", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(error = %error, "skipping unreadable system CA certificates");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!(
                    "no system CA certificates found (install ca-certificates, or pass --ca-file)"
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A readable explanation of a failed TLS handshake with the master, naming what the edge
/// trusts, so "wrong CA" reads as such in the log.
pub fn explain(error: &rustls::Error, ca_file: Option<&Path>) -> String {
    let trusted = match ca_file {
        Some(path) => format!("the CA in --ca-file {}", path.display()),
        None => "the system's CA certificates".to_owned(),
    };
    match error {
        rustls::Error::InvalidCertificate(why) => {
            format!("the master's TLS certificate is not trusted ({why:?}); trusted: {trusted}")
        }
        other => format!("TLS handshake with the master failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_an_error_naming_it() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
        let dir = std::env::temp_dir().join(format!("utizmon-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = client_config(Some(&empty)).unwrap_err();
        assert!(
            format!("{err:#}").contains("holds no certificate"),
            "{err:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_issuers_are_explained() {
        let error = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let text = explain(&error, Some(Path::new("/etc/utizmon/ca.pem")));
        assert!(text.contains("not trusted"), "{text}");
        assert!(text.contains("UnknownIssuer"), "{text}");
        assert!(text.contains("/etc/utizmon/ca.pem"), "{text}");
    }
}

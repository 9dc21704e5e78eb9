//! TLS termination for the listener: the certificate and key from PEM files, swapped in
//! place on SIGHUP, and a clear answer to a client that speaks plain HTTP to the TLS port.
//!
//! Reloading replaces the configuration used for *new* handshakes only; connections that
//! are already established (edges, dashboards) keep their session and are not dropped.
//! A reload that fails (unreadable file, key not matching) keeps the previous
//! configuration and logs why.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// First byte of every TLS record that opens a connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client on the TLS port is told before the connection closes.
const PLAINTEXT_ANSWER: &str = "this port speaks TLS: use https:// or wss://\n";

/// The server's TLS configuration and the files it came from; cheap to clone.
#[derive(Clone)]
pub struct TlsAcceptor {
    cert_path: Arc<Path>,
    key_path: Arc<Path>,
    current: Arc<RwLock<tokio_rustls::TlsAcceptor>>,
}

/// Why a TLS connection did not get as far as HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client sent something other than a TLS handshake; it was told so.
    #[error("client spoke plain text to the TLS port")]
    Plaintext,
    /// The handshake itself failed (bad client hello, unsupported version, reset, ...).
    #[error("TLS handshake failed")]
    Io(#[from] std::io::Error),
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Loads the certificate chain and the private key; any problem names the file.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<TlsAcceptor> {
        let config = server_config(cert_path, key_path)?;
        Ok(TlsAcceptor {
            cert_path: Arc::from(cert_path),
            key_path: Arc::from(key_path),
            current: Arc::new(RwLock::new(tokio_rustls::TlsAcceptor::from(Arc::new(
                config,
            )))),
        })
    }

    /// Reads both files again and uses them for every handshake from now on; on error
    /// the previous configuration stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = server_config(&self.cert_path, &self.key_path)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = acceptor;
        Ok(())
    }

    /// Performs the server side of the handshake. A client whose first byte is not a TLS
    /// handshake record gets a plain-text 400 and the connection closes at once.
    pub async fn accept(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let mut first = [0u8; 1];
        let n = tcp.peek(&mut first).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        if first[0] != TLS_HANDSHAKE_RECORD {
            let mut tcp = tcp;
            // Best effort: the client may already be gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                     Connection: close\r\nContent-Length: {}\r\n\r\n{PLAINTEXT_ANSWER}",
                    PLAINTEXT_ANSWER.len()
                );
                tcp.write_all(response.as_bytes()).await?;
                tcp.shutdown().await
            })
            .await;
            return Err(HandshakeError::Plaintext);
        }
        let acceptor = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Ok(acceptor.accept(tcp).await?)
    }
}

/// Reloads `acceptor` (when serving TLS) on every SIGHUP until `shutdown`.
///
/// Installed with or without TLS: the unit's `ExecReload` sends SIGHUP, whose default
/// action would kill a plaintext server (and systemd would restart it, dropping every edge).
pub async fn reload_on_sighup(acceptor: Option<TlsAcceptor>, shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(hangup) => hangup,
        Err(e) => {
            tracing::error!(error = %e, "installing the SIGHUP handler failed: TLS files are not reloaded");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hangup.recv() => match &acceptor {
                Some(acceptor) => match acceptor.reload() {
                    Ok(()) => tracing::info!(cert = %acceptor.cert_path.display(), "TLS certificate reloaded"),
                    Err(e) => tracing::error!(error = format!("{e:#}"), "TLS reload failed, keeping the previous certificate"),
                },
                None => tracing::info!("SIGHUP: no TLS files to reload (token and users files are re-read when they change)"),
            },
        }
    }
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
///
/// Only `http/1.1` is offered: edges and browsers open WebSockets over HTTP/1.1, and one
/// protocol keeps the connection limits simple.
fn server_config(cert_path: &Path, key_path: &Path) -> anyhow::Result<ServerConfig> {
    let certs = read_certificates(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("reading the TLS key {}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "using the TLS certificate {} with the key {}",
                cert_path.display(),
                key_path.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate in a PEM file, leaf first; an empty file is an error.
pub fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading the certificate file {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing the certificate file {}", path.display()))?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

//! TLS for the built-in HTTP/1.1 server and client (rustls), with the knobs that decide what
//! TLS costs keep-alive: session resumption on the server (tickets and a session cache, on
//! by default as in Go's `tls.Config` and nginx) and on the client (a session cache, off by
//! default as Go's nil `ClientSessionCache`), and the protocol version.
//!
//! Every lab shares one certificate for [`SERVER_NAME`], signed by a CA made once per
//! process; both ends log their secrets into the trace (an NSS key log line per secret), so
//! the recorder decrypts the lab's TLS and writes the keys into the capture.

use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Context, Result};
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::{Deserialize, Serialize};

use crate::trace::{TraceKind, Tracer};

/// The name the lab's certificate is for, and the one the client asks for (SNI).
pub const SERVER_NAME: &str = "connlab.lab";

/// `tls_version`: which TLS version an end speaks (both when left out, and 1.3 is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum TlsVersion {
    /// TLS 1.2 only (its session tickets are sent in clear, its resumption is visible
    /// without keys).
    #[serde(rename = "1.2")]
    V12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V13,
}

/// The lab's certificate chain: a CA and the server's certificate it signed.
struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// Made once per process: key generation is the slow part of a TLS setup.
fn pki() -> Result<&'static Pki> {
    static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
    PKI.get_or_init(|| make_pki().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("making the lab's TLS certificate: {e}"))
}

fn make_pki() -> Result<Pki> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let leaf =
        CertificateParams::new(vec![SERVER_NAME.to_owned()])?.signed_by(&key, &ca, &ca_key)?;
    Ok(Pki {
        ca: ca.der().clone(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()),
    })
}

fn versions(version: Option<TlsVersion>) -> &'static [&'static SupportedProtocolVersion] {
    static TLS12: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match version {
        None => rustls::DEFAULT_VERSIONS,
        Some(TlsVersion::V12) => &TLS12,
        Some(TlsVersion::V13) => &TLS13,
    }
}

/// ALPN's name of HTTP/1.1.
pub const HTTP1: &[u8] = b"http/1.1";
/// ALPN's name of HTTP/2 over TLS.
pub const H2: &[u8] = b"h2";

/// The server's TLS: ALPN `alpn` (`http/1.1`, or `h2`); with `resumption`, TLS 1.3 tickets,
/// TLS 1.2 tickets and a session cache (Go's and nginx's defaults); without, every handshake
/// is full.
pub fn server_config(
    version: Option<TlsVersion>,
    resumption: bool,
    alpn: &[u8],
    tracer: &Tracer,
) -> Result<Arc<ServerConfig>> {
    let pki = pki()?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(versions(version))
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(pki.key.clone_key()))
        .context("the server's certificate")?;
    config.alpn_protocols = vec![alpn.to_vec()];
    if resumption {
        config.ticketer = provider::Ticketer::new().context("a session ticket key")?;
    } else {
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    }
    config.key_log = Arc::new(TraceKeyLog(tracer.clone()));
    Ok(Arc::new(config))
}

/// The client's TLS: trusts the lab's CA, offers ALPN `alpn` (`http/1.1`, or `h2`); with
/// `session_cache`, new connections resume the sessions of earlier ones (Go:
/// `ClientSessionCache`).
pub fn client_config(
    version: Option<TlsVersion>,
    session_cache: bool,
    alpn: &[u8],
    tracer: &Tracer,
) -> Result<Arc<ClientConfig>> {
    let pki = pki()?;
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).context("the lab's CA")?;
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_protocol_versions(versions(version))
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    config.resumption = if session_cache {
        rustls::client::Resumption::in_memory_sessions(256)
    } else {
        rustls::client::Resumption::disabled()
    };
    config.key_log = Arc::new(TraceKeyLog(tracer.clone()));
    Ok(Arc::new(config))
}

/// The name the client verifies and sends.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from(SERVER_NAME).expect("a valid DNS name")
}

/// Sends each secret rustls derives into the trace, as a key log line.
struct TraceKeyLog(Tracer);

impl std::fmt::Debug for TraceKeyLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceKeyLog")
    }
}

impl rustls::KeyLog for TraceKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0.emit(TraceKind::TlsKey {
            line: format!("{label} {} {}", hex(client_random), hex(secret)),
        });
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceRoom;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A handshake between the two configs over loopback, its key log collected from the
    /// trace: the lines are what the core's analyser reads.
    #[tokio::test]
    async fn both_ends_handshake_and_log_their_secrets() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<crate::trace::TraceEvent>(64);
        let tracer = Tracer::into_channel("lab", tx, TraceRoom::new(64));
        let server = server_config(None, true, H2, &tracer).expect("server config");
        let client = client_config(None, false, H2, &tracer).expect("client config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let serve = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut tls = tokio_rustls::TlsAcceptor::from(server)
                .accept(tcp)
                .await
                .expect("server handshake");
            let mut got = [0u8; 4];
            tls.read_exact(&mut got).await.expect("read");
            got
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut tls = tokio_rustls::TlsConnector::from(client)
            .connect(server_name(), tcp)
            .await
            .expect("client handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(H2), "ALPN chose h2");
        tls.write_all(b"ping").await.expect("write");
        assert_eq!(&serve.await.expect("server"), b"ping");
        let lines: Vec<String> = rx
            .try_iter()
            .filter_map(|e| match e.kind {
                TraceKind::TlsKey { line } => Some(line),
                _ => None,
            })
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0 ")),
            "{lines:?}"
        );
        let fields: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!((fields.len(), fields[1].len()), (3, 64), "{}", lines[0]);
    }
}

//! Real TLS for tests: rustls client and server connections talk in memory and their bytes
//! become the segments of a capture, with rustls' own key log as the key log.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::analyze::Side;
use crate::testframes::{Conv, Lab, F};

/// rustls' key log, as NSS key log text.
#[derive(Debug, Default)]
pub(crate) struct Keys(pub Mutex<String>);

impl rustls::KeyLog for Keys {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        self.0.lock().expect("key log").push_str(&line);
    }
}

/// What a test varies.
#[derive(Clone)]
pub(crate) struct Setup {
    pub tls13: bool,
    pub suite: rustls::SupportedCipherSuite,
    pub alpn: &'static [u8],
    pub tickets: bool,
}

pub(crate) fn setup(tls13: bool, suite: rustls::SupportedCipherSuite) -> Setup {
    Setup {
        tls13,
        suite,
        alpn: b"http/1.1",
        tickets: true,
    }
}

pub(crate) fn suites13() -> Vec<rustls::SupportedCipherSuite> {
    vec![
        provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ]
}

pub(crate) fn suites12() -> Vec<rustls::SupportedCipherSuite> {
    vec![
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ]
}

/// Configurations for both ends, sharing a key log (and the client's session cache).
pub(crate) struct Ends {
    pub client: Arc<ClientConfig>,
    pub server: Arc<ServerConfig>,
    pub keys: Arc<Keys>,
}

pub(crate) fn ends(s: &Setup) -> Ends {
    let cert = rcgen::generate_simple_self_signed(vec!["lab".into()]).expect("certificate");
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let crypto = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![s.suite],
        ..provider::default_provider()
    });
    let versions: &[&rustls::SupportedProtocolVersion] = if s.tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    let keys = Arc::new(Keys::default());
    let mut roots = RootCertStore::empty();
    roots.add(der.clone()).expect("root");
    let mut client = ClientConfig::builder_with_provider(crypto.clone())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.key_log = keys.clone();
    client.alpn_protocols = vec![s.alpn.to_vec()];
    let mut server = ServerConfig::builder_with_provider(crypto)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server certificate");
    server.alpn_protocols = vec![s.alpn.to_vec()];
    if !s.tickets {
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    } else if !s.tls13 {
        server.ticketer = provider::Ticketer::new().expect("ticketer");
    }
    Ends {
        client: Arc::new(client),
        server: Arc::new(server),
        keys,
    }
}

/// One TLS connection over one TCP conversation, fed to `lab` as it goes.
pub(crate) struct Session<'a> {
    lab: &'a mut Lab,
    conv: Conv,
    pub client: ClientConnection,
    pub server: ServerConnection,
    ms: u64,
    /// Bytes per segment (to split records anywhere).
    mss: usize,
    /// Every piece of bytes put on the wire, by sender.
    pub sent: Vec<(Side, Vec<u8>)>,
}

impl<'a> Session<'a> {
    /// A connection from client port `port`, its TCP handshake at 0 ms, its TLS handshake
    /// from 3 ms, in segments of at most `mss` bytes.
    pub fn open(lab: &'a mut Lab, ends: &Ends, port: u16, mss: usize) -> Session<'a> {
        Session::open_at(lab, ends, (port, mss), 0)
    }

    /// The same, starting at `start_ms`.
    pub fn open_at(
        lab: &'a mut Lab,
        ends: &Ends,
        (port, mss): (u16, usize),
        start_ms: u64,
    ) -> Session<'a> {
        let conv = Conv::new(&format!("10.0.0.1:{port}"), "10.0.0.2:443", 1000, 5000);
        let name = ServerName::try_from("lab").expect("name");
        let mut s = Session {
            client: ClientConnection::new(ends.client.clone(), name).expect("client"),
            server: ServerConnection::new(ends.server.clone()).expect("server"),
            lab,
            conv,
            ms: 0,
            mss,
            sent: Vec::new(),
        };
        s.lab.handshake(&mut s.conv, start_ms);
        s.ms = start_ms + 2;
        s.flush();
        s
    }

    /// Sends what each end has to send until both are quiet.
    pub fn flush(&mut self) {
        loop {
            let to_server = self.pending(Side::Client);
            let to_client = self.pending(Side::Server);
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            self.wire(Side::Client, &to_server);
            self.wire(Side::Server, &to_client);
        }
    }

    fn pending(&mut self, side: Side) -> Vec<u8> {
        let mut out = Vec::new();
        match side {
            Side::Client => {
                while self.client.wants_write() {
                    self.client.write_tls(&mut out).expect("write");
                }
            }
            Side::Server => {
                while self.server.wants_write() {
                    self.server.write_tls(&mut out).expect("write");
                }
            }
        }
        out
    }

    /// `bytes` from `side` cross the capture (in segments of `mss`) and reach the peer.
    fn wire(&mut self, side: Side, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.sent.push((side, bytes.to_vec()));
        }
        for chunk in bytes.chunks(self.mss) {
            self.ms += 1;
            let frame = self.conv.send(side, F::PSH | F::ACK, chunk);
            self.lab.at(self.ms, &frame);
        }
        if bytes.is_empty() {
            return;
        }
        let mut rd: &[u8] = bytes;
        let mut sink = Vec::new();
        match side {
            Side::Client => {
                while !rd.is_empty() {
                    self.server.read_tls(&mut rd).expect("read");
                }
                self.server.process_new_packets().expect("server");
                let _ = self.server.reader().read_to_end(&mut sink);
            }
            Side::Server => {
                while !rd.is_empty() {
                    self.client.read_tls(&mut rd).expect("read");
                }
                self.client.process_new_packets().expect("client");
                let _ = self.client.reader().read_to_end(&mut sink);
            }
        }
    }

    /// One HTTP/1.1 request and its response.
    pub fn exchange(&mut self, path: &str) {
        self.answered(path, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }

    /// The same, the response saying `Connection: close`.
    pub fn exchange_closing(&mut self, path: &str) {
        self.answered(
            path,
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        );
    }

    fn answered(&mut self, path: &str, resp: &[u8]) {
        let req = format!("GET {path} HTTP/1.1\r\nHost: lab\r\n\r\n");
        self.client
            .writer()
            .write_all(req.as_bytes())
            .expect("request");
        self.flush();
        self.server.writer().write_all(resp).expect("response");
        self.flush();
    }

    /// Waits `ms` idle.
    pub fn idle(&mut self, ms: u64) {
        self.ms += ms;
    }

    /// `side` says close_notify and sends its FIN.
    pub fn close(&mut self, side: Side) {
        self.alert_close(side, F::FIN);
    }

    /// `side` says close_notify in a segment of its own, its FIN still to come.
    pub fn close_notify(&mut self, side: Side) {
        self.alert_close(side, 0);
    }

    fn alert_close(&mut self, side: Side, fin: u8) {
        match side {
            Side::Client => self.client.send_close_notify(),
            Side::Server => self.server.send_close_notify(),
        }
        let alert = self.pending(side);
        self.sent.push((side, alert.clone()));
        self.ms += 1;
        let frame = self.conv.send(side, F::PSH | F::ACK | fin, &alert);
        self.lab.at(self.ms, &frame);
    }
}

impl Session<'_> {
    /// `side` resets the connection (a socket closed with unread data).
    pub fn rst(&mut self, side: Side) {
        self.ms += 1;
        let frame = self.conv.send(side, F::RST | F::ACK, b"");
        self.lab.at(self.ms, &frame);
    }

    /// `side` acknowledges what it got (the last ACK of a close).
    pub fn ack(&mut self, side: Side) {
        self.ms += 1;
        let frame = self.conv.send(side, F::ACK, b"");
        self.lab.at(self.ms, &frame);
    }

    /// `side` sends a bare FIN.
    pub fn fin(&mut self, side: Side) {
        self.ms += 1;
        let frame = self.conv.send(side, F::FIN | F::ACK, b"");
        self.lab.at(self.ms, &frame);
    }

    /// The time of the last segment, ms.
    pub fn now(&self) -> u64 {
        self.ms
    }

    /// The key log so far.
    pub fn keys(ends: &Ends) -> String {
        ends.keys.0.lock().expect("keys").clone()
    }
}

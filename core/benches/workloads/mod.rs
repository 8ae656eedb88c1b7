//! The traffic both analyser benchmarks read: built in memory with `testframes` (and rustls
//! for TLS), the same frames at every run, so the criterion timings and the instruction
//! counts of the gate measure one thing.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use connlab_core::analyze::Side;
use connlab_core::testframes::{Conv, F};

/// 16 connections from ports `first_port`.. to the server's `port`, and their handshakes.
fn connected(first_port: u16, port: u16) -> (Vec<Conv>, Vec<Vec<u8>>) {
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| {
            let client = format!("198.18.0.1:{}", first_port + i);
            Conv::new(&client, &format!("198.18.0.2:{port}"), 0, 0)
        })
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
    }
    (convs, frames)
}

/// 16 connections, each a handshake then `requests` request/response pairs, interleaved.
pub fn conversation(requests: u32) -> Vec<Vec<u8>> {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (mut convs, mut frames) = connected(40_000, 80);
    for _ in 0..requests {
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, req));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, resp));
        }
    }
    frames
}

/// 16 Redis connections, each a handshake then `commands` GET/reply pairs as redis-py writes
/// them, interleaved.
pub fn redis(commands: u32) -> Vec<Vec<u8>> {
    let (mut convs, mut frames) = connected(41_000, 6379);
    for i in 0..commands {
        for c in &mut convs {
            let key = format!("key:{i}");
            let get = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
            frames.push(c.send(Side::Client, F::PSH | F::ACK, get.as_bytes()));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, b"$5\r\nvalue\r\n"));
        }
    }
    frames
}

/// A PostgreSQL message: its type, its length, its body.
fn pg_message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![ty];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// 16 PostgreSQL sessions, each a handshake, a startup and its welcome, then `queries`
/// simple queries (`SELECT ... WHERE id = N`) each answered with one row, as psycopg2 and
/// postgres 15 exchange them, interleaved.
pub fn postgres(queries: u32) -> Vec<Vec<u8>> {
    let (mut convs, mut frames) = connected(42_000, 5432);
    let params = b"user\0app\0database\0shop\0\0";
    let mut startup = (params.len() as u32 + 8).to_be_bytes().to_vec();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(params);
    let mut welcome = pg_message(b'R', &0u32.to_be_bytes());
    welcome.extend(pg_message(b'S', b"server_version\x0015.18\0"));
    welcome.extend(pg_message(b'K', &[0, 0, 0, 42, 0, 0, 0, 7]));
    welcome.extend(pg_message(b'Z', b"I"));
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::PSH | F::ACK, &startup));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, &welcome));
    }
    let mut answer = pg_message(
        b'T',
        b"\0\x01id\0\0\0\0\0\0\x01\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0",
    );
    answer.extend(pg_message(b'D', b"\0\x01\0\0\0\x0212"));
    answer.extend(pg_message(b'C', b"SELECT 1\0"));
    answer.extend(pg_message(b'Z', b"I"));
    for i in 0..queries {
        for c in &mut convs {
            let sql = format!("SELECT name FROM items WHERE id = {i}\0");
            frames.push(c.send(
                Side::Client,
                F::PSH | F::ACK,
                &pg_message(b'Q', sql.as_bytes()),
            ));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &answer));
        }
    }
    frames
}

/// A MySQL packet: its length, its sequence id, its payload.
fn my_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(seq);
    out.extend_from_slice(payload);
    out
}

/// 16 MariaDB sessions, each a handshake, a greeting, PyMySQL's login and its OK, then
/// `queries` COM_QUERYs (`SELECT name FROM items WHERE id = N`) each answered with a result
/// set of one row, as PyMySQL and MariaDB 10.11 exchange them, interleaved.
pub fn mysql(queries: u32) -> Vec<Vec<u8>> {
    let (mut convs, mut frames) = connected(43_000, 3306);
    let mut greeting = vec![10];
    greeting.extend_from_slice(b"5.5.5-10.11.19-MariaDB-0+deb12u1-log\0");
    greeting.extend_from_slice(&[4, 0, 0, 0]);
    greeting.extend_from_slice(b"abcdefgh\0\xfe\xf7\x2d\x02\x00\xff\x81\x15");
    greeting.extend_from_slice(&[0; 10]);
    greeting.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    let mut login = 0x003a_a20du32.to_le_bytes().to_vec();
    login.extend_from_slice(&[0xff, 0xff, 0xff, 0, 45]);
    login.extend_from_slice(&[0; 23]);
    login.extend_from_slice(b"app\0\x14");
    login.extend_from_slice(&[7; 20]);
    login.extend_from_slice(b"mysql_native_password\0\x15\x0c_client_name\x07pymysql");
    let ok = [0u8, 0, 0, 2, 0, 0, 0];
    for c in &mut convs {
        frames.push(c.send(Side::Server, F::PSH | F::ACK, &my_packet(0, &greeting)));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, &my_packet(1, &login)));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, &my_packet(2, &ok)));
    }
    let eof = [0xfe, 0, 0, 2, 0];
    let mut answer = my_packet(1, &[1]);
    answer.extend(my_packet(
        2,
        b"\x03def\x04shop\x05items\x05items\x04name\x04name\x0c!\0\xfc\x03\0\0\xfd\0\0\0\0\0",
    ));
    answer.extend(my_packet(3, &eof));
    answer.extend(my_packet(4, b"\x0csome name 12"));
    answer.extend(my_packet(5, &eof));
    for i in 0..queries {
        for c in &mut convs {
            let sql = format!("\x03SELECT name FROM items WHERE id = {i}");
            frames.push(c.send(Side::Client, F::PSH | F::ACK, &my_packet(0, sql.as_bytes())));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &answer));
        }
    }
    frames
}

/// A WebSocket frame of `payload`, masked when the client sends it (RFC 6455 5.2).
fn ws_frame(masked: bool, payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![0x81, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// 16 connections, each upgraded to WebSocket, then `messages` text messages each way.
pub fn websocket(messages: u32) -> Vec<Vec<u8>> {
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let (to_server, to_client) = (
        ws_frame(true, b"message 123456"),
        ws_frame(false, b"message 123456"),
    );
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| Conv::new(&format!("198.18.0.1:{}", 40_000 + i), "198.18.0.2:80", 0, 0))
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, upgrade));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, switched));
    }
    for _ in 0..messages {
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, &to_server));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &to_client));
        }
    }
    frames
}

/// An HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// 16 HTTP/2 connections by prior knowledge, then `requests` streams on each: a HEADERS
/// (GET /, HPACK-indexed as a browser's repeat requests are) from the client, HEADERS and a
/// small DATA from the server, one request/response pair per segment as in the HTTP/1.1 case.
pub fn http2(requests: u32) -> Vec<Vec<u8>> {
    let preface = [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        &h2_frame(4, 0, 0, &[]),
    ]
    .concat();
    let mut convs: Vec<Conv> = (0..16)
        .map(|i| Conv::new(&format!("198.18.0.1:{}", 40_000 + i), "198.18.0.2:80", 0, 0))
        .collect();
    let mut frames = Vec::new();
    for c in &mut convs {
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, &preface));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, &h2_frame(4, 0, 0, &[])));
    }
    for n in 0..requests {
        let stream = 2 * n + 1;
        // :method GET, :scheme http, :path / from the static table; :authority "x" added to
        // the dynamic table by the first request and referred to (index 62) by the next ones,
        // as HPACK encoders do.
        let authority: &[u8] = if n == 0 { &[0x41, 0x01, b'x'] } else { &[0xbe] };
        let request = h2_frame(
            1,
            0x5,
            stream,
            &[&[0x82, 0x86, 0x84][..], authority].concat(),
        );
        let response = [
            h2_frame(1, 0x4, stream, &[0x88]),
            h2_frame(0, 0x1, stream, b"ok"),
        ]
        .concat();
        for c in &mut convs {
            frames.push(c.send(Side::Client, F::PSH | F::ACK, &request));
            frames.push(c.send(Side::Server, F::PSH | F::ACK, &response));
        }
    }
    frames
}

/// Collects a session's secrets as key log text.
#[derive(Debug, Default)]
struct Keys(Mutex<String>);

impl rustls::KeyLog for Keys {
    fn log(&self, label: &str, random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let line = format!("{label} {} {}\n", hex(random), hex(secret));
        self.0.lock().expect("keys").push_str(&line);
    }
}

/// One TLS 1.3 connection (AES-128-GCM) in memory over `conv`, its records put in frames.
struct TlsConv {
    conv: Conv,
    client: rustls::ClientConnection,
    server: rustls::ServerConnection,
}

impl TlsConv {
    fn new(port: u16, keys: &Arc<Keys>, frames: &mut Vec<Vec<u8>>) -> TlsConv {
        use rustls::crypto::ring as provider;
        let cert = rcgen::generate_simple_self_signed(vec!["lab".into()]).expect("cert");
        let der = rustls::pki_types::CertificateDer::from(cert.cert.der().to_vec());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let crypto = Arc::new(rustls::crypto::CryptoProvider {
            cipher_suites: vec![provider::cipher_suite::TLS13_AES_128_GCM_SHA256],
            ..provider::default_provider()
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.clone()).expect("root");
        let mut client = rustls::ClientConfig::builder_with_provider(crypto.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.key_log = keys.clone();
        let server = rustls::ServerConfig::builder_with_provider(crypto)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![der], key)
            .expect("server cert");
        let name = rustls::pki_types::ServerName::try_from("lab").expect("name");
        let mut conv = Conv::new(&format!("198.18.0.1:{port}"), "198.18.0.2:443", 0, 0);
        frames.push(conv.send(Side::Client, F::SYN, b""));
        frames.push(conv.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(conv.send(Side::Client, F::ACK, b""));
        let mut tls = TlsConv {
            conv,
            client: rustls::ClientConnection::new(Arc::new(client), name).expect("client"),
            server: rustls::ServerConnection::new(Arc::new(server)).expect("server"),
        };
        while tls.client.is_handshaking() || tls.server.is_handshaking() {
            tls.pump(frames);
        }
        tls.pump(frames); // the server's tickets
        tls
    }

    /// Moves what each side has written to the other, a segment per flight.
    fn pump(&mut self, frames: &mut Vec<Vec<u8>>) {
        let mut bytes = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut bytes).expect("client writes");
        }
        if !bytes.is_empty() {
            frames.push(self.conv.send(Side::Client, F::PSH | F::ACK, &bytes));
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                self.server.read_tls(&mut rest).expect("server reads");
                self.server.process_new_packets().expect("server");
            }
        }
        let mut bytes = Vec::new();
        while self.server.wants_write() {
            self.server.write_tls(&mut bytes).expect("server writes");
        }
        if !bytes.is_empty() {
            frames.push(self.conv.send(Side::Server, F::PSH | F::ACK, &bytes));
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                self.client.read_tls(&mut rest).expect("client reads");
                self.client.process_new_packets().expect("client");
                let mut sink = [0u8; 1 << 16];
                while matches!(self.client.reader().read(&mut sink), Ok(n) if n > 0) {}
            }
        }
        let mut sink = [0u8; 1 << 16];
        while matches!(self.client.reader().read(&mut sink), Ok(n) if n > 0) {}
        while matches!(self.server.reader().read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// The keep-alive conversation of [`conversation`] inside TLS 1.3: each request and each
/// response a record of its own; with the key log.
pub fn tls_conversation(requests: u32) -> (Vec<Vec<u8>>, String) {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let keys = Arc::new(Keys::default());
    let mut frames = Vec::new();
    let mut convs: Vec<TlsConv> = (0..16)
        .map(|i| TlsConv::new(40_000 + i, &keys, &mut frames))
        .collect();
    for _ in 0..requests {
        for c in &mut convs {
            c.client.writer().write_all(req).expect("request");
            c.server.writer().write_all(resp).expect("response");
            c.pump(&mut frames);
        }
    }
    let text = keys.0.lock().expect("keys").clone();
    (frames, text)
}

/// One TLS 1.3 connection carrying `records` full 16 KiB records from the server (a
/// download), with the key log: the decryption's bytes per second.
pub fn tls_bulk(records: u32) -> (Vec<Vec<u8>>, String, u64) {
    let keys = Arc::new(Keys::default());
    let mut frames = Vec::new();
    let mut c = TlsConv::new(40_000, &keys, &mut frames);
    let chunk = vec![b'x'; 16_384];
    for _ in 0..records {
        c.server.writer().write_all(&chunk).expect("data");
        c.pump(&mut frames);
    }
    let text = keys.0.lock().expect("keys").clone();
    (frames, text, u64::from(records) * chunk.len() as u64)
}

/// `connections` short connections one after another, as a pool without keep-alive makes
/// them: handshake, one request and its response, the client's FIN, the server's FIN, the
/// last ACK. Connection set-up and teardown, and the diagnosis of each closed connection.
pub fn short_connections(connections: u32) -> Vec<Vec<u8>> {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut frames = Vec::new();
    for i in 0..connections {
        let port = 20_000 + (i % 40_000);
        let mut c = Conv::new(&format!("198.18.0.1:{port}"), "198.18.0.2:80", i, i);
        frames.push(c.send(Side::Client, F::SYN, b""));
        frames.push(c.send(Side::Server, F::SYN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
        frames.push(c.send(Side::Client, F::PSH | F::ACK, req));
        frames.push(c.send(Side::Server, F::PSH | F::ACK, resp));
        frames.push(c.send(Side::Client, F::FIN | F::ACK, b""));
        frames.push(c.send(Side::Server, F::FIN | F::ACK, b""));
        frames.push(c.send(Side::Client, F::ACK, b""));
    }
    frames
}

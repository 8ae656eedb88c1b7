//! The hand-written MySQL client against a scripted server on loopback, and its framing on
//! hostile bytes: a login through an AuthSwitchRequest, result sets with and without
//! CLIENT_DEPRECATE_EOF, an SQL error that leaves the connection usable and one that does
//! not, and COM_QUIT with the FIN when dropped.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::failure::Failure;
use super::mysql::MySql;
use super::mysql_wire::{self as wire, frame};

const PROTOCOL_41: u32 = 0x200;
const SECURE_CONNECTION: u32 = 0x8000;
const PLUGIN_AUTH: u32 = 1 << 19;
const CONNECT_ATTRS: u32 = 1 << 20;
const DEPRECATE_EOF: u32 = 1 << 24;

/// A HandshakeV10 as MariaDB 10.11 writes it, offering `caps`.
fn greeting(caps: u32) -> Vec<u8> {
    let mut g = vec![10];
    g.extend_from_slice(b"5.5.5-10.11.19-MariaDB\0");
    g.extend_from_slice(&7u32.to_le_bytes());
    g.extend_from_slice(b"abcdefgh\0");
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(45);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0; 10]);
    g.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    g
}

fn err(code: u16, message: &str) -> Vec<u8> {
    let mut e = vec![0xff];
    e.extend_from_slice(&code.to_le_bytes());
    e.extend_from_slice(b"#HY000");
    e.extend_from_slice(message.as_bytes());
    e
}

/// A result set of one column and one row, in the shape `caps` agreed.
fn one_row(caps: u32) -> Vec<u8> {
    let deprecate = caps & DEPRECATE_EOF != 0;
    let mut out = frame(1, &[1]);
    out.extend(frame(
        2,
        b"\x03def\0\0\0\x011\0\x0c\x3f\0\x01\0\0\0\x08\x81\0\0\0\0",
    ));
    let mut seq = 3;
    if !deprecate {
        out.extend(frame(seq, &[0xfe, 0, 0, 2, 0]));
        seq += 1;
    }
    out.extend(frame(seq, b"\x011"));
    let end: &[u8] = if deprecate {
        &[0xfe, 0, 0, 2, 0, 0, 0]
    } else {
        &[0xfe, 0, 0, 2, 0]
    };
    out.extend(frame(seq + 1, end));
    out
}

/// Serves one connection: the greeting, an AuthSwitchRequest, then answers to four queries
/// (a row, a syntax error, a row, MySQL's idle-timeout error); returns the login it read and
/// what the client sent after its last query.
async fn scripted(listener: TcpListener, caps: u32) -> (Vec<u8>, Vec<u8>) {
    let (mut s, _) = listener.accept().await.expect("accept");
    s.write_all(&frame(0, &greeting(caps)))
        .await
        .expect("greet");
    let login = wire::read(&mut s).await.expect("login");
    let mut switch = vec![0xfe];
    switch.extend_from_slice(b"mysql_native_password\0abcdefghijklmnopqrst\0");
    s.write_all(&frame(2, &switch)).await.expect("switch");
    let answer = wire::read(&mut s).await.expect("auth switch response");
    assert_eq!((answer.seq, answer.body.len()), (3, 0));
    s.write_all(&frame(4, &[0, 0, 0, 2, 0, 0, 0]))
        .await
        .expect("ok");
    let answers = [
        one_row(caps),
        frame(1, &err(1064, "You have an error in your SQL syntax")),
        one_row(caps),
        frame(1, &err(4031, "The client was disconnected by the server")),
    ];
    for answer in answers {
        let query = wire::read(&mut s).await.expect("query");
        assert_eq!((query.seq, query.body[0]), (0, 3));
        s.write_all(&answer).await.expect("answer");
    }
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    (login.body, rest)
}

async fn session_with(caps: u32) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(scripted(listener, caps));
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut my = MySql::open(stream, "app", None).await.expect("login");
    assert!(my.query("SELECT 1").await.is_ok());
    assert!(matches!(my.query("SELEC 1").await, Err(Failure::Query(e)) if e.contains("1064")));
    assert!(my.query("SELECT 1").await.is_ok());
    assert!(matches!(my.query("SELECT 1").await, Err(Failure::BadConn(e)) if e.contains("4031")));
    drop(my);
    let (login, after) = server.await.expect("server");
    let text = String::from_utf8_lossy(&login);
    assert!(text.contains("app\0"), "{text:?}");
    assert!(text.contains("_client_name\x07connlab"), "{text:?}");
    // COM_QUIT, then the FIN that ended read_to_end.
    assert_eq!(after, [1, 0, 0, 0, 1]);
}

#[tokio::test]
async fn a_session_logs_in_through_an_auth_switch_and_reads_each_answer_to_its_end() {
    let caps = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | CONNECT_ATTRS;
    session_with(caps).await;
    session_with(caps | DEPRECATE_EOF).await;
}

#[tokio::test]
async fn a_payload_of_16_mib_goes_on_in_an_empty_packet_and_is_read_back_whole() {
    let payload = vec![7u8; 0xff_ffff];
    let framed = frame(0, &payload);
    assert_eq!(framed.len(), 4 + 0xff_ffff + 4);
    assert_eq!(&framed[framed.len() - 4..], [0, 0, 0, 1]);
    let read = wire::read(&mut &framed[..]).await.expect("read");
    assert_eq!((read.seq, read.body.len()), (1, 0xff_ffff));
}

#[test]
fn hostile_greetings_are_refused_without_a_panic() {
    for bytes in [
        &[][..],
        &[10],
        &[10, b'x'],
        &[9, 0, 0],
        &[
            0xff, 0x10, 0x04, b'#', b'0', b'8', b'0', b'0', b'4', b'T', b'o', b'o',
        ],
        &[0xff],
    ] {
        assert!(wire::greeting_caps(bytes).is_err(), "{bytes:?}");
    }
    let caps = PROTOCOL_41 | DEPRECATE_EOF;
    assert_eq!(wire::greeting_caps(&greeting(caps)), Ok(caps));
    assert!(wire::err_text(&err(1040, "Too many connections")).starts_with("ERROR 1040 (HY000)"));
    assert_eq!(wire::ok_status(&[0]), 0);
    assert_eq!(wire::eof_status(&[0xfe]), 0);
    assert_eq!(wire::lenenc(&[0xfe, 1]), None);
}

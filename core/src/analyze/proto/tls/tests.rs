//! The TLS layer on real TLS: rustls client and server connections talk in memory, their
//! bytes become the segments of a capture, and rustls' own key log is the key log. Every
//! suite connlab decrypts, both versions, resumption, key updates, HTTP/2 inside, records
//! split anywhere, wrong keys, and what is known without keys.

use std::io::Write;

use crate::analyze::event::{EventKind as K, Side};
use crate::analyze::tls_event::TlsEvent;
use crate::testframes::Lab;
use crate::testtls::{ends, setup, suites12, suites13, Session, Setup};

fn tls_events(lab: &Lab) -> Vec<TlsEvent> {
    lab.events
        .iter()
        .filter_map(|e| match &e.kind {
            K::Tls(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// Three requests on one connection, with the key log given before the capture is read.
fn three_requests(s: &Setup, mss: usize, with_keys: bool) -> Lab {
    let ends = ends(s);
    let mut capture = Lab::default();
    {
        let mut session = Session::open(&mut capture, &ends, 40000, mss);
        for path in ["/a", "/b", "/c"] {
            session.exchange(path);
            session.idle(100);
        }
    }
    // Replay the capture into an analyser that has (or lacks) the keys from the start.
    let keys = ends.keys.0.lock().expect("keys").clone();
    replay(&capture, with_keys.then_some(keys.as_bytes()))
}

/// The same frames again, read by a fresh analyser given `keys`.
fn replay(capture: &Lab, keys: Option<&[u8]>) -> Lab {
    let mut lab = Lab::default();
    if let Some(k) = keys {
        lab.an.add_keys(k);
    }
    for frame in &capture.frames {
        lab.at(frame.0, &frame.1);
    }
    lab
}

#[test]
fn every_suite_of_both_versions_decrypts_to_the_same_http() {
    let all = suites13()
        .into_iter()
        .map(|s| setup(true, s))
        .chain(suites12().into_iter().map(|s| setup(false, s)));
    for s in all {
        let name = format!("{:?}", s.suite.suite());
        let lab = three_requests(&s, 1400, true);
        let sum = lab.an.summary();
        assert_eq!(
            (sum.requests, sum.responses, sum.reused),
            (3, 3, 2),
            "{name}"
        );
        assert_eq!((sum.tls.connections, sum.tls.decrypted), (1, 1), "{name}");
        assert_eq!(sum.tls.decrypt_failed, 0, "{name}");
        let version = if s.tls13 { "1.3" } else { "1.2" };
        assert_eq!(sum.tls.versions.get(version), Some(&1), "{name}");
        assert_eq!(sum.tls.alpn.get("http/1.1"), Some(&1), "{name}");
        assert!(
            tls_events(&lab)
                .iter()
                .any(|e| matches!(e, TlsEvent::HandshakeDone { .. })),
            "{name}"
        );
    }
}

#[test]
fn records_split_into_tiny_segments_read_the_same() {
    for s in [setup(true, suites13()[0]), setup(false, suites12()[0])] {
        let lab = three_requests(&s, 7, true);
        let sum = lab.an.summary();
        assert_eq!((sum.requests, sum.reused), (3, 2));
    }
}

#[test]
fn without_keys_the_handshake_is_known_and_no_http_is_guessed() {
    for s in [setup(true, suites13()[1]), setup(false, suites12()[1])] {
        let lab = three_requests(&s, 1400, false);
        let sum = lab.an.summary();
        assert_eq!(sum.requests, 0);
        assert_eq!((sum.tls.connections, sum.tls.undecrypted), (1, 1));
        assert_eq!(sum.tls.full_handshakes, 1);
        let events = tls_events(&lab);
        assert!(events.contains(&TlsEvent::NoKeys));
        assert!(events
            .iter()
            .any(|e| matches!(e, TlsEvent::HandshakeDone { handshake_ns } if *handshake_ns > 0)));
        assert!(events.iter().any(|e| matches!(
            e,
            TlsEvent::ClientHello { sni, alpn, .. } if sni == "lab" && alpn == "http/1.1"
        )));
    }
}

#[test]
fn wrong_keys_are_reported_never_read_as_garbage() {
    let s = setup(true, suites13()[0]);
    let ends = ends(&s);
    let mut capture = Lab::default();
    Session::open(&mut capture, &ends, 40000, 1400).exchange("/a");
    let keys = ends.keys.0.lock().expect("keys").clone();
    // Same client random, every secret's last hex digit changed.
    let wrong: String = keys
        .lines()
        .map(|l| {
            let mut l = l.to_owned();
            let last = if l.ends_with('0') { '1' } else { '0' };
            l.pop();
            l.push(last);
            l + "\n"
        })
        .collect();
    let lab = replay(&capture, Some(wrong.as_bytes()));
    let sum = lab.an.summary();
    assert_eq!(sum.requests, 0);
    assert_eq!(sum.tls.decrypt_failed, 1);
    // The server's first protected record (its EncryptedExtensions) is the first to fail.
    assert!(tls_events(&lab).contains(&TlsEvent::DecryptFailed { by: Side::Server }));
}

#[test]
fn a_key_update_changes_the_keys_and_reading_goes_on() {
    let s = setup(true, suites13()[2]);
    let ends = ends(&s);
    let mut capture = Lab::default();
    {
        let mut session = Session::open(&mut capture, &ends, 40000, 1400);
        session.exchange("/before");
        session.client.refresh_traffic_keys().expect("key update");
        session.exchange("/after");
        session.server.refresh_traffic_keys().expect("key update");
        session.exchange("/again");
    }
    let keys = ends.keys.0.lock().expect("keys").clone();
    let lab = replay(&capture, Some(keys.as_bytes()));
    let sum = lab.an.summary();
    assert_eq!((sum.requests, sum.responses), (3, 3));
    assert!(sum.tls.key_updates >= 2, "{:?}", tls_events(&lab));
}

#[test]
fn a_second_connection_resumes_when_tickets_are_on_and_not_when_off() {
    for (tls13, suite) in [(true, suites13()[0]), (false, suites12()[0])] {
        for tickets in [true, false] {
            let s = Setup {
                tickets,
                ..setup(tls13, suite)
            };
            let ends = ends(&s);
            let mut capture = Lab::default();
            for port in [40000, 40001] {
                let mut session = Session::open(&mut capture, &ends, port, 1400);
                session.exchange("/");
                session.close(Side::Client);
            }
            let keys = ends.keys.0.lock().expect("keys").clone();
            let lab = replay(&capture, Some(keys.as_bytes()));
            let sum = lab.an.summary();
            assert_eq!(
                sum.tls.resumed,
                u64::from(tickets),
                "tls13 {tls13} tickets {tickets}"
            );
            assert_eq!(sum.requests, 2, "resumed connections decrypt too");
        }
    }
}

#[test]
fn http2_inside_tls_is_read_by_the_http2_layer() {
    let s = Setup {
        alpn: b"h2",
        ..setup(true, suites13()[0])
    };
    let ends = ends(&s);
    let mut capture = Lab::default();
    {
        let mut session = Session::open(&mut capture, &ends, 40000, 1400);
        let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        preface.extend([0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
        session
            .client
            .writer()
            .write_all(&preface)
            .expect("preface");
        session.flush();
    }
    let keys = ends.keys.0.lock().expect("keys").clone();
    let lab = replay(&capture, Some(keys.as_bytes()));
    let sum = lab.an.summary();
    assert_eq!(sum.http2.connections, 1);
    assert_eq!(sum.tls.alpn.get("h2"), Some(&1));
}

#[test]
fn a_close_notify_is_not_activity_so_the_idle_close_is_timed_right() {
    for (tls13, suite, keys) in [
        (true, suites13()[0], true),
        (true, suites13()[0], false),
        (false, suites12()[0], false),
    ] {
        let s = setup(tls13, suite);
        let ends = ends(&s);
        let mut capture = Lab::default();
        {
            let mut session = Session::open(&mut capture, &ends, 40000, 1400);
            session.exchange("/");
            session.idle(3000);
            session.close(Side::Server);
        }
        let log = ends.keys.0.lock().expect("keys").clone();
        let lab = replay(&capture, keys.then_some(log.as_bytes()));
        let idle = lab
            .events
            .iter()
            .find_map(|e| match e.kind {
                K::Fin {
                    by: Side::Server,
                    idle_ns,
                } => idle_ns,
                _ => None,
            })
            .expect("the server's FIN");
        assert!(
            (3_000_000_000..3_010_000_000).contains(&idle),
            "tls13 {tls13} keys {keys}: idle {idle}"
        );
        let alerts: Vec<&'static str> = tls_events(&lab)
            .iter()
            .filter_map(|e| match e {
                TlsEvent::Alert {
                    by: Side::Server,
                    description,
                } => Some(*description),
                _ => None,
            })
            .collect();
        let want: &[&str] = match (tls13, keys) {
            (_, true) => &["close_notify"],
            (_, false) => &["encrypted"],
        };
        assert_eq!(alerts, want, "tls13 {tls13} keys {keys}");
    }
}

#[test]
fn damaged_records_and_cut_captures_never_panic() {
    let s = setup(true, suites13()[0]);
    let ends = ends(&s);
    let mut capture = Lab::default();
    Session::open(&mut capture, &ends, 40000, 300).exchange("/a");
    let keys = ends.keys.0.lock().expect("keys").clone();
    // Flip one byte of each frame's payload in turn, and drop each frame in turn.
    for victim in 3..capture.frames.len() {
        for damage in [true, false] {
            let mut lab = Lab::default();
            lab.an.add_keys(keys.as_bytes());
            for (n, (ms, frame)) in capture.frames.iter().enumerate() {
                if n == victim && !damage {
                    continue;
                }
                let mut frame = frame.clone();
                if n == victim {
                    let last = frame.len() - 1;
                    frame[last] ^= 0x55;
                }
                lab.at(*ms, &frame);
            }
            let _ = lab.an.summary();
        }
    }
}

/// The `tls` fuzz target's seeds (fuzz/seeds/tls) are real sessions whose key logs decrypt
/// them, so mutations start past the handshake. With `CONNLAB_WRITE_FUZZ_SEEDS=1` this test
/// writes them afresh first (when the seed format changes); either way it replays each seed
/// as the target does and checks what it holds.
#[test]
fn the_tls_fuzz_seeds_are_real_sessions_that_decrypt() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/tls");
    let cases = [
        ("tls13-aes128", true, 0),
        ("tls13-chacha", true, 2),
        ("tls12-aes256", false, 1),
        ("tls13-no-keys", true, 1),
    ];
    if std::env::var_os("CONNLAB_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).expect("seed folder");
        for (name, tls13, suite) in cases {
            let s = setup(tls13, if tls13 { suites13() } else { suites12() }[suite]);
            std::fs::write(dir.join(name), seed(&s, !name.ends_with("no-keys"))).expect("seed");
        }
    }
    for (name, _, _) in cases {
        let bytes = std::fs::read(dir.join(name)).expect("seed present");
        let sum = replay_seed(&bytes).an.summary();
        let keyed = !name.ends_with("no-keys");
        assert_eq!(sum.tls.connections, 1, "{name}");
        assert_eq!(sum.tls.decrypted, u64::from(keyed), "{name}");
        assert_eq!(sum.requests, if keyed { 2 } else { 0 }, "{name}");
    }
}

/// A seed in the `tls` fuzz target's format: the key log's length and text, then the
/// session's segments (a side byte, a length byte, the bytes).
fn seed(s: &Setup, with_keys: bool) -> Vec<u8> {
    let ends = ends(s);
    let mut lab = Lab::default();
    let sent = {
        let mut session = Session::open(&mut lab, &ends, 40000, 1400);
        session.exchange("/a");
        session.exchange("/b");
        session.close(Side::Server);
        session.sent.clone()
    };
    let keys = if with_keys {
        Session::keys(&ends)
    } else {
        String::new()
    };
    let mut seed = (keys.len() as u16).to_be_bytes().to_vec();
    seed.extend(keys.as_bytes());
    for (side, bytes) in sent {
        for chunk in bytes.chunks(255) {
            seed.push(u8::from(side == Side::Server));
            seed.push(chunk.len() as u8);
            seed.extend(chunk);
        }
    }
    seed
}

/// Feeds a seed to an analyzer the way fuzz/fuzz_targets/tls.rs does (without its gap marks,
/// which seeds do not use).
fn replay_seed(data: &[u8]) -> Lab {
    use crate::testframes::{conv, F};
    let n = usize::from(u16::from_be_bytes([data[0], data[1]]));
    let (keys, mut rest) = data[2..].split_at(n);
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.an.add_keys(keys);
    lab.handshake(&mut c, 0);
    let mut ms = 10;
    while let [side, len, tail @ ..] = rest {
        let side = if side & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let (chunk, tail) = tail.split_at(usize::from(*len));
        lab.at(ms, &c.send(side, F::PSH | F::ACK, chunk));
        ms += 1;
        rest = tail;
    }
    lab.at(ms, &c.send(Side::Server, F::FIN | F::ACK, b""));
    lab
}

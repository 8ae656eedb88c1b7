//! One crafted connection per Zeek `conn_state`, checked against Zeek's definitions: the
//! state, the history letters with their case and repetition, and the counts.

use super::format::{json_lines, tsv};
use super::Row;
use crate::analyze::Side;
use crate::testframes::{Conv, Lab, F};

/// Frames fed into a lab on a conversation.
type Script = dyn FnOnce(&mut Lab, &mut Conv);

const C: Side = Side::Client;
const S: Side = Side::Server;

/// The rows of the frames `script` feeds, on a conversation 10.0.0.1:40000 -> 10.0.0.2:80.
fn rows(script: impl FnOnce(&mut Lab, &mut Conv)) -> Vec<Row> {
    rows_on("10.0.0.2:80", script)
}

/// The same with the server at `server`.
fn rows_on(server: &str, script: impl FnOnce(&mut Lab, &mut Conv)) -> Vec<Row> {
    let mut lab = Lab::default();
    lab.an.log_connections();
    let mut c = Conv::new("10.0.0.1:40000", server, 1_000, 5_000);
    script(&mut lab, &mut c);
    let report = lab.report();
    lab.an.conn_log().expect("asked for").rows(&report)
}

/// The one row's state and history.
fn state(script: impl FnOnce(&mut Lab, &mut Conv)) -> (&'static str, String) {
    let rows = rows(script);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    (rows[0].conn_state, rows[0].history.clone())
}

fn handshake(lab: &mut Lab, c: &mut Conv) {
    lab.at(0, &c.send(C, F::SYN, b""));
    lab.at(1, &c.send(S, F::SYN | F::ACK, b""));
    lab.at(2, &c.send(C, F::ACK, b""));
}

/// A request the server acknowledges before it answers, as a server that takes a moment does.
fn talk(lab: &mut Lab, c: &mut Conv) {
    lab.at(
        3,
        &c.send(C, F::PSH | F::ACK, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    );
    lab.at(3, &c.send(S, F::ACK, b""));
    lab.at(
        4,
        &c.send(
            S,
            F::PSH | F::ACK,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    );
    lab.at(5, &c.send(C, F::ACK, b""));
}

#[test]
fn a_whole_connection_is_sf_with_zeeks_usual_history() {
    let rows = rows(|lab, c| {
        handshake(lab, c);
        talk(lab, c);
        lab.at(6, &c.send(C, F::FIN | F::ACK, b""));
        lab.at(7, &c.send(S, F::FIN | F::ACK, b""));
        lab.at(8, &c.send(C, F::ACK, b""));
    });
    let r = &rows[0];
    assert_eq!((r.conn_state, r.history.as_str()), ("SF", "ShADadFf"));
    assert_eq!((r.orig_bytes, r.resp_bytes, r.missed_bytes), (27, 38, 0));
    assert_eq!((r.orig_pkts, r.resp_pkts), (6, 4));
    // Every test frame has 20 bytes of IPv4 header and 20 of TCP header.
    assert_eq!(
        (r.orig_ip_bytes, r.resp_ip_bytes),
        (6 * 40 + 27, 4 * 40 + 38)
    );
    assert_eq!((r.duration_ns, r.service), (8_000_000, Some("http")));
    assert_eq!((r.requests, r.reused, r.first_fin_by), (1, 0, Some(C)));
    assert_eq!(r.orig.to_string(), "10.0.0.1:40000");
}

#[test]
fn each_of_zeeks_states_from_its_own_packets() {
    let established_then = |flags: u8, by: Side| {
        move |lab: &mut Lab, c: &mut Conv| {
            handshake(lab, c);
            talk(lab, c);
            lab.at(6, &c.send(by, flags, b""));
        }
    };
    let cases: Vec<(&str, &str, Box<Script>)> = vec![
        (
            "S0",
            "S",
            Box::new(|lab, c| lab.at(0, &c.send(C, F::SYN, b""))),
        ),
        (
            "REJ",
            "Sr",
            Box::new(|lab, c| {
                lab.at(0, &c.send(C, F::SYN, b""));
                lab.at(1, &c.send(S, F::RST | F::ACK, b""));
            }),
        ),
        (
            "S1",
            "ShADad",
            Box::new(|lab, c| {
                handshake(lab, c);
                talk(lab, c);
            }),
        ),
        (
            "S2",
            "ShADadF",
            Box::new(established_then(F::FIN | F::ACK, C)),
        ),
        (
            "S3",
            "ShADadf",
            Box::new(established_then(F::FIN | F::ACK, S)),
        ),
        ("RSTO", "ShADadR", Box::new(established_then(F::RST, C))),
        ("RSTR", "ShADadr", Box::new(established_then(F::RST, S))),
        (
            "RSTOS0",
            "SR",
            Box::new(|lab, c| {
                lab.at(0, &c.send(C, F::SYN, b""));
                lab.at(1, &c.send(C, F::RST, b""));
            }),
        ),
        (
            "RSTRH",
            "hr",
            Box::new(|lab, c| {
                lab.at(0, &c.send(S, F::SYN | F::ACK, b""));
                lab.at(1, &c.send(S, F::RST, b""));
            }),
        ),
        (
            "SH",
            "SF",
            Box::new(|lab, c| {
                lab.at(0, &c.send(C, F::SYN, b""));
                lab.at(1, &c.send(C, F::FIN, b""));
            }),
        ),
        (
            "SHR",
            "hf",
            Box::new(|lab, c| {
                lab.at(0, &c.send(S, F::SYN | F::ACK, b""));
                lab.at(1, &c.send(S, F::FIN | F::ACK, b""));
            }),
        ),
        (
            "OTH",
            "Da",
            Box::new(|lab, c| {
                lab.at(0, &c.send(C, F::PSH | F::ACK, b"GET / HTTP/1.1\r\n\r\n"));
                lab.at(1, &c.send(S, F::ACK, b""));
            }),
        ),
    ];
    for (want, history, script) in cases {
        assert_eq!(state(script), (want, history.to_owned()), "{want}");
    }
}

#[test]
fn repeated_and_logarithmic_letters_follow_zeeks_rules() {
    let rows = rows(|lab, c| {
        // The SYN sent three times (the same sequence number: one `S`), then answered.
        for t in 0..3 {
            lab.at(t, &c.frame(C, F::SYN, 1_000, 0, b""));
        }
        lab.at(3, &c.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
        lab.at(4, &c.frame(C, F::ACK, 1_001, 5_001, b""));
        // Ten retransmissions of the same 4 bytes: `T` at the first and the tenth.
        lab.at(5, &c.frame(C, F::PSH | F::ACK, 1_001, 5_001, b"ping"));
        for t in 0..10 {
            lab.at(6 + t, &c.frame(C, F::PSH | F::ACK, 1_001, 5_001, b"ping"));
        }
        // 100 bytes the capture missed before the next 4: a gap, `G`.
        lab.at(20, &c.frame(C, F::PSH | F::ACK, 1_105, 5_001, b"pong"));
        lab.at(21, &c.frame(S, F::ACK, 5_001, 1_109, b""));
    });
    let r = &rows[0];
    assert_eq!(r.history, "ShADTTGa");
    assert_eq!((r.orig_bytes, r.missed_bytes), (108, 100));
}

#[test]
fn a_connection_first_seen_from_its_server_is_flipped() {
    // Mid-connection, the server (on a port above its client's) first: taken for the client
    // until its status line says otherwise; the history begins `^` and changes case as
    // Zeek's does.
    let rows = rows_on("10.0.0.2:50000", |lab, c| {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        lab.at(0, &c.send(S, F::ACK, b""));
        lab.at(1, &c.send(S, F::PSH | F::ACK, response));
        lab.at(2, &c.send(C, F::ACK, b""));
    });
    let r = &rows[0];
    assert_eq!(r.orig.to_string(), "10.0.0.1:40000", "{r:?}");
    assert_eq!(r.history, "^adA");
    assert_eq!(r.conn_state, "OTH");
}

#[test]
fn tsv_has_zeeks_header_and_json_leaves_unset_fields_out() {
    let rows = rows(|lab, c| lab.at(0, &c.send(C, F::SYN, b"")));
    let text = tsv(&rows, "2026-12-07-18-00-00", "2026-12-07-18-00-01");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#separator \\x09");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h")));
    let row: Vec<&str> = lines[8].split('\t').collect();
    assert_eq!(row.len(), 23, "{row:?}");
    // ts; duration and bytes unset for a single packet; state S0; the empty set of findings.
    assert_eq!(row[0], "0.000000");
    assert_eq!((row[8], row[9], row[10], row[11]), ("-", "-", "-", "S0"));
    assert_eq!(row[22], "(empty)");
    assert_eq!(lines.last(), Some(&"#close\t2026-12-07-18-00-01"));
    let json: serde_json::Value =
        serde_json::from_str(json_lines(&rows).trim()).expect("one JSON line");
    assert_eq!(json["conn_state"], "S0");
    assert_eq!(json["id.resp_p"], 80);
    assert!(json.get("duration").is_none(), "{json}");
    assert!(json["uid"]
        .as_str()
        .is_some_and(|u| u.len() == 18 && u.starts_with('C')));
}

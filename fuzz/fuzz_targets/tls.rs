//! One TLS connection's byte streams with a key log: the record layer, the handshake parsers
//! and decryption (TLS 1.2 and 1.3) with the plaintext handed to HTTP. The input is a 2-byte
//! key log length, the key log text, then segments as in `streams` (a side byte, a length
//! byte and that many bytes; a length of 0 marks a gap of the next byte's value). The seeds
//! are real rustls sessions with their keys, so mutations reach past the handshake. The same
//! frames are read again with a reader decrypting ahead (as `connlab inspect` does), which
//! must not change a single event.
#![no_main]

use connlab_core::analyze::Side;
use connlab_core::diagnose::Diagnosis;
use connlab_core::testframes::{conv, read_ahead, Lab, F};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let n = usize::from(u16::from_be_bytes([*a, *b])).min(rest.len());
    let (keys, mut rest) = rest.split_at(n);
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.an.add_keys(keys);
    lab.handshake(&mut c, 0);
    let mut ms = 10;
    while let [side, len, tail @ ..] = rest {
        let side = if side & 1 == 0 { Side::Client } else { Side::Server };
        if *len == 0 {
            let Some((&skip, tail)) = tail.split_first() else {
                break;
            };
            let next = &mut c.next[if side == Side::Client { 0 } else { 1 }];
            *next = next.wrapping_add(u32::from(skip));
            rest = tail;
            continue;
        }
        let n = usize::from(*len).min(tail.len());
        lab.at(ms, &c.send(side, F::PSH | F::ACK, &tail[..n]));
        ms += 1;
        rest = &tail[n..];
    }
    lab.at(ms, &c.send(Side::Server, F::FIN | F::ACK, b""));
    let lag = usize::from(*a) % 5;
    let ahead = read_ahead(&lab.frames, keys, Some(lag), |_, _| {});
    let story = |events: &[connlab_core::analyze::Event]| {
        events
            .iter()
            .map(|e| (e.frame, e.t_ns, e.kind.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(story(&ahead.events), story(&lab.events), "decrypting ahead changed the story");
    let mut diagnosis = Diagnosis::new();
    for e in &lab.events {
        diagnosis.apply(e);
    }
    let _ = lab.an.summary();
    let _ = diagnosis.report();
});

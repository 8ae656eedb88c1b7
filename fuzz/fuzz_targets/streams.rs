//! One connection's byte streams, in segments the input chooses: the protocol layers above
//! TCP (HTTP/1.x, WebSocket after an upgrade, HTTP/2), fed through the real analyser from
//! built frames. The first byte picks how the connection starts; then each segment is a side
//! byte, a length byte and that many bytes (a length of 0 marks a gap of the next byte's
//! value: bytes the capture missed).
#![no_main]

use connlab_core::analyze::Side;
use connlab_core::diagnose::Diagnosis;
use connlab_core::testframes::{conv, Lab, F};
use libfuzzer_sys::fuzz_target;

const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";
const SWITCHED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let (mut lab, mut c) = (Lab::default(), conv());
    lab.handshake(&mut c, 0);
    let mut ms = 10;
    match mode % 3 {
        1 => {
            lab.at(ms, &c.send(Side::Client, F::PSH | F::ACK, UPGRADE));
            lab.at(ms + 1, &c.send(Side::Server, F::PSH | F::ACK, SWITCHED));
            ms += 2;
        }
        2 => {
            lab.at(ms, &c.send(Side::Client, F::PSH | F::ACK, H2_PREFACE));
            ms += 1;
        }
        _ => {}
    }
    while let [side, len, tail @ ..] = rest {
        let side = if side & 1 == 0 { Side::Client } else { Side::Server };
        if *len == 0 {
            // A gap: sequence space skipped, as a missed segment leaves it.
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
    lab.at(ms, &c.send(Side::Client, F::FIN | F::ACK, b""));
    let mut diagnosis = Diagnosis::new();
    for e in &lab.events {
        diagnosis.apply(e);
    }
    let _ = lab.an.summary();
    let _ = diagnosis.report();
});

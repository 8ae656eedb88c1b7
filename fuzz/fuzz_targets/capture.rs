//! A capture file, whole: the pcap/pcapng reader (its Decryption Secrets Blocks too), the
//! frame decoder, the analyser (TLS keys included) and the diagnosis, as `connlab inspect`
//! runs them. Any input is an error or a summary, never a panic.
#![no_main]

use connlab::capture::reader::{read_capture_bytes, Stored};
use connlab_core::analyze::{Analyzer, LinkType};
use connlab_core::diagnose::Diagnosis;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut analyzer = Analyzer::new();
    let mut diagnosis = Diagnosis::new();
    let mut events = Vec::new();
    let _ = read_capture_bytes("fuzz", data, |stored| {
        let packet = match stored {
            Stored::Packet(packet) => packet,
            Stored::Secrets(keys) => {
                analyzer.add_keys(keys);
                return;
            }
        };
        events.clear();
        diagnosis.capture_gap(packet.t_ns, packet.marks.lost_before);
        match LinkType::from_pcap(packet.linktype) {
            Some(link) => match packet.decode(link) {
                Ok(Some(seg)) => analyzer.handle_decoded(
                    packet.t_ns,
                    connlab_core::analyze::Decoded::Tcp(seg),
                    packet.marks.forged,
                    &mut events,
                ),
                Ok(None) => analyzer.handle_decoded(
                    packet.t_ns,
                    connlab_core::analyze::Decoded::NotTcp,
                    false,
                    &mut events,
                ),
                Err(_) => analyzer.handle_decoded(
                    packet.t_ns,
                    connlab_core::analyze::Decoded::Undecodable,
                    false,
                    &mut events,
                ),
            },
            None => {}
        }
        for e in &events {
            diagnosis.apply(e);
        }
    });
    let _ = analyzer.summary();
    let _ = diagnosis.report();
});

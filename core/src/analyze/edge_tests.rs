//! The edges real captures have that connlab's own labs do not make (issue: captures nobody
//! here made): each a crafted capture that went wrong before.

use crate::analyze::event::{EventKind as K, Side};
use crate::testframes::{Conv, Lab, F};

const C: Side = Side::Client;
const S: Side = Side::Server;

/// The client's FIN of connection 1 was read as one, and nothing as a retransmission.
fn a_fin_not_a_retransmit(lab: &Lab) {
    let kinds = lab.kinds(1);
    let fin = |k: &K| {
        matches!(
            k,
            K::Fin {
                by: Side::Client,
                ..
            }
        )
    };
    assert!(kinds.iter().any(fin), "{kinds:?}");
    let retransmit = |k: &K| matches!(k, K::Retransmit { .. });
    assert!(!kinds.iter().any(retransmit), "{kinds:?}");
}

fn conv() -> Conv {
    Conv::new("10.0.0.1:40000", "10.0.0.2:80", 1_000, 5_000)
}

/// The SYN, then a FIN with the same sequence number before any answer (a stack that closes
/// before its handshake completes without counting its SYN; a scanner's SYN then FIN): a
/// FIN, not a retransmission of the SYN.
#[test]
fn a_fin_on_the_syns_sequence_number_is_a_fin() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(C, F::FIN, 1_000, 0, b""));
    a_fin_not_a_retransmit(&lab);
}

/// A FIN sent before the handshake completed, on the next sequence number: a FIN.
#[test]
fn a_fin_before_the_handshake_completes_is_a_fin() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
    lab.at(2, &c.frame(C, F::FIN | F::ACK, 1_001, 5_001, b""));
    a_fin_not_a_retransmit(&lab);
}

/// An RST (injected in the server's name) that overtakes the client's last ACK of the
/// handshake: the connection closed; the ACK arriving after establishes nothing, and no event
/// comes after `closed`.
#[test]
fn closed_never_comes_before_established() {
    let (mut lab, c) = (Lab::default(), conv());
    lab.at(0, &c.frame(C, F::SYN, 1_000, 0, b""));
    lab.at(1, &c.frame(S, F::SYN | F::ACK, 5_000, 1_001, b""));
    lab.at(2, &c.frame(S, F::RST, 5_001, 0, b""));
    lab.at(3, &c.frame(C, F::ACK, 1_001, 5_001, b""));
    let kinds = lab.kinds(1);
    let closed = kinds
        .iter()
        .position(|k| matches!(k, K::Closed { .. }))
        .unwrap_or_else(|| panic!("no closed in {kinds:?}"));
    assert_eq!(closed, kinds.len() - 1, "{kinds:?}");
    assert!(!kinds.iter().any(|k| matches!(k, K::Established { .. })));
}

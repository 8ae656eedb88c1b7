//! `conn_state`: Zeek's summary of a TCP connection from its two endpoints' states, decided in
//! the order of Zeek's own `conn_state` function (base/protocols/conn/main.zeek).

use super::endpoint::{Endpoint, State};

/// The state's code: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR or OTH.
pub(crate) fn conn_state(orig: &Endpoint, resp: &Endpoint, history: &[u8]) -> &'static str {
    let (os, rs) = (orig.state, resp.state);
    if rs == State::Reset {
        let attempt = matches!(os, State::SynSent | State::SynAckSent)
            || (os == State::Reset && orig.bytes() == 0 && resp.bytes() == 0);
        return if attempt {
            "REJ"
        } else if os.inactive() {
            "RSTRH"
        } else {
            "RSTR"
        };
    }
    if os == State::Reset {
        if rs.inactive() {
            return if syn_then_reset(history) {
                "RSTOS0"
            } else {
                "OTH"
            };
        }
        return "RSTO";
    }
    match (os, rs) {
        (State::Closed, State::Closed) => "SF",
        (State::Closed, _) if rs.inactive() => "SH",
        (State::Closed, _) => "S2",
        (_, State::Closed) if os.inactive() => "SHR",
        (_, State::Closed) => "S3",
        (State::SynSent, State::Inactive) => "S0",
        (State::Established, State::Established) => "S1",
        _ => "OTH",
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/` on the history: the originator's SYN, then its RST, with no
/// handshake, ACK, FIN, gap, or odd packet of its own between.
fn syn_then_reset(history: &[u8]) -> bool {
    let rest = history.strip_prefix(b"^").unwrap_or(history);
    let Some(rest) = rest.strip_prefix(b"S") else {
        return false;
    };
    rest.iter()
        .take_while(|l| !b"HAFGIQ".contains(l))
        .any(|&l| l == b'R')
}

//! The kernel's own count of TCP socket states in a namespace, shown beside what the analyser
//! derived from the frames, so a user can trust (or question) the analysis.
//!
//! `/proc/self/net` follows the main thread's namespace, not the caller's; a thread inside the
//! namespace must read `/proc/thread-self/net/tcp{,6}`.

use std::collections::BTreeMap;
use std::fs;

use serde::Serialize;

/// TCP socket counts by state name (ESTABLISHED, TIME_WAIT, ...), listeners included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SocketStates(pub BTreeMap<String, u64>);

impl SocketStates {
    /// Count in one state, 0 when absent.
    pub fn get(&self, state: &str) -> u64 {
        self.0.get(state).copied().unwrap_or(0)
    }
}

/// Every state name, so that a count of 0 is reported as 0 rather than missing.
const STATES: [&str; 12] = [
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

/// Reads the TCP socket states of the calling thread's namespace.
pub fn read_socket_states() -> SocketStates {
    let mut states = SocketStates(STATES.iter().map(|s| (s.to_string(), 0)).collect());
    for file in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(file) {
            count_states(&text, &mut states);
        }
    }
    states
}

/// True when a socket listens on TCP `port` in the calling thread's namespace.
pub fn is_listening(port: u16) -> bool {
    listeners(port) > 0
}

/// How many sockets listen on TCP `port` in the calling thread's namespace (workers sharing
/// the port each have one).
pub fn listeners(port: u16) -> usize {
    let wanted = format!(":{port:04X}");
    ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"]
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .map(|table| {
            table
                .lines()
                .skip(1)
                .filter(|line| {
                    let mut cols = line.split_whitespace();
                    let local = cols.nth(1).unwrap_or("");
                    let state = cols.nth(1).unwrap_or("");
                    state == "0A" && local.ends_with(&wanted)
                })
                .count()
        })
        .sum()
}

/// Adds the states listed in one `/proc/net/tcp` table to `states`.
fn count_states(table: &str, states: &mut SocketStates) {
    for line in table.lines().skip(1) {
        let Some(code) = line.split_whitespace().nth(3) else {
            continue;
        };
        *states.0.entry(state_name(code).to_owned()).or_default() += 1;
    }
}

/// Name of a hexadecimal state code from include/net/tcp_states.h.
fn state_name(code: &str) -> &'static str {
    u8::from_str_radix(code, 16)
        .ok()
        .and_then(|n| STATES.get(usize::from(n).wrapping_sub(1)))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_states_from_a_proc_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 020012C6:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 020012C6:0050 010012C6:A1B2 06 00000000:00000000 03:00000F3C 00000000     0        0 0 3 0
   2: 020012C6:0050 010012C6:A1B3 06 00000000:00000000 03:00000F3C 00000000     0        0 0 3 0
   3: 020012C6:0050 010012C6:A1B4 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
";
        let mut states = SocketStates::default();
        count_states(table, &mut states);
        assert_eq!(states.get("TIME_WAIT"), 2);
        assert_eq!(states.get("LISTEN"), 1);
        assert_eq!(states.get("ESTABLISHED"), 1);
        assert_eq!(states.get("CLOSE_WAIT"), 0);
    }
}

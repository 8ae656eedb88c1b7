//! One side of a connection as Zeek's conn.log sees it: its TCP state (Zeek's endpoint states,
//! from which `conn_state` is read), its packets and bytes, and its letters of `history`.

use crate::analyze::Segment;

/// Zeek's TCP endpoint states (`TCP_INACTIVE` ... `TCP_RESET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum State {
    /// Sent nothing.
    #[default]
    Inactive,
    /// Sent a SYN.
    SynSent,
    /// Sent a SYN-ACK.
    SynAckSent,
    /// Sent something other than a SYN before any SYN of its was seen: the capture began
    /// mid-connection.
    Partial,
    /// Completed the handshake.
    Established,
    /// Sent a FIN.
    Closed,
    /// Sent an RST.
    Reset,
}

impl State {
    /// Zeek's `o_inactive`/`r_inactive`: it never took part in a handshake.
    pub fn inactive(self) -> bool {
        matches!(self, State::Inactive | State::Partial)
    }
}

/// Counts Zeek writes a letter at: the first, the 10th, the 100th... (`c`, `g`, `t`, `w`).
#[derive(Debug, Clone, Copy, Default)]
struct Logarithmic {
    seen: u64,
    next: u64,
}

impl Logarithmic {
    /// Counts one more; true when the letter is written again.
    fn bump(&mut self) -> bool {
        self.seen += 1;
        if self.seen >= self.next.max(1) {
            self.next = self.next.max(1) * 10;
            true
        } else {
            false
        }
    }
}

/// One side of a connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Endpoint {
    pub state: State,
    /// Packets it sent, and their IP bytes.
    pub packets: u64,
    pub ip_bytes: u64,
    /// The sequence number its stream's bytes count from, once known (its SYN's plus one,
    /// or its first segment's when the SYN was not captured).
    base: Option<u32>,
    /// Past the highest stream byte it sent, counted from `base`.
    end: u64,
    /// Stream bytes the capture never showed (forward jumps of the sequence).
    pub missed: u64,
    /// Letters written at most once: `a`, `d`, `i`, `q`.
    once: u8,
    /// The sequence numbers of its latest `s`, `h`, `f`, `r` (written again when it differs).
    last_seq: [Option<u32>; 4],
    gaps: Logarithmic,
    retransmits: Logarithmic,
    zero_windows: Logarithmic,
}

/// The once-only letters' bits.
const ACK: u8 = 1;
const DATA: u8 = 2;
const INCONSISTENT: u8 = 4;
const MULTI: u8 = 8;

impl Endpoint {
    /// Stream bytes it sent, by sequence numbers (Zeek's `size`).
    pub fn bytes(&self) -> u64 {
        self.end
    }

    /// Takes one segment it sent: its state, counts and the letters it adds to `history`
    /// (pushed lower case; the caller raises the originator's).
    pub fn sent(&mut self, seg: &Segment, peer: &mut Endpoint, history: &mut Vec<u8>) {
        let f = seg.flags;
        self.packets += 1;
        self.ip_bytes += u64::from(seg.headers) + u64::from(seg.len);
        if f.syn && (f.fin || f.rst) {
            self.once(MULTI, b'q', history);
        }
        if f.fin && f.rst {
            self.once(INCONSISTENT, b'i', history);
        }
        if f.syn {
            let letter = if f.ack { b'h' } else { b's' };
            self.repeat(usize::from(f.ack), seg.seq, letter, history);
            self.base.get_or_insert(seg.seq.wrapping_add(1));
            if matches!(self.state, State::Inactive | State::SynSent) && !f.rst {
                self.state = if f.ack {
                    State::SynAckSent
                } else {
                    State::SynSent
                };
            }
        }
        let len = u64::from(seg.len);
        if len > 0 {
            self.data(seg.seq, len, history);
        }
        if f.ack && !f.syn && !f.fin && !f.rst && len == 0 {
            self.once(ACK, b'a', history);
        }
        if seg.window == 0 && !f.rst && self.zero_windows.bump() {
            history.push(b'w');
        }
        if f.fin {
            self.repeat(2, seg.seq, b'f', history);
        }
        if f.rst {
            self.repeat(3, seg.seq, b'r', history);
        }
        self.next_state(seg, peer);
    }

    /// Zeek's endpoint state after the segment.
    fn next_state(&mut self, seg: &Segment, peer: &mut Endpoint) {
        let f = seg.flags;
        if f.rst {
            self.state = State::Reset;
        } else if f.fin {
            if self.state != State::Reset {
                self.state = State::Closed;
            }
        } else if f.syn {
            // Its state was set with the letter.
        } else if self.state == State::Inactive {
            self.state = State::Partial;
        } else if f.ack && matches!(self.state, State::SynSent | State::SynAckSent) {
            // The handshake's last ACK: both ends are established.
            self.state = State::Established;
            if matches!(peer.state, State::SynSent | State::SynAckSent) {
                peer.state = State::Established;
            }
        }
    }

    /// Stream bytes `seq .. seq + len`: data, a retransmission (`t`) or after a gap (`g`).
    fn data(&mut self, seq: u32, len: u64, history: &mut Vec<u8>) {
        self.once(DATA, b'd', history);
        let base = *self.base.get_or_insert(seq);
        let start = u64::from(seq.wrapping_sub(base));
        // A start far past the end is an old segment before `base`, wrapped: a retransmit.
        if start < self.end || start > self.end + (1 << 30) {
            if self.retransmits.bump() {
                history.push(b't');
            }
            self.end = self.end.max((start + len).min(self.end + (1 << 30)));
            return;
        }
        if start > self.end {
            self.missed += start - self.end;
            if self.gaps.bump() {
                history.push(b'g');
            }
        }
        self.end = start + len;
    }

    fn once(&mut self, bit: u8, letter: u8, history: &mut Vec<u8>) {
        if self.once & bit == 0 {
            self.once |= bit;
            history.push(letter);
        }
    }

    /// `s`, `h`, `f`, `r` (index 0 to 3): written again when the sequence number differs from
    /// the one last written for it.
    fn repeat(&mut self, which: usize, seq: u32, letter: u8, history: &mut Vec<u8>) {
        if self.last_seq[which] != Some(seq) {
            self.last_seq[which] = Some(seq);
            history.push(letter);
        }
    }
}

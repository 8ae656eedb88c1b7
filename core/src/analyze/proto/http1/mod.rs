//! HTTP/1.x as a protocol layer: request lines from the client, status lines from the
//! server, reuse and idle time, and the switch to another protocol after an accepted upgrade.

pub(crate) mod head;

use std::ops::ControlFlow;

use head::Upgrade;

use super::layer::{Cx, Handoff, Layer, Next};
use crate::analyze::event::{EventKind, Side};
use crate::analyze::stack::{Clue, Stack};

/// One connection's HTTP/1.x state.
#[derive(Debug, Default)]
pub(crate) struct Http1 {
    requests: u32,
    responses: u32,
    last_server_data_ns: Option<u64>,
    /// The latest request asked to switch protocols; its final response decides.
    upgrade: Option<Upgrade>,
    /// A 101 whose head did not end in its piece: the switch comes after its blank line.
    switching: Option<Box<Switching>>,
    /// Each side's software was told (once per connection is enough).
    told: [bool; 2],
    /// The server's Keep-Alive timeout was told.
    hinted: bool,
    /// Each side sent bytes already (the registry is told whether these are its first).
    spoke: [bool; 2],
    /// A request arriving in pieces smaller than its line (a byte at a time, say): its bytes
    /// so far, held until its head is whole.
    partial: Option<Vec<u8>>,
    /// What the server sent before any request that is no response (bounded): a protocol
    /// whose server speaks first, an HTTP/2 server's SETTINGS before the client's preface.
    /// The protocol the client's first bytes then name reads them first.
    early_server: Option<Vec<u8>>,
}

/// A request held in pieces longer than this is read as it stands.
const MAX_PARTIAL: usize = 16 * 1024;

/// A 101 seen, its head still arriving.
#[derive(Debug, Clone)]
struct Switching {
    to: Upgrade,
    /// The head so far (bounded), for the WebSocket headers it may carry.
    head: Vec<u8>,
}

/// A 101's head longer than this is not followed (the switch is then given up).
const MAX_SWITCHING_HEAD: usize = 16 * 1024;

impl Http1 {
    /// Whether `side`'s bytes may still be another protocol's (see `registry`): the client's
    /// until it sent a request, the server's while nothing at all was read.
    pub fn unclaimed(&self, side: Side) -> bool {
        self.requests == 0 && (side == Side::Client || self.responses == 0)
    }

    /// The server's bytes sent before any request (see `early_server`), for the protocol the
    /// client's first bytes name.
    pub fn take_early_server(&mut self) -> Option<Vec<u8>> {
        self.early_server.take()
    }

    /// Whether these are the first bytes `side` sends; from now on they are not.
    pub fn first_bytes(&mut self, side: Side) -> bool {
        !std::mem::replace(&mut self.spoke[usize::from(side == Side::Server)], true)
    }

    /// Emits the stack `by`'s message named, the first time on the connection.
    fn tell(&mut self, cx: &mut Cx<'_>, by: Side, stack: Option<(Stack, Clue)>) {
        let told = &mut self.told[usize::from(by == Side::Server)];
        if let (Some((stack, clue)), false) = (stack, *told) {
            *told = true;
            cx.emit(EventKind::Stack { by, stack, clue });
        }
    }

    fn client(&mut self, cx: &mut Cx<'_>, data: &[u8]) {
        let mut held = self.partial.take();
        if let Some(held) = held.as_mut() {
            let room = MAX_PARTIAL.saturating_sub(held.len());
            held.extend_from_slice(&data[..data.len().min(room)]);
        }
        // One call, inlined: this runs for every piece a client sends.
        let (bytes, was_held): (&[u8], bool) = match &held {
            Some(bytes) => (bytes, true),
            None => (data, false),
        };
        self.requests(cx, bytes, was_held);
    }

    /// Reads the requests in `data`, which starts after a message (or is its start, `held`
    /// from earlier pieces). A request line is found after the empty lines a client may send
    /// first (CRLF or bare LF). A start whose line is not whole (or, once held, whose head is
    /// not) is held for the next piece.
    fn requests(&mut self, cx: &mut Cx<'_>, data: &[u8], held: bool) {
        let data = head::after_empty_lines(data);
        if held && !head::head_whole(data) && head::may_start_request(data) && self.hold(data) {
            return;
        }
        let mut found = false;
        head::messages(data, head::request_line, |_, req| {
            found = true;
            self.requests += 1;
            let n = self.requests;
            let reused = n > 1;
            let idle_ns = self
                .last_server_data_ns
                .filter(|_| reused)
                .map(|last| cx.t_ns.saturating_sub(last));
            self.upgrade = req.upgrade;
            self.tell(cx, Side::Client, req.stack);
            cx.emit(EventKind::Request {
                n,
                method: req.method,
                path: req.path,
                reused,
                idle_ns,
                closing: req.closing,
            });
            ControlFlow::Continue(())
        });
        // No request: the start of one whose line is still arriving waits for the rest.
        if !found && !held && head::may_start_request(data) && memchr::memchr(b'\n', data).is_none()
        {
            self.hold(data);
        }
    }

    /// Holds `data`, a request's start still arriving, for the next piece, unless it is too
    /// long to be one; whether it did.
    fn hold(&mut self, data: &[u8]) -> bool {
        let hold = data.len() < MAX_PARTIAL;
        if hold {
            self.partial = Some(data.to_vec());
        }
        hold
    }

    fn server(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Next {
        if self.switching.is_some() {
            return self.finish_switch(cx, data);
        }
        if self.requests == 0 && self.responses == 0 && !data.starts_with(b"HTTP/1.") {
            let early = self.early_server.get_or_insert_with(Vec::new);
            let room = MAX_PARTIAL.saturating_sub(early.len());
            early.extend_from_slice(&data[..data.len().min(room)]);
            return Next::Same;
        }
        let mut next = Next::Same;
        head::messages(data, head::status_line, |at, line| {
            if line.interim() {
                // `100 Continue` and the like: the request's response is still to come.
                return ControlFlow::Continue(());
            }
            self.responses += 1;
            if let (Some(timeout_s), false) = (line.keep_alive_s, self.hinted) {
                self.hinted = true;
                cx.emit(EventKind::KeepAliveHint { timeout_s });
            }
            self.tell(cx, Side::Server, line.stack);
            cx.emit(EventKind::Response {
                n: self.responses,
                status: line.status,
                closing: line.closing,
            });
            let asked = self.upgrade.take();
            match (asked, line.status) {
                (Some(to), 101) => {
                    let to = line.upgrade.unwrap_or(to);
                    let message = &data[at..];
                    next = match line.head_len {
                        Some(len) => Next::Switch {
                            at: at + len,
                            to: switched(cx, to, &message[..len]),
                        },
                        None => {
                            self.switching = Some(Box::new(Switching {
                                to,
                                head: message[..message.len().min(MAX_SWITCHING_HEAD)].to_vec(),
                            }));
                            Next::Same
                        }
                    };
                    ControlFlow::Break(())
                }
                (Some(Upgrade::WebSocket), status) => {
                    cx.emit(EventKind::WsUpgradeRefused { status });
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Continue(()),
            }
        });
        next
    }

    /// The rest of a 101's head arrives: the other protocol starts after its blank line.
    fn finish_switch(&mut self, cx: &mut Cx<'_>, data: &[u8]) -> Next {
        let Some(sw) = self.switching.as_mut() else {
            return Next::Same;
        };
        let before = sw.head.len();
        sw.head
            .extend_from_slice(&data[..data.len().min(MAX_SWITCHING_HEAD)]);
        let Some(end) = memchr::memmem::find(&sw.head, b"\r\n\r\n") else {
            if sw.head.len() > MAX_SWITCHING_HEAD {
                self.switching = None;
                return Next::Switch {
                    at: data.len(),
                    to: Handoff::Opaque,
                };
            }
            return Next::Same;
        };
        let head_len = end + 4;
        let at = head_len.saturating_sub(before);
        let (to, head) = (sw.to, sw.head[..head_len].to_vec());
        self.switching = None;
        Next::Switch {
            at,
            to: switched(cx, to, &head),
        }
    }
}

/// The protocol a 101 hands the connection to (with its event), from the 101's head.
fn switched(cx: &mut Cx<'_>, to: Upgrade, head: &[u8]) -> Handoff {
    match to {
        Upgrade::WebSocket => {
            let accept = head::websocket_accept(head);
            cx.emit(EventKind::WsOpen {
                subprotocol: accept.subprotocol.clone(),
                deflate: accept.deflate,
            });
            Handoff::WebSocket {
                deflate: accept.deflate,
            }
        }
        Upgrade::H2c => Handoff::H2c,
        Upgrade::Other => Handoff::Opaque,
    }
}

impl Layer for Http1 {
    fn data(&mut self, cx: &mut Cx<'_>, side: Side, data: &[u8]) -> Next {
        match side {
            Side::Client => {
                self.client(cx, data);
                Next::Same
            }
            Side::Server => {
                let next = self.server(cx, data);
                // Server data restarts the idle clock for reuse.
                self.last_server_data_ns = Some(cx.t_ns);
                next
            }
        }
    }

    fn gap(&mut self, _cx: &mut Cx<'_>, _side: Side, _len: u64) {
        // Messages are looked for at the start of every piece: after a gap the next piece may
        // start one, and nothing else depends on the bytes in between.
    }
}

#[cfg(test)]
mod tests {
    use crate::analyze::event::{EventKind as K, Side};
    use crate::testframes::{conv, Lab, F};

    const UPGRADE: &[u8] =
        b"GET /ws HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\r\n";
    const SWITCHED: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n";

    /// A text frame as the server sends it (unmasked), or the client (masked).
    fn text(side: Side, payload: &[u8]) -> Vec<u8> {
        let masked = side == Side::Client;
        let mut out = vec![0x81, payload.len() as u8 | if masked { 0x80 } else { 0 }];
        if masked {
            out.extend_from_slice(&[0, 0, 0, 0]);
        }
        out.extend_from_slice(payload);
        out
    }

    fn ws_kinds(lab: &Lab) -> Vec<K> {
        lab.kinds(1)
            .into_iter()
            .filter(|k| matches!(k, K::WsOpen { .. } | K::WsMessage { .. }))
            .collect()
    }

    fn message(by: Side, bytes: u64) -> K {
        K::WsMessage {
            by,
            text: true,
            bytes,
            frames: 1,
            cut: 0,
        }
    }

    #[test]
    fn a_101_hands_both_directions_to_websocket_even_within_its_segment() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, UPGRADE));
        // The server's first message rides in the 101's segment.
        let first = [SWITCHED, &text(Side::Server, b"hello")].concat();
        lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, &first));
        lab.at(
            12,
            &c.send(Side::Client, F::PSH | F::ACK, &text(Side::Client, b"hi")),
        );
        // Bytes that look like HTTP are frames now.
        let lookalike = text(Side::Client, b"GET / HTTP/1.1\r\n\r\n");
        lab.at(13, &c.send(Side::Client, F::PSH | F::ACK, &lookalike));
        let open = K::WsOpen {
            subprotocol: Some("chat".into()),
            deflate: false,
        };
        assert_eq!(
            ws_kinds(&lab),
            [
                open,
                message(Side::Server, 5),
                message(Side::Client, 2),
                message(Side::Client, 18)
            ]
        );
        let s = lab.an.summary();
        assert_eq!((s.requests, s.responses), (1, 1));
        assert_eq!(
            (s.websocket.connections, s.websocket.messages.total()),
            (1, 3)
        );
    }

    #[test]
    fn a_101_whose_head_is_split_switches_after_its_blank_line() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, UPGRADE));
        let (a, b) = SWITCHED.split_at(40);
        lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, a));
        let rest = [b, &text(Side::Server, b"hello")].concat();
        lab.at(12, &c.send(Side::Server, F::PSH | F::ACK, &rest));
        assert_eq!(ws_kinds(&lab)[1..], [message(Side::Server, 5)]);
        assert!(matches!(
            ws_kinds(&lab)[0],
            K::WsOpen { subprotocol: Some(ref p), .. } if p == "chat"
        ));
    }

    #[test]
    fn an_upgrade_refused_stays_http() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, UPGRADE));
        let refused = b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n";
        lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, refused));
        lab.exchange(&mut c, 20, "/next");
        let kinds = lab.kinds(1);
        assert!(
            kinds.contains(&K::WsUpgradeRefused { status: 405 }),
            "{kinds:?}"
        );
        assert_eq!(lab.an.summary().requests, 2);
        assert_eq!(lab.an.summary().websocket.upgrades_refused, 1);
    }

    #[test]
    fn a_switch_to_an_unknown_protocol_stops_reading_http() {
        let (mut lab, mut c) = (Lab::default(), conv());
        lab.handshake(&mut c, 0);
        let req = b"GET / HTTP/1.1\r\nUpgrade: foo/1\r\nConnection: Upgrade\r\n\r\n";
        lab.at(10, &c.send(Side::Client, F::PSH | F::ACK, req));
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo/1\r\n\r\n";
        lab.at(11, &c.send(Side::Server, F::PSH | F::ACK, ok));
        lab.exchange(&mut c, 20, "/not-http-any-more");
        assert_eq!(lab.an.summary().requests, 1);
    }
}

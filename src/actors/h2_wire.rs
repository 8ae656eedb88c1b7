//! What the built-in HTTP/2 actors need from their connection that the `h2` crate does not
//! expose: when a frame last arrived (Go's ReadIdleTimeout and gRPC's keepalive count from
//! it), the peer's PINGs as they arrive (gRPC's server enforces a ping policy; `h2` answers
//! PINGs on its own and never shows them), and debug data on the GOAWAYs it sends (gRPC says
//! `too_many_pings`, `max_age` or `max_idle` there; `h2` sends none).
//!
//! [`Watched`] wraps the socket: it reads the incoming bytes' frame headers as they pass, and
//! rewrites an outgoing GOAWAY frame when debug data is set for it. Everything else passes
//! through untouched.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client's connection preface (RFC 9113 §3.4).
const PREFACE: usize = 24;
const HEADER: usize = 9;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const ACK: u8 = 1;

/// What the actor and the socket wrapper share.
pub struct Watch {
    start: Instant,
    /// When bytes last arrived, µs after `start`.
    last_read_us: AtomicU64,
    /// Called for each PING (not ACK) the peer sends.
    on_ping: Option<Box<dyn Fn() + Send + Sync>>,
    /// Debug data for the next GOAWAY this side sends.
    goaway_debug: Mutex<Option<&'static str>>,
}

impl Watch {
    /// A watch; `on_ping` is told of each of the peer's PINGs.
    pub fn new(on_ping: Option<Box<dyn Fn() + Send + Sync>>) -> Arc<Watch> {
        Arc::new(Watch {
            start: Instant::now(),
            last_read_us: AtomicU64::new(0),
            on_ping,
            goaway_debug: Mutex::new(None),
        })
    }

    /// When a frame (any byte) last arrived.
    pub fn last_read(&self) -> Instant {
        self.start + std::time::Duration::from_micros(self.last_read_us.load(Ordering::Relaxed))
    }

    /// The next GOAWAY this side sends carries `debug` as its debug data.
    pub fn set_goaway_debug(&self, debug: &'static str) {
        if let Ok(mut d) = self.goaway_debug.lock() {
            *d = Some(debug);
        }
    }
}

/// Reads frame headers out of a byte stream, skipping payloads.
#[derive(Debug)]
struct Scanner {
    /// Preface bytes still to skip.
    preface: usize,
    header: [u8; HEADER],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    skip: usize,
}

impl Scanner {
    fn new(preface: bool) -> Scanner {
        Scanner {
            preface: if preface { PREFACE } else { 0 },
            header: [0; HEADER],
            have: 0,
            skip: 0,
        }
    }

    /// Passes `data`; calls `frame(type, flags)` for each frame header completed in it.
    fn scan(&mut self, mut data: &[u8], mut frame: impl FnMut(u8, u8)) {
        while !data.is_empty() {
            if self.preface > 0 {
                let n = self.preface.min(data.len());
                self.preface -= n;
                data = &data[n..];
            } else if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
            } else {
                let n = (HEADER - self.have).min(data.len());
                self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
                self.have += n;
                data = &data[n..];
                if self.have == HEADER {
                    self.have = 0;
                    let h = &self.header;
                    self.skip = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                    frame(h[3], h[4]);
                }
            }
        }
    }
}

/// The outgoing side: frames pass through (a frame header only once it is whole), and a
/// GOAWAY is held whole and rewritten with the debug data set for it.
#[derive(Debug)]
struct Rewriter {
    /// Preface bytes still to pass (the client's side).
    preface: usize,
    header: [u8; HEADER],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    skip: usize,
    /// A GOAWAY being held: its bytes so far, and the payload still to come.
    held: Option<(Vec<u8>, usize)>,
}

impl Rewriter {
    fn new(preface: bool) -> Rewriter {
        Rewriter {
            preface: if preface { PREFACE } else { 0 },
            header: [0; HEADER],
            have: 0,
            skip: 0,
            held: None,
        }
    }

    /// Moves `data` to `out`, rewriting a GOAWAY when `debug` is set.
    fn feed(&mut self, mut data: &[u8], debug: &Mutex<Option<&'static str>>, out: &mut Vec<u8>) {
        while !data.is_empty() {
            if let Some((frame, left)) = self.held.as_mut() {
                let n = (*left).min(data.len());
                frame.extend_from_slice(&data[..n]);
                *left -= n;
                data = &data[n..];
                if *left == 0 {
                    self.release(debug, out);
                }
                continue;
            }
            let pass = if self.preface > 0 {
                &mut self.preface
            } else {
                &mut self.skip
            };
            if *pass > 0 {
                let n = (*pass).min(data.len());
                out.extend_from_slice(&data[..n]);
                *pass -= n;
                data = &data[n..];
                continue;
            }
            let n = (HEADER - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < HEADER {
                continue;
            }
            self.have = 0;
            let h = self.header;
            let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
            if h[3] == GOAWAY && debug.lock().is_ok_and(|d| d.is_some()) {
                self.held = Some((h.to_vec(), len));
                if len == 0 {
                    self.release(debug, out);
                }
            } else {
                out.extend_from_slice(&h);
                self.skip = len;
            }
        }
    }

    /// The held GOAWAY is whole: out it goes, with the debug data and its new length.
    fn release(&mut self, debug: &Mutex<Option<&'static str>>, out: &mut Vec<u8>) {
        let Some((mut frame, _)) = self.held.take() else {
            return;
        };
        if let Some(text) = debug.lock().ok().and_then(|mut d| d.take()) {
            frame.extend_from_slice(text.as_bytes());
            let len = (frame.len() - HEADER) as u32;
            frame[..3].copy_from_slice(&len.to_be_bytes()[1..]);
        }
        out.extend_from_slice(&frame);
    }
}

/// A socket whose traffic the [`Watch`] follows.
pub struct Watched<T> {
    io: T,
    watch: Arc<Watch>,
    incoming: Scanner,
    outgoing: Rewriter,
    /// Rewritten bytes not yet written to the socket.
    pending: Vec<u8>,
}

impl<T> Watched<T> {
    /// Wraps `io`; `server` when this side is the server (the peer then starts with the
    /// preface).
    pub fn new(io: T, watch: Arc<Watch>, server: bool) -> Watched<T> {
        Watched {
            io,
            watch,
            incoming: Scanner::new(server),
            outgoing: Rewriter::new(!server),
            pending: Vec::new(),
        }
    }
}

impl<T: AsyncWrite + Unpin> Watched<T> {
    /// Writes out what is pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut me.io).poll_read(cx, buf))?;
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            let watch = &me.watch;
            let us = watch.start.elapsed().as_micros() as u64;
            watch.last_read_us.store(us, Ordering::Relaxed);
            me.incoming.scan(new, |kind, flags| {
                if kind == PING && flags & ACK == 0 {
                    if let Some(on_ping) = &watch.on_ping {
                        on_ping();
                    }
                }
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        let Watched {
            outgoing,
            watch,
            pending,
            ..
        } = me;
        outgoing.feed(buf, &watch.goaway_debug, pending);
        // Written as far as the caller is concerned; it goes out on the next write or flush.
        let _ = me.poll_drain(cx)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend([kind, flags, 0, 0, 0, 0]);
        out.extend(payload);
        out
    }

    #[test]
    fn pings_are_seen_after_the_preface_and_acks_are_not() {
        let mut s = Scanner::new(true);
        let mut seen = Vec::new();
        let bytes = [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            &frame(4, 0, &[]),
            &frame(PING, 0, b"12345678"),
            &frame(PING, ACK, b"12345678"),
        ]
        .concat();
        for chunk in bytes.chunks(5) {
            s.scan(chunk, |kind, flags| seen.push((kind, flags)));
        }
        assert_eq!(seen, [(4, 0), (PING, 0), (PING, ACK)]);
    }

    #[test]
    fn a_goaway_gets_the_debug_data_and_other_frames_pass_untouched() {
        let debug = Mutex::new(Some("too_many_pings"));
        let mut w = Rewriter::new(false);
        let goaway = frame(GOAWAY, 0, &[0, 0, 0, 1, 0, 0, 0, 11]);
        let input = [frame(PING, ACK, b"abcdefgh"), goaway, frame(0, 1, b"x")].concat();
        let mut out = Vec::new();
        for chunk in input.chunks(3) {
            w.feed(chunk, &debug, &mut out);
        }
        let expected = [
            frame(PING, ACK, b"abcdefgh"),
            frame(GOAWAY, 0, b"\0\0\0\x01\0\0\0\x0btoo_many_pings"),
            frame(0, 1, b"x"),
        ]
        .concat();
        assert_eq!(out, expected);
        // Used once.
        assert!(debug.lock().expect("lock").is_none());
    }

    #[test]
    fn without_debug_data_bytes_pass_as_they_are() {
        let debug = Mutex::new(None);
        let mut w = Rewriter::new(true);
        let input = [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            &frame(GOAWAY, 0, &[0; 8]),
        ]
        .concat();
        let mut out = Vec::new();
        w.feed(&input, &debug, &mut out);
        assert_eq!(out, input);
    }
}

//! One side of a WebSocket connection with gorilla/websocket's keep-alive knobs, shared by the
//! built-in server and client: pings on a ticker (`pingPeriod`), a read deadline renewed only
//! by pongs (`pongWait`, set in gorilla's `SetPongHandler`), a deadline on every write
//! (`writeWait`), and the way a side ends a connection it ends itself (a close frame first, or
//! just the socket).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::time::{Instant, Interval};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How a side ends a WebSocket it ends itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WsEnding {
    /// The closing handshake: a close frame, the peer's close frame, then the TCP close
    /// (RFC 6455 7.1; gorilla: WriteControl(CloseMessage, ...)).
    #[default]
    Frame,
    /// Close the socket without a close frame (gorilla's chat example does so when a read
    /// fails): the peer's application sees 1006, abnormal closure.
    Drop,
}

/// The keep-alive knobs of one side (gorilla/websocket's names in the docs).
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    /// Time between pings (`pingPeriod`); None: no pings.
    pub ping_interval: Option<Duration>,
    /// Read deadline renewed by each pong (`pongWait`); None: no read deadline.
    pub pong_wait: Option<Duration>,
    /// Deadline of every write (`writeWait`).
    pub write_wait: Duration,
    /// How the side ends a connection it ends itself.
    pub ending: WsEnding,
    /// The close code it sends when it ends with a close frame.
    pub close_code: u16,
}

/// Why a session stopped reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The peer sent a close frame (with this code, if any).
    CloseFrame(Option<u16>),
    /// The TCP connection ended without a close frame (the application's 1006).
    Abnormal,
    /// No pong came within the pong wait.
    PongWait,
    /// A write did not finish within the write wait.
    WriteWait,
    /// This side closed the socket without a close frame.
    Dropped,
    /// Another error (a reset, a protocol error).
    Error(String),
}

impl Ended {
    /// The words the client's report counts it under.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ended::CloseFrame(_) => "close_frame",
            Ended::Abnormal => "abnormal_closure_1006",
            Ended::PongWait => "pong_wait_expired",
            Ended::WriteWait => "write_wait_expired",
            Ended::Dropped => "dropped_without_close_frame",
            Ended::Error(_) => "error",
        }
    }
}

/// What one side counted of its WebSocket traffic: the program's own account, set beside the
/// wire's in the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsCounts {
    /// Data messages sent.
    pub messages_sent: u64,
    /// Data messages received.
    pub messages_received: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Pongs received.
    pub pongs_received: u64,
    /// Close frames sent.
    pub close_frames_sent: u64,
    /// Close codes received in the peer's close frames (`"none"` without one).
    pub close_codes_received: BTreeMap<String, u64>,
    /// How the WebSockets ended, by cause (`close_frame`, `abnormal_closure_1006`,
    /// `pong_wait_expired`, `write_wait_expired`, `dropped_without_close_frame`, `error`).
    pub ended: BTreeMap<String, u64>,
}

impl WsCounts {
    /// Adds another connection's counts.
    pub fn add(&mut self, other: &WsCounts) {
        self.messages_sent += other.messages_sent;
        self.messages_received += other.messages_received;
        self.pings_sent += other.pings_sent;
        self.pongs_received += other.pongs_received;
        self.close_frames_sent += other.close_frames_sent;
        for (k, n) in &other.close_codes_received {
            *self.close_codes_received.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.ended {
            *self.ended.entry(k.clone()).or_default() += n;
        }
    }
}

/// A WebSocket with its keep-alive timers.
pub struct Session {
    ws: WebSocketStream<TcpStream>,
    knobs: Knobs,
    ticker: Option<Interval>,
    read_deadline: Option<Instant>,
    /// Set once reading stopped, with why.
    pub ended: Option<Ended>,
    /// This side sent (or tungstenite sent for it) a close frame.
    sent_close: bool,
    /// What this side counted.
    pub counts: WsCounts,
}

impl Session {
    /// A session over an upgraded connection; the timers start now.
    pub fn new(ws: WebSocketStream<TcpStream>, knobs: Knobs) -> Session {
        let ticker = knobs.ping_interval.map(|every| {
            let mut t = tokio::time::interval_at(Instant::now() + every, every);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        Session {
            ws,
            read_deadline: knobs.pong_wait.map(|w| Instant::now() + w),
            knobs,
            ticker,
            ended: None,
            sent_close: false,
            counts: WsCounts::default(),
        }
    }

    /// Sends a data message within the write wait.
    pub async fn send(&mut self, msg: Message) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let data = matches!(msg, Message::Text(_) | Message::Binary(_));
        if self.write(msg).await {
            self.counts.messages_sent += u64::from(data);
            true
        } else {
            false
        }
    }

    async fn write(&mut self, msg: Message) -> bool {
        match tokio::time::timeout(self.knobs.write_wait, self.ws.send(msg)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                self.end(Ended::Error(e.to_string()));
                false
            }
            Err(_) => {
                self.end(Ended::WriteWait);
                false
            }
        }
    }

    fn end(&mut self, why: Ended) {
        if self.ended.is_none() {
            *self
                .counts
                .ended
                .entry(why.as_str().to_owned())
                .or_default() += 1;
            self.ended = Some(why);
        }
    }

    /// Reads until a data message arrives or `until` passes, answering pings (tungstenite
    /// queues the pong, the flush sends it), sending this side's own pings on its ticker and
    /// keeping the read deadline. None when `until` passed or the session ended.
    pub async fn recv(&mut self, until: Option<Instant>) -> Option<Message> {
        loop {
            if self.ended.is_some() {
                return None;
            }
            let deadline = self.read_deadline;
            tokio::select! {
                msg = self.ws.next() => match msg {
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        self.counts.messages_received += 1;
                        return Some(m);
                    }
                    Some(Ok(Message::Ping(_))) => {
                        let _ = self.ws.flush().await;
                    }
                    Some(Ok(Message::Pong(_))) => {
                        self.counts.pongs_received += 1;
                        // gorilla's pong handler: SetReadDeadline(time.Now().Add(pongWait)).
                        self.read_deadline = self.knobs.pong_wait.map(|w| Instant::now() + w);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code));
                        let key = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
                        *self.counts.close_codes_received.entry(key).or_default() += 1;
                        // tungstenite answers with its own close frame (unless this side sent
                        // one first); flush it.
                        if !std::mem::replace(&mut self.sent_close, true) {
                            self.counts.close_frames_sent += 1;
                        }
                        let _ = self.ws.flush().await;
                        self.end(Ended::CloseFrame(code));
                    }
                    Some(Ok(Message::Frame(_))) => {}
                    Some(Err(e)) => {
                        use tokio_tungstenite::tungstenite::error::ProtocolError;
                        use tokio_tungstenite::tungstenite::Error as E;
                        match e {
                            E::ConnectionClosed
                            | E::AlreadyClosed
                            | E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                                self.end(Ended::Abnormal)
                            }
                            // A reset is also an end without a close frame: 1006 to a browser.
                            E::Io(io) if matches!(
                                io.kind(),
                                std::io::ErrorKind::ConnectionReset
                                    | std::io::ErrorKind::ConnectionAborted
                                    | std::io::ErrorKind::BrokenPipe
                                    | std::io::ErrorKind::UnexpectedEof
                            ) => self.end(Ended::Abnormal),
                            other => self.end(Ended::Error(other.to_string())),
                        }
                    }
                    None => self.end(Ended::Abnormal),
                },
                _ = tick(&mut self.ticker) => {
                    if self.write(Message::Ping(Vec::new().into())).await {
                        self.counts.pings_sent += 1;
                    }
                }
                _ = sleep_until(deadline) => self.end(Ended::PongWait),
                _ = sleep_until(until) => return None,
            }
        }
    }

    /// Ends the connection this side's way: a close frame and the peer's answer (within the
    /// write wait), or just the socket. Returns the TCP stream for a last read, when the
    /// closing handshake ran.
    pub async fn finish(mut self) -> (WsCounts, Option<TcpStream>) {
        let already = self.ended.is_some();
        let handshake = !already && self.knobs.ending == WsEnding::Frame;
        if handshake {
            let frame = CloseFrame {
                code: CloseCode::from(self.knobs.close_code),
                reason: "".into(),
            };
            let sent =
                tokio::time::timeout(self.knobs.write_wait, self.ws.close(Some(frame))).await;
            if matches!(sent, Ok(Ok(()))) {
                self.sent_close = true;
                self.counts.close_frames_sent += 1;
            }
            // Wait for the peer's close frame (and, for a client, the server's TCP close).
            let until = Instant::now() + self.knobs.write_wait;
            while self.ended.is_none() {
                if self.recv(Some(until)).await.is_none() && Instant::now() >= until {
                    break;
                }
            }
        } else if !already {
            self.end(Ended::Dropped);
        }
        let stream = handshake.then(|| self.ws.into_inner());
        (self.counts, stream)
    }
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

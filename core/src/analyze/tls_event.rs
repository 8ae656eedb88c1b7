//! TLS lifecycle events: what a connection's records say about its handshake (version, SNI,
//! ALPN, a full handshake or a resumption, how long it took), its alerts, and whether connlab
//! could decrypt it. In JSON lines they are `"kind": "tls"` events, their story in `"tls"`.

use compact_str::CompactString;
use serde::Serialize;

use super::vocabulary::Side;

/// What a TLS connection's records said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "tls", rename_all = "snake_case")]
pub enum TlsEvent {
    /// The client's hello: the connection speaks TLS from here.
    ClientHello {
        /// The server name it asked for (SNI).
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        sni: CompactString,
        /// The application protocols it offered (ALPN), comma-separated.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        alpn: CompactString,
        /// It offered to resume a session (a session id, a ticket, or a TLS 1.3 PSK).
        offers_resumption: bool,
    },
    /// The server's hello: the version and cipher suite chosen, the protocol (TLS 1.2; TLS
    /// 1.3 says it encrypted, see `Protocol`), and whether the session was resumed (no
    /// certificate, no full key exchange).
    ServerHello {
        /// "1.0" to "1.3", or "ssl3".
        version: &'static str,
        /// The cipher suite, as IANA names it.
        cipher: CompactString,
        /// The application protocol chosen (ALPN), if any.
        #[serde(skip_serializing_if = "CompactString::is_empty")]
        alpn: CompactString,
        /// A resumed session.
        resumed: bool,
    },
    /// TLS 1.3's EncryptedExtensions, decrypted: the application protocol ALPN chose (TLS
    /// 1.3 hides it from a reader without keys; TLS 1.2 says it in the ServerHello).
    Protocol {
        /// The protocol chosen, empty when none.
        alpn: CompactString,
    },
    /// The first application data after the handshake: the handshake took `handshake_ns`
    /// from the client's hello.
    HandshakeDone {
        /// Client hello to the first application data.
        handshake_ns: u64,
    },
    /// The server issued a session ticket (readable in TLS 1.2; in TLS 1.3 only decrypted).
    SessionTicket,
    /// An alert: `close_notify` ends a TLS connection politely.
    Alert {
        /// Who sent it.
        by: Side,
        /// Its description (`close_notify`, `handshake_failure`, ...), `encrypted` when the
        /// record could not be read: TLS 1.2 after the key exchange without keys, or TLS 1.3
        /// without keys, where a protected record of an alert's size (19 bytes) is taken
        /// for one.
        description: &'static str,
    },
    /// The keys for this connection were found (a key log, the capture's secrets): what it
    /// carries is read as in clear.
    Decrypting,
    /// No keys for this connection: its records are counted, not read.
    NoKeys,
    /// A record did not decrypt with the keys given (wrong keys, a damaged record): nothing
    /// more of this direction is decrypted rather than guessed.
    DecryptFailed {
        /// Whose record.
        by: Side,
    },
    /// A TLS 1.3 KeyUpdate: the sender's traffic keys change.
    KeyUpdate {
        /// Who updated.
        by: Side,
    },
    /// A record or handshake message that breaks the protocol (or connlab's bounds).
    ProtocolError {
        /// Who sent it.
        by: Side,
        /// What is wrong.
        error: &'static str,
    },
    /// The capture lost a record header (a gap where one was): nothing more of this
    /// direction is read.
    LostSync {
        /// Whose direction.
        by: Side,
    },
}

impl TlsEvent {
    /// The event in words, for packet comments.
    pub fn describe(&self) -> String {
        let clean = super::vocabulary::clean;
        match self {
            TlsEvent::ClientHello {
                sni,
                alpn,
                offers_resumption,
            } => {
                let mut line = "TLS ClientHello".to_owned();
                if !sni.is_empty() {
                    line.push_str(&format!(" for {}", clean(sni)));
                }
                if !alpn.is_empty() {
                    line.push_str(&format!(", ALPN {}", clean(alpn)));
                }
                if *offers_resumption {
                    line.push_str(", offers resumption");
                }
                line
            }
            TlsEvent::ServerHello {
                version,
                cipher,
                alpn,
                resumed,
            } => {
                let mut line = format!("TLS {version} ServerHello, {}", clean(cipher));
                if !alpn.is_empty() {
                    line.push_str(&format!(", ALPN {}", clean(alpn)));
                }
                line.push_str(if *resumed {
                    ", resumed"
                } else {
                    ", full handshake"
                });
                line
            }
            TlsEvent::HandshakeDone { handshake_ns } => format!(
                "TLS handshake done after {} ms",
                (handshake_ns / 1_000) as f64 / 1_000.0
            ),
            TlsEvent::Protocol { alpn } if alpn.is_empty() => "TLS: no ALPN protocol".to_owned(),
            TlsEvent::Protocol { alpn } => format!("TLS ALPN chose {}", clean(alpn)),
            TlsEvent::SessionTicket => "TLS session ticket issued".to_owned(),
            TlsEvent::Alert { by, description } => format!("TLS alert from {by}: {description}"),
            TlsEvent::Decrypting => "TLS keys found: decrypting".to_owned(),
            TlsEvent::NoKeys => "TLS keys not found: records counted, not read".to_owned(),
            TlsEvent::DecryptFailed { by } => {
                format!("TLS record from {by} did not decrypt (wrong keys or damaged)")
            }
            TlsEvent::KeyUpdate { by } => format!("TLS KeyUpdate from {by}"),
            TlsEvent::ProtocolError { by, error } => {
                format!("TLS protocol error from {by}: {error}")
            }
            TlsEvent::LostSync { by } => {
                format!("TLS records from {by} lost (a record header is not in the capture)")
            }
        }
    }
}

//! The cleartext hellos (RFC 8446 §4.1, RFC 5246 §7.4.1): what connlab reads of them, and
//! nothing else. Every length is checked; a hello that does not parse is `None`.

use compact_str::CompactString;

/// Handshake message types read here.
pub(crate) const CLIENT_HELLO: u8 = 1;
pub(crate) const SERVER_HELLO: u8 = 2;
pub(crate) const ENCRYPTED_EXTENSIONS: u8 = 8;
pub(crate) const NEW_SESSION_TICKET: u8 = 4;
pub(crate) const FINISHED: u8 = 20;
pub(crate) const KEY_UPDATE: u8 = 24;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const EXT_SESSION_TICKET: u16 = 35;
const EXT_PRE_SHARED_KEY: u16 = 41;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// A session id (up to 32 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SessionId {
    bytes: [u8; 32],
    len: u8,
}

impl SessionId {
    fn of(b: &[u8]) -> Option<SessionId> {
        let mut id = SessionId::default();
        id.bytes.get_mut(..b.len())?.copy_from_slice(b);
        id.len = b.len() as u8;
        Some(id)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What the client's hello says.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientHello {
    pub random: [u8; 32],
    pub session_id: SessionId,
    pub sni: CompactString,
    /// Offered protocols, comma-separated.
    pub alpn: CompactString,
    /// A non-empty session ticket (TLS 1.2), or a pre-shared key (TLS 1.3).
    pub ticket: bool,
    pub psk: bool,
    /// supported_versions lists TLS 1.3.
    pub offers_tls13: bool,
}

impl ClientHello {
    /// It offered to resume: a ticket or a pre-shared key, or a session id from a client
    /// that offers TLS 1.2 only. A client offering TLS 1.3 sends a random session id in
    /// every hello (middlebox compatibility mode, RFC 8446 D.4), which offers nothing.
    pub fn offers_resumption(&self) -> bool {
        self.ticket || self.psk || (!self.offers_tls13 && !self.session_id.is_empty())
    }
}

/// What the server's hello says.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerHello {
    pub random: [u8; 32],
    pub session_id: SessionId,
    pub cipher: u16,
    /// The version chosen: the hello's own (0x0300 SSL 3.0 to 0x0303 TLS 1.2), or the one
    /// supported_versions names (0x0304, TLS 1.3).
    pub version: u16,
    /// TLS 1.3 (supported_versions says 0x0304).
    pub tls13: bool,
    /// A pre-shared key was accepted (TLS 1.3 resumption).
    pub psk: bool,
    pub alpn: CompactString,
}

/// A cursor over a hello's bytes.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a 1- or 2-byte length.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// The extensions block: (type, data) of each.
    fn extensions(&mut self) -> Option<Vec<(u16, &'a [u8])>> {
        if self.0.is_empty() {
            return Some(Vec::new());
        }
        let mut block = Bytes(self.vec16()?);
        let mut out = Vec::new();
        while !block.0.is_empty() {
            let kind = block.u16()?;
            out.push((kind, block.vec16()?));
        }
        Some(out)
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header).
pub(crate) fn client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut b = Bytes(body);
    b.take(2)?; // legacy version
    let random: [u8; 32] = b.take(32)?.try_into().ok()?;
    let session_id = SessionId::of(b.vec8()?)?;
    b.vec16()?; // cipher suites
    b.vec8()?; // compression methods
    let mut hello = ClientHello {
        random,
        session_id,
        ..ClientHello::default()
    };
    for (kind, data) in b.extensions()? {
        match kind {
            EXT_SERVER_NAME => {
                let mut names = Bytes(Bytes(data).vec16()?);
                if names.u8()? == 0 {
                    hello.sni = CompactString::from_utf8_lossy(names.vec16()?);
                }
            }
            EXT_ALPN => hello.alpn = protocols(data)?,
            EXT_SESSION_TICKET => hello.ticket = !data.is_empty(),
            EXT_PRE_SHARED_KEY => hello.psk = true,
            EXT_SUPPORTED_VERSIONS => {
                hello.offers_tls13 = Bytes(data)
                    .vec8()?
                    .chunks_exact(2)
                    .any(|v| v == [0x03, 0x04]);
            }
            _ => {}
        }
    }
    Some(hello)
}

/// Parses a ServerHello body.
pub(crate) fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut b = Bytes(body);
    let version = b.u16()?;
    let random: [u8; 32] = b.take(32)?.try_into().ok()?;
    let session_id = SessionId::of(b.vec8()?)?;
    let cipher = b.u16()?;
    b.u8()?; // compression
    let mut hello = ServerHello {
        random,
        session_id,
        cipher,
        version,
        ..ServerHello::default()
    };
    for (kind, data) in b.extensions()? {
        match kind {
            EXT_SUPPORTED_VERSIONS => {
                if let [major, minor] = *data {
                    hello.version = u16::from_be_bytes([major, minor]);
                }
                hello.tls13 = hello.version == 0x0304;
            }
            EXT_PRE_SHARED_KEY => hello.psk = true,
            EXT_ALPN => hello.alpn = protocols(data)?,
            _ => {}
        }
    }
    Some(hello)
}

/// A protocol version's name, as the summary counts it: `1.0` to `1.3` for TLS, `ssl3`.
pub(crate) fn version_name(version: u16) -> &'static str {
    match version {
        0x0304 => "1.3",
        0x0303 => "1.2",
        0x0302 => "1.1",
        0x0301 => "1.0",
        0x0300 => "ssl3",
        _ => "unknown",
    }
}

/// The protocol ALPN chose, from a TLS 1.3 EncryptedExtensions body (empty when none).
pub(crate) fn encrypted_extensions(body: &[u8]) -> Option<CompactString> {
    let mut b = Bytes(body);
    let mut alpn = CompactString::default();
    for (kind, data) in b.extensions()? {
        if kind == EXT_ALPN {
            alpn = protocols(data)?;
        }
    }
    Some(alpn)
}

/// The protocol names of an ALPN extension, comma-separated.
fn protocols(data: &[u8]) -> Option<CompactString> {
    let mut list = Bytes(Bytes(data).vec16()?);
    let mut out = CompactString::default();
    while !list.0.is_empty() {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&String::from_utf8_lossy(list.vec8()?));
    }
    Some(out)
}

/// A HelloRetryRequest is a ServerHello with this random (RFC 8446 §4.1.3).
pub(crate) const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// IANA's name of a cipher suite connlab knows.
pub(crate) fn cipher_name(suite: u16) -> CompactString {
    let name = match suite {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xC02B => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xC02C => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xC02F => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xC030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xCCA8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xCCA9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        other => return CompactString::from(format!("0x{other:04X}")),
    };
    CompactString::const_new(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body with SNI "lab", ALPN h2 and http/1.1, and a session id.
    pub(crate) fn client_hello_body() -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend([7u8; 32]);
        b.push(4);
        b.extend([9, 9, 9, 9]);
        b.extend([0, 2, 0x13, 0x01, 1, 0]);
        let sni = [0, 6, 0, 0, 3, b'l', b'a', b'b'];
        let alpn = [
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ];
        let mut ext = vec![0, 0, 0, sni.len() as u8];
        ext.extend(sni);
        ext.extend([0, 16, 0, alpn.len() as u8]);
        ext.extend(alpn);
        b.extend((ext.len() as u16).to_be_bytes());
        b.extend(ext);
        b
    }

    #[test]
    fn a_client_hello_gives_its_name_protocols_and_session() {
        let h = client_hello(&client_hello_body()).expect("parses");
        assert_eq!(h.random, [7; 32]);
        assert_eq!((h.sni.as_str(), h.alpn.as_str()), ("lab", "h2,http/1.1"));
        assert!(h.offers_resumption());
    }

    /// A ServerHello body choosing `version`, with `extensions` (type, data) after it.
    fn server_hello_body(version: u16, extensions: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend([5u8; 32]);
        b.push(0);
        b.extend([0x00, 0x2f, 0]);
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend(kind.to_be_bytes());
            ext.extend((data.len() as u16).to_be_bytes());
            ext.extend(*data);
        }
        if !ext.is_empty() {
            b.extend((ext.len() as u16).to_be_bytes());
            b.extend(ext);
        }
        b
    }

    /// The version is the hello's own up to TLS 1.2 (SSL 3.0, TLS 1.0 and 1.1 named as
    /// such, not as 1.2), supported_versions' from TLS 1.3 on.
    #[test]
    fn a_server_hello_names_the_version_it_chose() {
        for (version, extensions, name) in [
            (0x0300, &[][..], "ssl3"),
            (0x0301, &[][..], "1.0"),
            (0x0302, &[][..], "1.1"),
            (0x0303, &[][..], "1.2"),
            (
                0x0303,
                &[(EXT_SUPPORTED_VERSIONS, &[0x03, 0x04][..])][..],
                "1.3",
            ),
        ] {
            let h = server_hello(&server_hello_body(version, extensions)).expect("parses");
            assert_eq!(version_name(h.version), name);
            assert_eq!(h.tls13, name == "1.3");
        }
    }

    /// The session id of a hello that offers TLS 1.3 is compatibility mode's random one.
    #[test]
    fn a_tls13_hello_session_id_is_no_offer_to_resume() {
        let mut body = client_hello_body();
        let versions = [0, 43, 0, 5, 4, 0x03, 0x04, 0x03, 0x03];
        let ext_at = 2 + 32 + 1 + 4 + 4 + 2;
        let len = u16::from_be_bytes([body[ext_at], body[ext_at + 1]]) + versions.len() as u16;
        body[ext_at..ext_at + 2].copy_from_slice(&len.to_be_bytes());
        body.extend(versions);
        let h = client_hello(&body).expect("parses");
        assert!(h.offers_tls13);
        assert!(!h.offers_resumption());
    }

    #[test]
    fn cut_hellos_are_none_never_a_panic() {
        let body = client_hello_body();
        for n in 0..body.len() {
            let _ = client_hello(&body[..n]);
            let _ = server_hello(&body[..n]);
        }
    }
}

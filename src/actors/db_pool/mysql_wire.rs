//! MySQL's packets as the hand-written client ([`super::mysql`]) reads and writes them: a
//! 3-byte little-endian payload length and a sequence id before each payload, a payload of
//! 16 MiB − 1 bytes going on in the next packet; and the few fields it reads out of them
//! (the greeting's capabilities, an OK's or EOF's status, an ERR's code and message).

use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest payload of one packet; a payload this long goes on in the next.
const MAX_CHUNK: usize = 0xff_ffff;
/// The longest answer payload read whole: past it the server is taken to be broken rather
/// than the client's memory spent on it (the lab's queries answer a few bytes).
const MAX_PAYLOAD: usize = 64 << 20;

/// One payload read whole, with the sequence id of its last packet (the next packet of the
/// exchange, a reply to it, takes the one after).
pub(super) struct Packet {
    pub seq: u8,
    pub body: Vec<u8>,
}

/// Reads the next payload, joining the packets it spans.
pub(super) async fn read(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Packet> {
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; 4];
        r.read_exact(&mut head).await?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        if body.len() + len > MAX_PAYLOAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a MySQL answer longer than {MAX_PAYLOAD} bytes"),
            ));
        }
        let at = body.len();
        body.resize(at + len, 0);
        r.read_exact(&mut body[at..]).await?;
        if len < MAX_CHUNK {
            return Ok(Packet { seq: head[3], body });
        }
    }
}

/// `payload` framed as packets from sequence id `seq` on, ready to write in one call.
pub(super) fn frame(mut seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_CHUNK);
        out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        out.push(seq);
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        seq = seq.wrapping_add(1);
        if n < MAX_CHUNK {
            return out;
        }
    }
}

/// The server's capabilities from its greeting (HandshakeV10), or why it refused to greet
/// (an ERR instead, such as 1040 Too many connections).
pub(super) fn greeting_caps(body: &[u8]) -> Result<u32, String> {
    match body.first() {
        Some(10) => {}
        Some(0xff) => return Err(err_text(body)),
        Some(v) => return Err(format!("MySQL greeting of protocol {v}, not 10")),
        None => return Err("an empty MySQL greeting".to_owned()),
    }
    let rest = &body[1..];
    let version_end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    // After the version: connection id (4), the scramble's first part (8), a filler (1).
    let at = version_end + 1 + 4 + 8 + 1;
    let low = rest.get(at..at + 2).ok_or("a MySQL greeting cut short")?;
    // Then the character set (1) and status (2), and the capabilities' upper half.
    let high = rest.get(at + 5..at + 7).unwrap_or(&[0, 0]);
    Ok(u32::from_le_bytes([low[0], low[1], high[0], high[1]]))
}

/// An ERR packet's code.
pub(super) fn err_code(body: &[u8]) -> u16 {
    u16::from_le_bytes([
        body.get(1).copied().unwrap_or(0),
        body.get(2).copied().unwrap_or(0),
    ])
}

/// An ERR packet as text: `ERROR 1049 (42000): Unknown database 'x'`, as MySQL's own client
/// writes it.
pub(super) fn err_text(body: &[u8]) -> String {
    let rest = body.get(3..).unwrap_or_default();
    let (state, message) = match rest.strip_prefix(b"#") {
        Some(after) if after.len() >= 5 => (&after[..5], &after[5..]),
        _ => (&[][..], rest),
    };
    format!(
        "ERROR {} ({}): {}",
        err_code(body),
        String::from_utf8_lossy(state),
        String::from_utf8_lossy(message)
    )
}

/// The status flags of an OK packet: after its header, the affected rows and the last insert
/// id (both length-encoded).
pub(super) fn ok_status(body: &[u8]) -> u16 {
    let rest = body.get(1..).unwrap_or_default();
    let Some((_, a)) = lenenc(rest) else {
        return 0;
    };
    let Some((_, b)) = lenenc(&rest[a..]) else {
        return 0;
    };
    status_at(rest, a + b)
}

/// The status flags of an EOF packet: after its header and the warnings' count.
pub(super) fn eof_status(body: &[u8]) -> u16 {
    status_at(body, 3)
}

fn status_at(body: &[u8], at: usize) -> u16 {
    match body.get(at..at + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// A length-encoded integer at the start of `data`, and the bytes it took (None for NULL's
/// 0xfb, an ERR's 0xff or too few bytes).
pub(super) fn lenenc(data: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = data.split_first()?;
    let bytes = match first {
        0..=0xfa => return Some((u64::from(first), 1)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let raw = rest.get(..bytes)?;
    let mut value = [0u8; 8];
    value[..bytes].copy_from_slice(raw);
    Some((u64::from_le_bytes(value), 1 + bytes))
}

/// Appends `text` as a length-encoded string (connection attributes).
pub(super) fn put_lenenc_str(out: &mut Vec<u8>, text: &[u8]) {
    let n = text.len() as u64;
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
    out.extend_from_slice(text);
}

//! TLS keys: the secrets of a key log (NSS format, what `SSLKEYLOGFILE` writes and a pcapng
//! Decryption Secrets Block carries), the traffic keys derived from them (TLS 1.3's
//! HKDF-Expand-Label, TLS 1.2's PRF), and record decryption with RustCrypto's AEADs
//! (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use chacha20poly1305::ChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384};

use crate::FastMap;

/// One client's secrets, as the key log gives them.
#[derive(Debug, Clone, Default)]
struct Secrets {
    /// TLS 1.2: the master secret (`CLIENT_RANDOM`).
    master: Option<Vec<u8>>,
    /// TLS 1.3: handshake and first application traffic secrets, client then server.
    handshake: [Option<Vec<u8>>; 2],
    application: [Option<Vec<u8>>; 2],
}

/// The secrets of a key log, by client random.
#[derive(Debug, Clone, Default)]
pub struct KeyLog {
    secrets: FastMap<[u8; 32], Secrets>,
    /// Lines that were not a secret connlab reads (comments excepted).
    unread: u64,
}

/// A secret's label in the NSS key log format.
fn label_slot(label: &[u8]) -> Option<(usize, u8)> {
    // (slot, side): slot 0 master, 1 handshake, 2 application; side 0 client, 1 server.
    Some(match label {
        b"CLIENT_RANDOM" => (0, 0),
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => (1, 0),
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => (1, 1),
        b"CLIENT_TRAFFIC_SECRET_0" => (2, 0),
        b"SERVER_TRAFFIC_SECRET_0" => (2, 1),
        _ => return None,
    })
}

fn hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

impl KeyLog {
    /// Reads NSS key log text (`LABEL <client random> <secret>` per line) into this log.
    /// Lines it cannot use are counted, never an error: a key log mixes in other labels.
    pub fn add_text(&mut self, text: &[u8]) {
        for line in text.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            let mut words = line.split(|b| *b == b' ').filter(|w| !w.is_empty());
            let parsed = (|| {
                let (slot, side) = label_slot(words.next()?)?;
                let random: [u8; 32] = hex(words.next()?)?.try_into().ok()?;
                let secret = hex(words.next()?)?;
                Some((slot, side, random, secret))
            })();
            let Some((slot, side, random, secret)) = parsed else {
                self.unread += 1;
                continue;
            };
            let entry = self.secrets.entry(random).or_default();
            let side = usize::from(side);
            match slot {
                0 => entry.master = Some(secret),
                1 => entry.handshake[side] = Some(secret),
                _ => entry.application[side] = Some(secret),
            }
        }
    }

    /// Lines that were not a secret connlab reads (other labels, damaged lines).
    pub fn unread(&self) -> u64 {
        self.unread
    }

    /// Clients whose secrets are known.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when the log holds no secret.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The keys of the connection whose hellos carried these randoms and chose `suite`, for
    /// TLS 1.3 (`tls13`) or 1.2. None when the log has no (usable) secret for it.
    pub(crate) fn keys_for(
        &self,
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        suite: u16,
        tls13: bool,
    ) -> Option<ConnKeys> {
        let secrets = self.secrets.get(client_random)?;
        let suite = Suite::of(suite, tls13)?;
        if tls13 {
            let get = |s: &[Option<Vec<u8>>; 2]| Some([s[0].clone()?, s[1].clone()?]);
            Some(ConnKeys::Tls13 {
                suite,
                handshake: get(&secrets.handshake)?,
                application: get(&secrets.application)?,
            })
        } else {
            let master = secrets.master.as_ref()?;
            Some(ConnKeys::Tls12(tls12_keys(
                suite,
                master,
                client_random,
                server_random,
            )?))
        }
    }
}

/// An AEAD suite and the hash of its key schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    cipher: Cipher,
    sha384: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Suite {
    fn of(suite: u16, tls13: bool) -> Option<Suite> {
        let (cipher, sha384) = match (suite, tls13) {
            (0x1301, true) => (Cipher::Aes128Gcm, false),
            (0x1302, true) => (Cipher::Aes256Gcm, true),
            (0x1303, true) => (Cipher::ChaCha20Poly1305, false),
            (0xC02B | 0xC02F, false) => (Cipher::Aes128Gcm, false),
            (0xC02C | 0xC030, false) => (Cipher::Aes256Gcm, true),
            (0xCCA8 | 0xCCA9, false) => (Cipher::ChaCha20Poly1305, false),
            _ => return None,
        };
        Some(Suite { cipher, sha384 })
    }

    fn key_len(self) -> usize {
        match self.cipher {
            Cipher::Aes128Gcm => 16,
            _ => 32,
        }
    }
}

/// A connection's keys as the key log gives them.
#[derive(Debug, Clone)]
pub(crate) enum ConnKeys {
    /// TLS 1.3: the traffic secrets, client then server.
    Tls13 {
        suite: Suite,
        handshake: [Vec<u8>; 2],
        application: [Vec<u8>; 2],
    },
    /// TLS 1.2: each side's record key, client then server.
    Tls12([RecordKey; 2]),
}

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(sha384: bool, secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend((out.len() as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend(full.as_bytes());
    info.push(0);
    if sha384 {
        hkdf::Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, out)
            .ok()
    } else {
        hkdf::Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, out)
            .ok()
    }
}

/// A TLS 1.3 traffic secret's record key (RFC 8446 §7.3).
pub(crate) fn tls13_key(suite: Suite, secret: &[u8]) -> Option<RecordKey> {
    let mut key = vec![0u8; suite.key_len()];
    let mut iv = [0u8; 12];
    expand_label(suite.sha384, secret, "key", &mut key)?;
    expand_label(suite.sha384, secret, "iv", &mut iv)?;
    RecordKey::new(suite.cipher, &key, iv, (false, true))
}

/// The next traffic secret after a KeyUpdate (RFC 8446 §7.2).
pub(crate) fn tls13_next_secret(suite: Suite, secret: &[u8]) -> Option<Vec<u8>> {
    let mut next = vec![0u8; secret.len()];
    expand_label(suite.sha384, secret, "traffic upd", &mut next)?;
    Some(next)
}

/// TLS 1.2's PRF, P_hash with HMAC-SHA256 or -SHA384 (RFC 5246 §5).
fn prf(sha384: bool, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) -> Option<()> {
    fn p_hash<M: Mac + KeyInit>(secret: &[u8], seed: &[u8], out: &mut [u8]) -> Option<()> {
        let mac = |data: &[&[u8]]| -> Option<Vec<u8>> {
            let mut m = <M as KeyInit>::new_from_slice(secret).ok()?;
            for d in data {
                m.update(d);
            }
            Some(m.finalize().into_bytes().to_vec())
        };
        let mut a = mac(&[seed])?;
        let mut filled = 0;
        while filled < out.len() {
            let block = mac(&[&a, seed])?;
            let n = block.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&block[..n]);
            filled += n;
            a = mac(&[&a])?;
        }
        Some(())
    }
    let full: Vec<u8> = [label, seed].concat();
    if sha384 {
        p_hash::<Hmac<Sha384>>(secret, &full, out)
    } else {
        p_hash::<Hmac<Sha256>>(secret, &full, out)
    }
}

/// TLS 1.2's record keys from the master secret (RFC 5246 §6.3; AEAD suites: no MAC key, a
/// 4-byte implicit IV for GCM, 12 bytes for ChaCha20-Poly1305).
fn tls12_keys(
    suite: Suite,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Option<[RecordKey; 2]> {
    let key_len = suite.key_len();
    let iv_len = if suite.cipher == Cipher::ChaCha20Poly1305 {
        12
    } else {
        4
    };
    let mut block = vec![0u8; 2 * key_len + 2 * iv_len];
    let seed: Vec<u8> = [&server_random[..], &client_random[..]].concat();
    prf(suite.sha384, master, b"key expansion", &seed, &mut block)?;
    let (keys, ivs) = block.split_at(2 * key_len);
    let iv = |i: usize| {
        let mut out = [0u8; 12];
        out[..iv_len].copy_from_slice(&ivs[i * iv_len..(i + 1) * iv_len]);
        out
    };
    let explicit = suite.cipher != Cipher::ChaCha20Poly1305;
    Some([
        RecordKey::new(suite.cipher, &keys[..key_len], iv(0), (explicit, false))?,
        RecordKey::new(suite.cipher, &keys[key_len..], iv(1), (explicit, false))?,
    ])
}

/// The AEAD of one direction.
#[derive(Clone)]
enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

/// One direction's record protection: its AEAD, IV and sequence number.
#[derive(Clone)]
pub(crate) struct RecordKey {
    aead: Aead,
    iv: [u8; 12],
    /// TLS 1.2 AES-GCM: an 8-byte explicit nonce opens each record (the IV is 4 bytes).
    explicit_nonce: bool,
    /// TLS 1.3 (the record header is the additional data; TLS 1.2 a pseudo-header).
    tls13: bool,
    seq: u64,
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordKey").field("seq", &self.seq).finish()
    }
}

/// Why a record did not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecryptError;

impl RecordKey {
    fn new(
        cipher: Cipher,
        key: &[u8],
        iv: [u8; 12],
        (explicit_nonce, tls13): (bool, bool),
    ) -> Option<RecordKey> {
        let aead = match cipher {
            Cipher::Aes128Gcm => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Cipher::Aes256Gcm => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            Cipher::ChaCha20Poly1305 => {
                Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?))
            }
        };
        Some(RecordKey {
            aead,
            iv,
            explicit_nonce,
            tls13,
            seq: 0,
        })
    }

    /// This key, its next record being number `seq` (keys found after records passed).
    pub fn at(mut self, seq: u64) -> RecordKey {
        self.seq = seq;
        self
    }

    /// The sequence number of the next record.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sets the sequence number of the next record (a reader opening records ahead skips
    /// some).
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = seq;
    }

    /// A record this key no longer opens still used a sequence number (a gap in the capture).
    pub fn skip(&mut self) {
        self.seq += 1;
    }

    /// Decrypts a record's body in place (`header`: its 5 bytes as on the wire); returns the
    /// plaintext's range in `body`.
    pub fn open(
        &mut self,
        header: &[u8; 5],
        body: &mut [u8],
    ) -> Result<std::ops::Range<usize>, DecryptError> {
        let seq = self.seq;
        self.seq += 1;
        let (start, mut nonce) = if self.explicit_nonce {
            let explicit = body.get(..8).ok_or(DecryptError)?;
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&self.iv[..4]);
            nonce[4..].copy_from_slice(explicit);
            (8, nonce)
        } else {
            (0, self.iv)
        };
        if !self.explicit_nonce {
            for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
                *n ^= s;
            }
        }
        let sealed = body.get_mut(start..).ok_or(DecryptError)?;
        let text_len = sealed.len().checked_sub(16).ok_or(DecryptError)?;
        let (text, tag) = sealed.split_at_mut(text_len);
        let tag = Tag::try_from(&*tag).map_err(|_| DecryptError)?;
        // TLS 1.3 authenticates the record header; TLS 1.2 a pseudo-header with the
        // sequence number and the plaintext's length.
        let mut aad12 = [0u8; 13];
        let aad: &[u8] = if self.tls13 {
            header
        } else {
            aad12[..8].copy_from_slice(&seq.to_be_bytes());
            aad12[8..11].copy_from_slice(&header[..3]);
            aad12[11..].copy_from_slice(&(text_len as u16).to_be_bytes());
            &aad12
        };
        let nonce = Nonce::from(nonce);
        let done = match &self.aead {
            Aead::Aes128(a) => a.decrypt_inout_detached(&nonce, aad, text.into(), &tag),
            Aead::Aes256(a) => a.decrypt_inout_detached(&nonce, aad, text.into(), &tag),
            Aead::ChaCha(a) => a.decrypt_inout_detached(&nonce, aad, text.into(), &tag),
        };
        done.map_err(|_| DecryptError)?;
        Ok(start..start + text_len)
    }
}

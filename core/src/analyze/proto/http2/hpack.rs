//! One direction's HPACK decoder (RFC 7541), on a maintained crate (loona-hpack: the fork of
//! `hpack` with its panics on malformed input fixed), bounded and fuzzed here.
//!
//! Once a header block of the direction is missed (a gap in the capture, a block that breaks
//! the rules), the dynamic table no longer matches the sender's: the decoder is dropped and
//! says so, rather than decoding later blocks into wrong headers.

use loona_hpack::Decoder;

/// The table size every decoder starts with (SETTINGS_HEADER_TABLE_SIZE's default).
const DEFAULT_TABLE: usize = 4096;
/// The largest table a receiver's SETTINGS may allow here: a hostile capture cannot make the
/// table grow past it.
const MAX_TABLE: usize = 64 * 1024;

/// A direction's decoder, or the fact that it was lost.
pub(super) struct Hpack {
    decoder: Option<Box<Decoder<'static>>>,
}

impl std::fmt::Debug for Hpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hpack")
            .field("lost", &self.decoder.is_none())
            .finish()
    }
}

impl Hpack {
    pub fn new() -> Hpack {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(DEFAULT_TABLE);
        Hpack {
            decoder: Some(Box::new(decoder)),
        }
    }

    /// The receiver advertised a table of `size` bytes (SETTINGS_HEADER_TABLE_SIZE): the
    /// sender may grow its table up to it (bounded).
    pub fn allow(&mut self, size: u32) {
        if let Some(d) = self.decoder.as_mut() {
            d.set_max_allowed_table_size((size as usize).min(MAX_TABLE));
        }
    }

    pub fn is_lost(&self) -> bool {
        self.decoder.is_none()
    }

    pub fn lose(&mut self) {
        self.decoder = None;
    }

    /// Decodes one whole header block, calling `field(name, value)` for each field.
    pub fn decode(&mut self, block: &[u8], mut field: impl FnMut(&[u8], &[u8])) -> Result<(), ()> {
        let Some(d) = self.decoder.as_mut() else {
            return Err(());
        };
        d.decode_with_cb(block, |name, value| field(&name, &value))
            .map_err(|_| ())
    }
}

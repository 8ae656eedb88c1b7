//! MySQL framing, and the analyser reading a MySQL conversation, on hostile bytes. The first
//! byte sets the size of the pieces the rest is fed in. The framing must never panic, its
//! memory is bounded by its type (a payload's kept prefix, never the payload), and what it
//! reads must not depend on where the pieces end: fed whole and fed in pieces, the same
//! packets.
#![no_main]

use connlab_core::testframes::my_read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(mode).max(1);
    let whole = my_read([rest]);
    let pieces = my_read(rest.chunks(step));
    assert_eq!(whole, pieces, "pieces of {step}");
});

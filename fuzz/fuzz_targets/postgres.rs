//! PostgreSQL framing on hostile bytes: the first byte picks the direction (client or server)
//! and the size of the pieces the rest is fed in. The reader must never panic, its memory is
//! bounded by its type (a body's kept prefix, never the body), and what it reads must not
//! depend on where the pieces end: fed whole and fed in pieces, the same messages and the
//! same break.
#![no_main]

use connlab_core::testframes::pg_read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let client = mode & 1 == 0;
    let step = usize::from(mode >> 1).max(1);
    let whole = pg_read(client, [rest]);
    let pieces = pg_read(client, rest.chunks(step));
    assert_eq!(whole, pieces, "pieces of {step}");
});

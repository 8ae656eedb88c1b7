//! A lab file and a `--set` value: the TOML reader, the range checks, the validation and the
//! overrides. Any input is a lab or an error with its line and column, never a panic.
#![no_main]

use connlab::lab::overrides::{apply, Override};
use connlab::lab::file::Lab;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The last line, when it looks like KEY=VALUE, is also tried as a --set override.
    let (file, set) = match text.rsplit_once('\n') {
        Some((file, last)) if last.contains('=') => (file, Some(last)),
        _ => (text.as_ref(), None),
    };
    let Ok(lab) = Lab::parse("fuzz", "fuzz.toml", file) else {
        return;
    };
    if let Some(Ok(o)) = set.map(str::parse::<Override>) {
        let _ = apply(&lab, &[o]);
    }
});

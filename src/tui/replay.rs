//! `connlab tui <file>`: any capture (connlab's, tcpdump's) as a static timeline to scrub
//! through.

use std::path::Path;

use connlab_core::timeline::TimelineModel;

use crate::capture::reader::ReadError;
use crate::capture::timeline::{read_into, Frames};

/// The timeline of a capture file (its TLS decrypted with `keylog` and the file's own
/// secrets); on a bad file, the timeline of what was read and the error.
pub fn load(path: &Path, keylog: Option<&[u8]>) -> (TimelineModel, Option<ReadError>) {
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut model = TimelineModel::new(&title, "replay");
    let error = read_into(path, keylog, &mut model, Frames::All).err();
    (model, error)
}

//! `connlab tui <file>`: any capture (connlab's, tcpdump's) as a static timeline to scrub
//! through.

use std::path::Path;

use connlab_core::timeline::TimelineModel;

use crate::capture::reader::ReadError;
use crate::capture::timeline::{read_into, Frames};

/// The timeline of a capture file; on a bad file, the timeline of what was read and the error.
pub fn load(path: &Path) -> (TimelineModel, Option<ReadError>) {
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut model = TimelineModel::new(&title, "replay");
    let error = read_into(path, &mut model, Frames::All).err();
    (model, error)
}

//! `connlab tui <file>...`: any capture (connlab's, tcpdump's) as a static timeline to scrub
//! through; several files are read one after another as one capture.

use std::path::PathBuf;

use connlab_core::timeline::TimelineModel;

use crate::capture::reader::ReadError;
use crate::capture::timeline::{read_into, Frames};

/// The timeline of capture files read as one (their TLS decrypted with `keylog` and the file's own
/// secrets); on a bad file, the timeline of what was read and the error.
pub fn load(paths: &[PathBuf], keylog: Option<&[u8]>) -> (TimelineModel, Option<ReadError>) {
    let title: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "stdin".to_owned())
        })
        .collect();
    let mut model = TimelineModel::new(&title.join(" + "), "replay");
    let error = read_into(paths, keylog, &mut model, Frames::All).err();
    (model, error)
}

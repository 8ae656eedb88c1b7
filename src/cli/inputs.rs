//! What several subcommands read from the command line the same way: the captures named
//! (files, `-`, or a lab's newest), a TLS key log, and the folder `--out` names.

use std::path::{Path, PathBuf};

/// Reads a TLS key log given on the command line; says so when it holds no secret connlab
/// reads (a wrong file, most likely).
fn read_keylog(path: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let text = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the key log {}: {e}", path.display()))?;
    let mut keys = connlab_core::analyze::KeyLog::default();
    keys.add_text(&text);
    if keys.is_empty() {
        eprintln!(
            "connlab: {} holds no TLS secrets ({} lines not understood): expected NSS key log \
             lines such as `CLIENT_RANDOM <random> <secret>` or `CLIENT_TRAFFIC_SECRET_0 ...`, \
             as SSLKEYLOGFILE makes curl, Firefox, Python and Node write them",
            path.display(),
            keys.unread()
        );
    }
    Ok(Some(text))
}

/// The captures the command line names and its key log, read.
pub fn captures_and_keylog(
    files: &[String],
    keylog: Option<&Path>,
) -> anyhow::Result<(Vec<PathBuf>, Option<Vec<u8>>)> {
    let files = captures(files)?;
    Ok((files, read_keylog(keylog)?))
}

/// `--out` names a folder (made when missing): a file there is refused before anything runs.
pub fn out_is_a_folder(out: &Path) -> anyhow::Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!(
            "--out {} is a file: --out names the folder the captures go into (it is made if \
             missing); give a folder",
            out.display()
        );
    }
    Ok(())
}

/// The captures the command line names (files, `-`, or labs' names for their newest).
fn captures(args: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let stdin = args
        .iter()
        .filter(|a| *a == connlab::capture::reader::STDIN);
    if stdin.count() > 1 {
        anyhow::bail!("`-` (stdin) can be read once: give it once");
    }
    args.iter()
        .map(|a| connlab::capture::files::resolve(a, Path::new("captures")))
        .collect()
}

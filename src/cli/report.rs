//! `connlab report`: a self-contained HTML page of each capture.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use connlab::lab;
use connlab_core::words::plural;

use super::args::ReportArgs;
use super::exit::{fail, worst, EXIT_ERROR};
use super::inputs::captures_and_keylog;

/// Writes the page of each capture `args` names.
pub fn main(args: ReportArgs) -> ExitCode {
    match captures_and_keylog(&args.files, args.keylog.as_deref()) {
        Ok((files, keys)) => reports(&files, args.out, keys),
        Err(e) => fail(&e),
    }
}

/// One page per capture: `out` names it when there is one capture.
fn reports(files: &[PathBuf], out: Option<PathBuf>, keylog: Option<Vec<u8>>) -> ExitCode {
    if out.is_some() && files.len() > 1 {
        return fail(&anyhow::anyhow!(
            "-o names one page, and {} captures make {} pages: leave -o out (each page goes \
             beside its capture), or give one capture",
            files.len(),
            files.len()
        ));
    }
    let stdin = Path::new(connlab::capture::reader::STDIN);
    if out.is_none() && files.iter().any(|f| f == stdin) {
        return fail(&anyhow::anyhow!(
            "a capture read from stdin has no name to put the page beside: name the page with \
             -o FILE.html"
        ));
    }
    files.iter().fold(ExitCode::SUCCESS, |code, file| {
        let out = out.clone().unwrap_or_else(|| file.with_extension("html"));
        worst(code, report(file, out, keylog.clone()))
    })
}

/// Writes `file`'s page to `out`, and says what it drew.
fn report(file: &Path, out: PathBuf, keylog: Option<Vec<u8>>) -> ExitCode {
    let header = connlab::report::Header {
        title: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        keylog,
        lab_story: Some(lab_story),
        ..Default::default()
    };
    match connlab::report::write(file, &out, &header) {
        Ok(written) => {
            println!(
                "{}: {}, {} drawn in full, {} KiB",
                out.display(),
                plural(written.connections, "connection", "connections"),
                written.rows,
                written.bytes / 1024
            );
            match written.error {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("connlab: {e} (the report covers what was read before it)");
                    ExitCode::from(EXIT_ERROR)
                }
            }
        }
        Err(e) => fail(&e),
    }
}

/// An embedded lab's question and story, by its name.
fn lab_story(name: &str) -> Option<(String, String)> {
    lab::catalog::EMBEDDED.iter().find(|(n, _)| *n == name)?;
    let lab = lab::catalog::resolve(name).ok()?;
    Some((lab.spec.question, lab.spec.about))
}

//! `connlab man`: the man page, from the same definition as `--help` (connlab(1) with every
//! subcommand's options as sections of the one page, so no `connlab-run(1)` is referred to
//! that is not installed), and the lab file format with every field, its range or its words,
//! and its default, from the lab parser itself.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::args::Cli;
use super::exit::fail;
use connlab::lab::{choices, expect, keys, ranges};

/// Prints the man page (roff).
pub fn main() -> ExitCode {
    match render().and_then(|page| std::io::stdout().write_all(&page)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&anyhow::anyhow!("writing the man page: {e}")),
    }
}

/// The whole page, roff.
fn render() -> std::io::Result<Vec<u8>> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"CONNLAB {}\"", name.to_uppercase())?;
        let sub = clap_mangen::Man::new(sub.clone().name(format!("connlab {name}")));
        sub.render_description_section(&mut out)?;
        sub.render_options_section(&mut out)?;
    }
    lab_files(&mut out)?;
    man.render_extra_section(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// The LAB FILES section: the shape of a lab, then every field with its range.
fn lab_files(out: &mut Vec<u8>) -> std::io::Result<()> {
    out.write_all(
        br#".SH "LAB FILES"
A lab is a TOML file. Start from an embedded one (\fBconnlab show pool-burst > my-lab.toml\fR),
check it with \fBconnlab check my-lab.toml\fR, run it with \fBconnlab run my-lab.toml\fR.
.PP
Top level: \fBquestion\fR (what the lab answers, ending in ?), \fBabout\fR (what it shows),
\fBtimeout_s\fR, \fBsettle_ms\fR.
Exactly one server table: \fB[server]\fR (HTTP/1.1 with Go net/http's knobs), \fB[tcp_server]\fR,
\fB[ws_server]\fR, \fB[h2_server]\fR, or \fB[exec_server]\fR (a program of yours:
\fBcommand = [...]\fR).
Exactly one client table: \fB[client]\fR, \fB[tcp_client]\fR, \fB[ws_client]\fR, \fB[h2_client]\fR or
\fB[exec_client]\fR; each actor has a \fBsocket\fR table (\fBclose\fR, \fBuser_timeout_ms\fR,
\fBtcp_keepalive\fR).
\fB[link]\fR models the wire (delay, jitter, loss, \fB[[link.partition]]\fR, \fB[[link.inject_rst]]\fR,
\fB[link.middlebox]\fR); \fB[capture]\fR sets the snap length; \fB[sysctl]\fR sets
sysctls in the lab's namespaces.
.PP
\fB[expect]\fR holds what the run's summary must say: a number (equality), a comparison
("\fB>= 99\fR", "\fB< 3\fR", "\fB!= 0\fR"), a range ("\fB45..55\fR"), a side for per-side fields
(\fBfin_first_by = "client"\fR), \fBfindings = ["server_idle_close"]\fR (exactly these kinds) and
fields of a finding (\fBfindings.server_idle_close.after_ms = "900..1100"\fR). A lab without
\fB[expect]\fR fails when its client's requests fail or its programs exit non-zero.
.PP
Every field (any of them can be changed with \fB--set KEY=VALUE\fR):
"#,
    )?;
    for key in keys::all() {
        writeln!(out, ".TP\n\\fB{key}\\fR")?;
        match (ranges::range_of(&key), choices::default_of(&key)) {
            (Some(range), Some(default)) => {
                writeln!(out, "{} (default {default})", ranges::describe(&range))?
            }
            (Some(range), None) => writeln!(out, "{}", ranges::describe(&range))?,
            (None, _) => writeln!(out, "{}", choices::describe(&key))?,
        }
    }
    writeln!(
        out,
        ".PP\nSummary fields an \\fB[expect]\\fR key starts with: {}.",
        expect::summary_fields().collect::<Vec<_>>().join(", ")
    )?;
    Ok(())
}

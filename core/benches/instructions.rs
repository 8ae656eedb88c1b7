//! The instruction-count gate's program: the analyser and the diagnosis over one fixed
//! workload, in a function of its own ([`counted_analysis`]) that callgrind counts alone
//! (`--toggle-collect`), so building the frames is not counted.
//!
//! Timings on a shared 2-core machine move by 5 % from run to run; instructions do not, so
//! this is what CI compares with the figures recorded in `bench/instructions.txt`
//! (`bench/instructions.sh`). Without a workload name it runs every workload once, small,
//! and checks what each one must count: `cargo test --all-targets` does that.
//!
//!   instructions WORKLOAD    prints `frames N`, then analyses the workload once
//!   instructions             checks every workload

mod workloads;

use std::hint::black_box;
use std::process::ExitCode;

use connlab_core::analyze::{Analyzer, LinkType, Summary};
use connlab_core::diagnose::{Diagnosis, DiagnosisReport, FindingKind};

/// A workload: its frames and the TLS key log they need (empty for clear text).
struct Workload {
    frames: Vec<Vec<u8>>,
    keys: String,
}

/// Builds a workload of a size (in requests, messages, connections or records).
type Build = fn(u32) -> Workload;

/// The workloads, by name, at the gate's size.
const WORKLOADS: [(&str, Build, u32); 9] = [
    (
        "http1-keepalive",
        |n| clear(workloads::conversation(n)),
        1_000,
    ),
    (
        "http1-short",
        |n| clear(workloads::short_connections(n)),
        4_000,
    ),
    ("websocket", |n| clear(workloads::websocket(n)), 1_000),
    ("http2", |n| clear(workloads::http2(n)), 1_000),
    ("tls-keepalive", tls, 1_000),
    ("tls-bulk", tls_bulk, 500),
    ("redis", |n| clear(workloads::redis(n)), 1_000),
    ("postgres", |n| clear(workloads::postgres(n)), 1_000),
    ("mysql", |n| clear(workloads::mysql(n)), 1_000),
];

fn clear(frames: Vec<Vec<u8>>) -> Workload {
    Workload {
        frames,
        keys: String::new(),
    }
}

fn tls(requests: u32) -> Workload {
    let (frames, keys) = workloads::tls_conversation(requests);
    Workload { frames, keys }
}

fn tls_bulk(records: u32) -> Workload {
    let (frames, keys, _) = workloads::tls_bulk(records);
    Workload { frames, keys }
}

/// What `connlab inspect` does with every frame, and at the end: the only function counted.
#[inline(never)]
fn counted_analysis(w: &Workload) -> (Summary, DiagnosisReport) {
    let mut analyzer = Analyzer::new();
    if !w.keys.is_empty() {
        analyzer.add_keys(w.keys.as_bytes());
    }
    let mut diagnosis = Diagnosis::new();
    let mut events = Vec::new();
    for (i, frame) in w.frames.iter().enumerate() {
        events.clear();
        analyzer.handle_frame(i as u64 * 1_000, LinkType::Ethernet, frame, &mut events);
        for event in &events {
            diagnosis.apply(event);
        }
    }
    (analyzer.summary(), diagnosis.report())
}

/// Checks that a workload was read for what it is: every request answered, every TLS
/// connection decrypted, a finding for the short connections.
fn check(name: &str, size: u32, summary: &Summary, report: &DiagnosisReport) -> Result<(), String> {
    let want_requests = match name {
        "http1-keepalive" | "tls-keepalive" => 16 * u64::from(size),
        "http1-short" => u64::from(size),
        "websocket" => 16,
        _ => 0,
    };
    let wrong =
        |what: &str, got: u64, want: u64| Err(format!("{name}: {got} {what}, {want} expected"));
    if summary.requests != want_requests {
        return wrong("HTTP/1 requests", summary.requests, want_requests);
    }
    let want_decrypted = match name {
        "tls-keepalive" => 16,
        "tls-bulk" => 1,
        _ => 0,
    };
    if summary.tls.decrypted != want_decrypted {
        return wrong(
            "TLS connections decrypted",
            summary.tls.decrypted,
            want_decrypted,
        );
    }
    let want_commands = if name == "redis" {
        16 * u64::from(size)
    } else {
        0
    };
    if summary.redis.commands.total != want_commands {
        return wrong(
            "Redis commands",
            summary.redis.commands.total,
            want_commands,
        );
    }
    let want_queries = if name == "postgres" {
        16 * u64::from(size)
    } else {
        0
    };
    let pg = &summary.postgres;
    if pg.queries.total != want_queries || pg.queries.answered != want_queries {
        return wrong(
            "PostgreSQL queries answered",
            pg.queries.answered,
            want_queries,
        );
    }
    let want_commands = if name == "mysql" {
        16 * u64::from(size)
    } else {
        0
    };
    let my = &summary.mysql;
    if my.commands.total != want_commands || my.commands.answered != want_commands {
        return wrong(
            "MySQL commands answered",
            my.commands.answered,
            want_commands,
        );
    }
    if name == "http1-short"
        && !report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::SingleRequestConnections)
    {
        return Err(format!("{name}: no single_request_connections finding"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str, build: Build, size: u32| {
        let w = build(size);
        if names.is_empty() {
            let (summary, report) = counted_analysis(&w);
            return check(name, size, &summary, &report);
        }
        println!("frames {}", w.frames.len());
        let (summary, report) = black_box(counted_analysis(&w));
        check(name, size, &summary, &report)
    };
    let mut failed = false;
    for (name, build, size) in WORKLOADS {
        let chosen = names.is_empty() || names.iter().any(|n| n == name);
        // Checking every workload is a test: a tenth of the gate's size says the same.
        let size = if names.is_empty() { size / 10 } else { size };
        if chosen {
            if let Err(why) = run(name, build, size) {
                eprintln!("{why}");
                failed = true;
            }
        }
    }
    if let Some(unknown) = names.iter().find(|n| !WORKLOADS.iter().any(|w| w.0 == **n)) {
        let known: Vec<&str> = WORKLOADS.iter().map(|w| w.0).collect();
        eprintln!(
            "no workload {unknown:?}; the workloads: {}",
            known.join(", ")
        );
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

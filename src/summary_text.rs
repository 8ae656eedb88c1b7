//! The analysis as text, shared by `connlab run` and `connlab inspect`: the counters, then the
//! findings, the breakdown per server endpoint and the distributions. Long lists are capped
//! so a capture with 60,000 connections still prints a page, not 60,000 lines.

use std::fmt::Write as _;

use connlab_core::words::plural;

use connlab_core::analyze::{BySide, Http2Summary, RstBy, Summary, TlsSummary, WebSocketSummary};
use connlab_core::diagnose::{DiagnosisReport, Quantiles};

/// Findings and endpoints shown; the rest are counted ("… and N more").
pub const SHOWN: usize = 20;

/// The analyser's counters as a table, with the kernel's TIME_WAIT count beside the wire's
/// when there is one (`run`); shared by `run` and `inspect`.
pub fn analysis_table(a: &Summary, kernel_time_wait: Option<BySide>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "connections {}   requests {}   reused {}   responses {}",
        a.connections, a.requests, a.reused, a.responses
    );
    let _ = writeln!(out, "  {:<22}{:>8}{:>8}", "", "client", "server");
    for (label, v) in [
        ("first FIN", a.fin_first_by),
        ("RST sent", a.rst_by.ends()),
        ("TIME_WAIT (wire)", a.time_wait),
    ] {
        let _ = writeln!(out, "  {label:<22}{:>8}{:>8}", v.client, v.server);
    }
    if let Some(k) = kernel_time_wait {
        let _ = writeln!(
            out,
            "  {:<22}{:>8}{:>8}",
            "TIME_WAIT (kernel)", k.client, k.server
        );
    }
    if a.rst_by.middlebox > 0 {
        let _ = writeln!(
            out,
            "  {:<22}{:>8}",
            "RST by a middlebox", a.rst_by.middlebox
        );
    }
    let _ = writeln!(
        out,
        "keepalive probes {}   retransmits {}   still open {}",
        a.keepalive_probes, a.retransmits, a.open
    );
    if a.begun_before_capture > 0 {
        let _ = writeln!(
            out,
            "begun before the capture {} (their handshake not captured: counted from their \
             first frame)",
            a.begun_before_capture
        );
    }
    if a.undecodable > 0 {
        let _ = writeln!(
            out,
            "undecodable frames {} (headers cut short or malformed: not analysed)",
            a.undecodable
        );
    }
    let f = &a.ip_fragments;
    if !f.is_empty() {
        let _ = writeln!(
            out,
            "IP fragments: {} datagrams put back together, {} dropped for overlapping pieces, {} \
             incomplete (the dropped and incomplete are not analysed)",
            f.reassembled, f.overlapping, f.incomplete
        );
    }
    if a.cut_segments > 0 {
        let _ = writeln!(
            out,
            "segments cut by the snap length {} (HTTP lines in the bytes left out are not seen)",
            a.cut_segments
        );
    }
    websocket_table(&mut out, &a.websocket);
    http2_table(&mut out, &a.http2);
    tls_table(&mut out, &a.tls);
    for section in a.protocol_text() {
        let _ = writeln!(out, "{section}");
    }
    out
}

/// The TLS counters, when the capture has TLS.
fn tls_table(out: &mut String, tls: &TlsSummary) {
    if tls.connections == 0 {
        return;
    }
    let list = |table: &mut dyn Iterator<Item = (String, u64)>| -> String {
        table
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "tls: {}, {}, {} resumed   versions {}   ALPN {}",
        plural(tls.connections, "connection", "connections"),
        plural(tls.full_handshakes, "full handshake", "full handshakes"),
        tls.resumed,
        list(&mut tls.versions.iter().map(|(k, n)| (k.to_string(), *n))),
        list(&mut tls.alpn.iter().map(|(k, n)| (k.clone(), *n))),
    );
    let hs = &tls.handshake_ms;
    let _ = writeln!(
        out,
        "  handshake ms p50 {:.1}, p90 {:.1}, max {:.1}   session tickets {}",
        hs.p50, hs.p90, hs.max, tls.session_tickets
    );
    let keys = match (tls.decrypted, tls.decrypt_failed) {
        (0, _) => {
            "not decrypted (no keys: `--keylog FILE`); records counted, HTTP not read".to_owned()
        }
        (n, 0) => format!("decrypted: keys for {n} of {}", tls.connections),
        (n, failed) => format!(
            "decrypted: keys for {n} of {}, {failed} of them failed to decrypt (wrong keys or \
             damaged records)",
            tls.connections
        ),
    };
    let _ = writeln!(out, "  {keys}");
    for (who, table) in [
        ("client", &tls.alerts.client),
        ("server", &tls.alerts.server),
    ] {
        if !table.is_empty() {
            let _ = writeln!(
                out,
                "  alerts from the {who}: {}",
                list(&mut table.iter().map(|(k, n)| (k.to_string(), *n)))
            );
        }
    }
    if tls.protocol_errors + tls.lost_sync > 0 {
        let _ = writeln!(
            out,
            "  protocol errors {}, directions whose records were lost {} (see the events)",
            tls.protocol_errors, tls.lost_sync
        );
    }
}

/// The HTTP/2 counters, when the capture has HTTP/2.
fn http2_table(out: &mut String, h2: &Http2Summary) {
    if h2.connections == 0 {
        return;
    }
    let per = &h2.streams_per_connection;
    let _ = writeln!(
        out,
        "http2: {}, {} (per connection p50 {}, p90 {}, max {}), at most {} at once",
        plural(h2.connections, "connection", "connections"),
        plural(h2.streams, "stream", "streams"),
        per.p50,
        per.p90,
        per.max,
        h2.max_concurrent_streams_seen
    );
    for (label, v) in [("pings", h2.pings), ("ping acks", h2.ping_acks)] {
        let _ = writeln!(out, "  {label:<22}{:>8}{:>8}", v.client, v.server);
    }
    let codes = |table: &std::collections::BTreeMap<String, u64>| -> String {
        table
            .iter()
            .map(|(code, n)| format!("{code} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (who, table) in [
        ("client", &h2.goaways.client),
        ("server", &h2.goaways.server),
    ] {
        if !table.is_empty() {
            let _ = writeln!(out, "  GOAWAY from the {who}: {}", codes(table));
        }
    }
    if !h2.rst_streams.is_empty() {
        let _ = writeln!(out, "  RST_STREAM: {}", codes(&h2.rst_streams));
    }
    if !h2.grpc_status.is_empty() {
        let _ = writeln!(out, "  grpc-status: {}", codes(&h2.grpc_status));
    }
    if h2.window_stalls > 0 {
        let _ = writeln!(
            out,
            "  flow-control stalls {} (a side used up the window its peer gave it)",
            h2.window_stalls
        );
    }
    if h2.protocol_errors + h2.lost_sync + h2.hpack_lost > 0 {
        let _ = writeln!(
            out,
            "  protocol errors {}, directions whose framing was lost {}, header compression \
             lost {} (see the events)",
            h2.protocol_errors, h2.lost_sync, h2.hpack_lost
        );
    }
}

/// The WebSocket counters, when the capture has WebSocket (or a refused upgrade).
fn websocket_table(out: &mut String, ws: &WebSocketSummary) {
    if ws.connections == 0 && ws.upgrades_refused == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "websocket: {} upgraded, {} refused   unanswered pings {}   closed without a close frame {}",
        ws.connections, ws.upgrades_refused, ws.unanswered_pings, ws.closed_without_close_frame
    );
    for (label, v) in [
        ("messages", ws.messages),
        ("message bytes", ws.bytes),
        ("pings", ws.pings),
        ("pongs", ws.pongs),
        ("close frames", ws.close_frames),
    ] {
        let _ = writeln!(out, "  {label:<22}{:>8}{:>8}", v.client, v.server);
    }
    if !ws.close_codes.is_empty() {
        let codes: Vec<String> = ws
            .close_codes
            .iter()
            .map(|(code, n)| format!("{code} x{n}"))
            .collect();
        let _ = writeln!(out, "  close codes: {}", codes.join(", "));
    }
    if ws.protocol_errors > 0 {
        let _ = writeln!(
            out,
            "  protocol errors {} (frames that break RFC 6455; see the events)",
            ws.protocol_errors
        );
    }
    if ws.cut_bytes > 0 || ws.lost_sync > 0 {
        let _ = writeln!(
            out,
            "  message bytes not captured {}, directions whose framing was lost {}",
            ws.cut_bytes, ws.lost_sync
        );
    }
}

/// The findings, each with its evidence and knobs, then the endpoints and the distributions.
pub fn diagnosis_text(d: &DiagnosisReport, connections: u64) -> String {
    let mut out = String::new();
    let gaps = &d.capture_gaps;
    if gaps.frames_lost > 0 {
        let _ = writeln!(
            out,
            "\ncapture gaps: the capturing machine lost {} in {} (its own overload, not the \
             network's doing); {} open then, and what {} did after is not diagnosed",
            plural(gaps.frames_lost, "frame", "frames"),
            plural(gaps.gaps, "place", "places"),
            plural(
                gaps.damaged_connections,
                "connection was",
                "connections were"
            ),
            if gaps.damaged_connections == 1 {
                "it"
            } else {
                "they"
            },
        );
    }
    if gaps.holes > 0 {
        let named: Vec<String> = d
            .capture_holes
            .iter()
            .map(|h| match h.bytes {
                0 => format!("connection {}: the {}'s SYN-ACK", h.connection, h.side),
                n => format!(
                    "connection {}: {} the {} sent, found at frame {}",
                    h.connection,
                    plural(n, "byte", "bytes"),
                    h.side,
                    h.frame
                ),
            })
            .collect();
        let more = (gaps.holed_connections as usize).saturating_sub(d.capture_holes.len());
        let _ = writeln!(
            out,
            "\ncapture holes: the capture missed segments of {} ({}{}): the peer acknowledged \
             them, so they were on the wire; nothing measured across a hole is a figure, and \
             what a connection did after a hole in its bytes is not diagnosed",
            plural(gaps.holed_connections, "connection", "connections"),
            named.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            },
        );
    }
    if !d.withheld_findings.is_empty() {
        let withheld: Vec<String> = d
            .withheld_findings
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.kind,
                    plural(f.connections, "connection", "connections")
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  withheld, caused_by_wire_drops: {}",
            withheld.join(", ")
        );
    }
    if d.findings.is_empty() && gaps.damaged_connections >= connections.max(1) {
        let _ = writeln!(
            out,
            "\nfindings: none drawn: a capture gap or hole touched every connection"
        );
    } else if d.findings.is_empty() && gaps.damaged_connections > 0 {
        let _ = writeln!(
            out,
            "\nfindings: none among the {} the capture gaps did not touch",
            plural(
                connections.saturating_sub(gaps.damaged_connections),
                "connection",
                "connections"
            )
        );
    } else if d.findings.is_empty() && d.observations.is_empty() {
        let _ = writeln!(
            out,
            "\nfindings: none (nothing wrong found in {})",
            plural(connections, "connection", "connections")
        );
    } else if d.findings.is_empty() {
        let _ = writeln!(
            out,
            "\nfindings: none with {MIN} connections or more; observed on fewer:",
            MIN = connlab_core::diagnose::MIN_CONNECTIONS
        );
        for o in &d.observations {
            let _ = writeln!(out, "  {} (low confidence): {}", o.kind, o.statement);
            let _ = writeln!(out, "      knobs: {}", o.knobs.join("; "));
        }
    } else {
        let _ = writeln!(out, "\nfindings");
    }
    for f in d.findings.iter().take(SHOWN) {
        let _ = writeln!(out, "  {}: {}", f.kind, f.statement);
        let conns: Vec<String> = f.evidence.conns.iter().map(u64::to_string).collect();
        let frames: Vec<String> = f.evidence.frames.iter().map(u64::to_string).collect();
        if let Some(first) = f.evidence.frames.first() {
            let _ = writeln!(
                out,
                "      evidence: conns {}; frames {} (Wireshark: frame.number == {first})",
                conns.join(" "),
                frames.join(" ")
            );
        }
        let _ = writeln!(out, "      knobs: {}", f.knobs.join("; "));
    }
    more(&mut out, d.findings.len(), "findings");
    // WebSocket messages and HTTP/2 streams get a column when the capture has any.
    let ws = d.endpoints.iter().any(|e| e.websocket_messages > 0)
        || d.distributions.websocket_messages_per_connection.count > 0;
    let h2 = d.endpoints.iter().any(|e| e.http2_streams > 0)
        || d.distributions.http2_streams_per_connection.count > 0;
    if !d.endpoints.is_empty() {
        let _ = writeln!(
            out,
            "\nendpoints             conns   reqs reused  FIN c/s  RST c/s   TW c/s{}{}  findings",
            if ws { "  ws msgs   /ws" } else { "" },
            if h2 { "  streams /conn" } else { "" }
        );
    }
    for e in d.endpoints.iter().take(SHOWN) {
        let kinds: Vec<&str> = e.findings.iter().map(|k| k.as_str()).collect();
        let mut extra = String::new();
        // Totals, then per connection of the kind (one decimal; '-' when it had none).
        let per = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        if ws {
            let each = per(e.messages_per_websocket());
            let _ = write!(extra, " {:>8} {each:>5}", e.websocket_messages);
        }
        if h2 {
            let each = per(e.streams_per_http2_connection());
            let _ = write!(extra, " {:>8} {each:>5}", e.http2_streams);
        }
        let _ = writeln!(
            out,
            "  {:<20}{:>6} {:>6} {:>6} {:>8} {:>8} {:>8}{extra}  {}",
            e.server.to_string(),
            e.connections,
            e.requests,
            e.reused,
            pair(e.fin_first_by),
            rst_pair(e.rst_by),
            pair(e.time_wait),
            if kinds.is_empty() {
                "-".to_owned()
            } else {
                kinds.join(", ")
            }
        );
        let stacks: Vec<String> = [("client", &e.client_stack), ("server", &e.server_stack)]
            .into_iter()
            .filter_map(|(side, s)| {
                let s = s.as_ref()?;
                Some(format!(
                    "{side} {} (by {}, {})",
                    s.name,
                    s.told_by,
                    plural(s.connections, "connection", "connections")
                ))
            })
            .collect();
        if !stacks.is_empty() {
            let _ = writeln!(out, "    {}", stacks.join("; "));
        }
    }
    more(&mut out, d.endpoints.len(), "endpoints");
    let dist = &d.distributions;
    let _ = writeln!(
        out,
        "\ndistributions                   count        p50        p90        p99        max"
    );
    for (label, q) in [
        ("requests per connection", &dist.requests_per_connection),
        ("lifetime ms", &dist.lifetime_ms),
        ("idle before reuse ms", &dist.idle_before_reuse_ms),
        (
            "idle before close ms, client",
            &dist.idle_before_close_ms.client,
        ),
        (
            "idle before close ms, server",
            &dist.idle_before_close_ms.server,
        ),
    ] {
        quantiles(&mut out, label, q);
    }
    if h2 {
        quantiles(
            &mut out,
            "http2 streams per connection",
            &dist.http2_streams_per_connection,
        );
    }
    if ws {
        for (label, q) in [
            (
                "ws messages per connection",
                &dist.websocket_messages_per_connection,
            ),
            (
                "ws idle between frames ms",
                &dist.websocket_idle_between_frames_ms,
            ),
        ] {
            quantiles(&mut out, label, q);
        }
    }
    out
}

fn pair(v: BySide) -> String {
    format!("{}/{}", v.client, v.server)
}

/// `client/server`, and `+N mb` when a middlebox reset too.
pub fn rst_pair(r: RstBy) -> String {
    match r.middlebox {
        0 => pair(r.ends()),
        m => format!("{}+{m}mb", pair(r.ends())),
    }
}

fn more(out: &mut String, total: usize, what: &str) {
    if total > SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more {what} (--json lists them all)",
            total - SHOWN
        );
    }
}

fn quantiles(out: &mut String, label: &str, q: &Quantiles) {
    if q.count == 0 {
        let _ = writeln!(out, "  {label:<28}{:>8}", 0);
        return;
    }
    let _ = writeln!(
        out,
        "  {label:<28}{:>8} {:>10} {:>10} {:>10} {:>10}",
        q.count, q.p50, q.p90, q.p99, q.max
    );
}

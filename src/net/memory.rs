//! Memory the connections cost, by component: the connlab process's resident set (the capture
//! and analysis, and the built-in HTTP and WebSocket actors, live in it), the raw TCP worker
//! processes of each side, and the kernel's slab objects (socket structures live there). The
//! kernel's figure is the growth of its live slab objects (`/proc/slabinfo`: objects in use
//! times their size), not of the slab pages (`Slab:` in meminfo), which stay flat while
//! sockets reuse the free slots earlier ones left; it is counted for the whole kernel (other
//! activity adds noise) and shared by both sides, each holding one socket per connection.
//! Reading slabinfo needs root: without it the figure is absent, never a guess.

use std::fs;

use serde::Serialize;

/// One reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemorySample {
    /// Resident set of this process, bytes.
    pub process_rss: u64,
    /// Bytes of live kernel slab objects (None: /proc/slabinfo is not readable).
    pub kernel_slab: Option<u64>,
}

/// Memory per connection between two readings.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryReport {
    /// Growth of connlab's resident set, bytes.
    pub process_rss_delta: u64,
    /// That growth per connection (both actors' share of one connection).
    pub process_bytes_per_connection: u64,
    /// Growth of the kernel's live slab objects, bytes (absent without root).
    pub kernel_slab_delta: Option<u64>,
    /// That growth per socket (two sockets per connection; absent without root).
    pub kernel_bytes_per_socket: Option<u64>,
    /// Connections it was divided by.
    pub connections: u64,
    /// Growth of the server's worker processes, bytes (when the server runs in them).
    pub server_process_rss_delta: Option<u64>,
    /// That growth per connection.
    pub server_process_bytes_per_connection: Option<u64>,
    /// Growth of the client's worker processes, bytes (when the client runs in them).
    pub client_process_rss_delta: Option<u64>,
    /// That growth per connection.
    pub client_process_bytes_per_connection: Option<u64>,
}

/// Resident memory of the worker processes of each side: (at their start, at the end).
#[derive(Debug, Clone, Copy, Default)]
pub struct Workers {
    /// The server's workers.
    pub server: Option<(u64, u64)>,
    /// The client's workers.
    pub client: Option<(u64, u64)>,
}

/// Resident set of process `pid`, bytes (0 when it is gone).
pub fn rss_of(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| field(&s, "VmRSS:"))
        .unwrap_or(0)
        * 1024
}

/// Resident sets of `pids` together, bytes.
pub fn rss_of_all(pids: &[u32]) -> u64 {
    pids.iter().map(|p| rss_of(*p)).sum()
}

/// Reads both figures now.
pub fn sample() -> MemorySample {
    let kib = |file: &str, name: &str| {
        fs::read_to_string(file)
            .ok()
            .and_then(|s| field(&s, name))
            .unwrap_or(0)
            * 1024
    };
    MemorySample {
        process_rss: kib("/proc/self/status", "VmRSS:"),
        kernel_slab: fs::read_to_string("/proc/slabinfo")
            .ok()
            .map(|text| live_slab_bytes(&text)),
    }
}

/// Σ objects in use × object size over every slab cache of a `/proc/slabinfo` text.
fn live_slab_bytes(slabinfo: &str) -> u64 {
    slabinfo
        .lines()
        .filter(|l| !l.starts_with("slabinfo") && !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split_whitespace().skip(1);
            let active: u64 = cols.next()?.parse().ok()?;
            let _total = cols.next()?;
            let size: u64 = cols.next()?.parse().ok()?;
            Some(active * size)
        })
        .sum()
}

fn field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl MemoryReport {
    /// The cost of `connections` open connections between `before` and `after`.
    pub fn between(
        before: MemorySample,
        after: MemorySample,
        workers: Workers,
        connections: u64,
    ) -> MemoryReport {
        let process_rss_delta = after.process_rss.saturating_sub(before.process_rss);
        let kernel_slab_delta = after
            .kernel_slab
            .zip(before.kernel_slab)
            .map(|(a, b)| a.saturating_sub(b));
        let per = |total: u64, n: u64| total.checked_div(n).unwrap_or(0);
        MemoryReport {
            process_rss_delta,
            process_bytes_per_connection: per(process_rss_delta, connections),
            kernel_slab_delta,
            kernel_bytes_per_socket: kernel_slab_delta.map(|d| per(d, connections * 2)),
            connections,
            server_process_rss_delta: workers.server.map(|(b, a)| a.saturating_sub(b)),
            server_process_bytes_per_connection: workers
                .server
                .map(|(b, a)| per(a.saturating_sub(b), connections)),
            client_process_rss_delta: workers.client.map(|(b, a)| a.saturating_sub(b)),
            client_process_bytes_per_connection: workers
                .client
                .map(|(b, a)| per(a.saturating_sub(b), connections)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_figures_divide_the_growth() {
        let before = MemorySample {
            process_rss: 10_000_000,
            kernel_slab: Some(4096),
        };
        let after = MemorySample {
            process_rss: 30_000_000,
            kernel_slab: Some(4096 * 101),
        };
        let workers = Workers {
            server: Some((1_000_000, 3_000_000)),
            client: Some((1_000_000, 2_000_000)),
        };
        let r = MemoryReport::between(before, after, workers, 1000);
        assert_eq!(r.server_process_bytes_per_connection, Some(2_000));
        assert_eq!(r.client_process_bytes_per_connection, Some(1_000));
        assert_eq!(r.process_bytes_per_connection, 20_000);
        assert_eq!(r.kernel_bytes_per_socket, Some(204));
        let unreadable = MemorySample {
            kernel_slab: None,
            ..after
        };
        let r = MemoryReport::between(before, unreadable, workers, 1000);
        assert_eq!(r.kernel_bytes_per_socket, None, "absent, not zero");
        assert_eq!(
            MemoryReport::between(after, before, Workers::default(), 0).process_rss_delta,
            0
        );
    }

    #[test]
    fn live_slab_bytes_count_objects_in_use() {
        let text = "slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n\
                    TCP 10 130 2368 13 8 : tunables 0 0 0 : slabdata 10 10 0\n\
                    filp 100 210 192 21 1 : tunables 0 0 0 : slabdata 10 10 0\n";
        assert_eq!(live_slab_bytes(text), 10 * 2368 + 100 * 192);
    }

    #[test]
    fn sampling_reads_this_process() {
        assert!(sample().process_rss > 0);
    }
}

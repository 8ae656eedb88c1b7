//! How a lab's connections fit on this machine, decided before anything is built: how many
//! worker processes each side needs under the open-file limit, how many client addresses the
//! port range asks for, which accept-queue sysctls to raise, and whether memory, sockets and
//! addresses suffice at all. A lab the machine cannot hold is refused up front with the
//! estimate and the limit it exceeds, instead of failing with EMFILE halfway.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use serde::Serialize;

use super::spec::LabSpec;
use crate::net::topology::{extra_client_addr, CLIENT_ADDR, MAX_EXTRA_CLIENT_ADDRS};

/// Measured cost of one connection (see the table in docs/scale.md): a client worker's and a
/// server worker's resident memory, the kernel's slab per socket, and connlab's own capture
/// and analysis in the run process.
const CLIENT_BYTES_PER_CONN: u64 = 1_300;
/// Server worker bytes per connection.
const SERVER_BYTES_PER_CONN: u64 = 1_350;
/// Kernel slab bytes per socket (two sockets per connection).
const KERNEL_BYTES_PER_SOCKET: u64 = 4_200;
/// connlab's capture and analysis bytes per connection.
const ANALYSIS_BYTES_PER_CONN: u64 = 1_300;
/// Resident memory of one idle worker process.
const WORKER_BASE_BYTES: u64 = 4 << 20;

/// Descriptors a worker keeps for itself (runtime, pipes, the listener).
const WORKER_SPARE_FDS: u64 = 512;
/// Connections per client address: each gets its own source port, from [`FIRST_PORT`] up.
/// Client workers bind their ports themselves, as load generators do: the kernel's search
/// for a free ephemeral port costs more with every connection already open (most of the
/// time of a dial at 100,000 connections), an explicit port costs nothing.
const CONNS_PER_ADDR: u64 = 50_000;
/// The first source port of every client address.
const FIRST_PORT: u16 = 10_000;
/// Above this many connections the server namespace's accept queues are raised.
const DEEP_BACKLOG_FROM: u64 = 4_096;
/// Frames per CPU the kernel's input queues may hold in a lab of many connections: a dial
/// burst on a busy machine waits there, and the default of 1000 drops it.
const DEEP_INPUT_QUEUE: u64 = 65_536;
/// Bytes of frames the lab's interface holds while it resolves a neighbour.
const UNRESOLVED_QUEUE: &str = "net.ipv4.neigh.eth0.unres_qlen_bytes";

/// What the machine offers, read once (a test builds its own).
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// This process's open-file limit (soft, after raising it as far as allowed); workers
    /// inherit it.
    pub open_files: u64,
    /// MemAvailable, bytes.
    pub mem_available: u64,
    /// Files the kernel can still open (fs.file-max minus those open).
    pub files_free: u64,
}

impl Machine {
    /// Reads the limits of this machine and process.
    pub fn read() -> Machine {
        let open_files = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_available = meminfo
            .lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(u64::MAX, |kib| kib * 1024);
        let file_nr = std::fs::read_to_string("/proc/sys/fs/file-nr").unwrap_or_default();
        let mut nr = file_nr
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        let (open, _, max) = (nr.next(), nr.next(), nr.next());
        let files_free = match (open, max) {
            (Some(open), Some(max)) if max > 0 => max.saturating_sub(open),
            _ => u64::MAX,
        };
        Machine {
            open_files,
            mem_available,
            files_free,
        }
    }
}

/// Memory a lab is expected to take, by component, bytes.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Estimate {
    /// Client worker processes.
    pub client: u64,
    /// Server worker processes.
    pub server: u64,
    /// Kernel socket structures, both sides.
    pub kernel: u64,
    /// connlab's capture and analysis.
    pub analysis: u64,
}

impl Estimate {
    /// All components.
    pub fn total(&self) -> u64 {
        self.client + self.server + self.kernel + self.analysis
    }
}

/// How the lab's connections are laid out; shown in the summary as `scale`.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePlan {
    /// Connections the lab holds at once.
    pub connections: u64,
    /// The open-file limit of connlab and its workers.
    pub open_file_limit: u64,
    /// Server worker processes (raw TCP labs).
    pub server_workers: usize,
    /// Client worker processes (raw TCP labs).
    pub client_workers: usize,
    /// Client source addresses (the first is the client's usual one).
    pub client_addrs: Vec<Ipv4Addr>,
    /// Memory expected, by component.
    pub estimate: Estimate,
    /// Sysctls added to the server namespace (deeper accept queues, a deeper queue for
    /// frames waiting on ARP).
    #[serde(skip)]
    pub server_sysctls: BTreeMap<String, String>,
    /// Sysctls added to the client namespace (a deeper queue for frames waiting on ARP).
    #[serde(skip)]
    pub client_sysctls: BTreeMap<String, String>,
    /// The host's per-CPU input queue bound (`net.core.netdev_max_backlog`) the lab needs,
    /// when it needs more than a default machine has: see [`crate::net::softnet`].
    #[serde(skip)]
    pub input_queue: Option<u64>,
}

/// Lays the lab out on `machine`, or refuses it with the limit it exceeds.
pub fn plan(spec: &LabSpec, machine: &Machine) -> Result<ScalePlan> {
    let Some(client) = &spec.tcp_client else {
        return Ok(ScalePlan {
            connections: 0,
            open_file_limit: machine.open_files,
            server_workers: 1,
            client_workers: 1,
            client_addrs: vec![CLIENT_ADDR],
            estimate: Estimate::default(),
            server_sysctls: BTreeMap::new(),
            client_sysctls: BTreeMap::new(),
            input_queue: None,
        });
    };
    let conns = u64::from(client.connections);
    let per_worker = machine.open_files.saturating_sub(WORKER_SPARE_FDS) * 3 / 4;
    if per_worker < 64 {
        bail!(
            "the open-file limit is {} descriptors: too few for a worker process (raise it with \
             `ulimit -n`)",
            machine.open_files
        );
    }
    let addrs = conns.div_ceil(CONNS_PER_ADDR);
    let max_addrs = 1 + MAX_EXTRA_CLIENT_ADDRS as u64;
    if addrs > max_addrs {
        bail!(
            "{conns} connections need {addrs} client addresses of {CONNS_PER_ADDR} ports each, \
             and the lab's subnet has {max_addrs}: hold fewer connections"
        );
    }
    let workers = conns.div_ceil(per_worker).max(1);
    // Every address gets the same number of client workers, so no address runs out of ports.
    let client_workers = workers.div_ceil(addrs) * addrs;
    let estimate = Estimate {
        client: conns * CLIENT_BYTES_PER_CONN + client_workers * WORKER_BASE_BYTES,
        server: conns * SERVER_BYTES_PER_CONN + workers * WORKER_BASE_BYTES,
        kernel: conns * 2 * KERNEL_BYTES_PER_SOCKET,
        analysis: conns * ANALYSIS_BYTES_PER_CONN,
    };
    let room = machine.mem_available / 10 * 9;
    if estimate.total() > room {
        bail!(
            "{conns} connections need about {} MiB (client {} MiB, server {} MiB, kernel {} \
             MiB, capture and analysis {} MiB, from the measured per-connection costs) and \
             this machine has {} MiB available: hold fewer connections",
            mib(estimate.total()),
            mib(estimate.client),
            mib(estimate.server),
            mib(estimate.kernel),
            mib(estimate.analysis),
            mib(machine.mem_available)
        );
    }
    let files = conns * 2 + (workers + client_workers) * WORKER_SPARE_FDS;
    if files > machine.files_free {
        bail!(
            "{conns} connections need {files} open files and the kernel has {} left \
             (fs.file-max): raise fs.file-max or hold fewer connections",
            machine.files_free
        );
    }
    let mut server_sysctls = BTreeMap::new();
    let mut client_sysctls = BTreeMap::new();
    if conns > DEEP_BACKLOG_FROM {
        let raise =
            |side: &BTreeMap<_, _>, out: &mut BTreeMap<String, String>, key: &str, value: &str| {
                if !side.contains_key(key) {
                    out.insert(key.to_owned(), value.to_owned());
                }
            };
        raise(
            &spec.sysctl.server,
            &mut server_sysctls,
            "net.core.somaxconn",
            "65535",
        );
        raise(
            &spec.sysctl.server,
            &mut server_sysctls,
            "net.ipv4.tcp_max_syn_backlog",
            "65535",
        );
        // A burst of SYNs from a new client address waits for ARP in a queue of 100 frames
        // by default: the rest would be dropped and the handshakes retried a second later.
        for (side, out) in [
            (&spec.sysctl.server, &mut server_sysctls),
            (&spec.sysctl.client, &mut client_sysctls),
        ] {
            raise(side, out, UNRESOLVED_QUEUE, "16777216");
        }
    }
    Ok(ScalePlan {
        connections: conns,
        open_file_limit: machine.open_files,
        server_workers: workers as usize,
        client_workers: client_workers as usize,
        client_addrs: (0..addrs as usize)
            .map(|i| {
                if i == 0 {
                    CLIENT_ADDR
                } else {
                    extra_client_addr(i)
                }
            })
            .collect(),
        estimate,
        server_sysctls,
        client_sysctls,
        input_queue: (conns > DEEP_BACKLOG_FROM).then_some(DEEP_INPUT_QUEUE),
    })
}

/// One client worker's part: how many connections, from which address, from which port up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientShare {
    /// Connections it dials.
    pub connections: u32,
    /// Their source address.
    pub addr: Ipv4Addr,
    /// The source port of its first connection; the next ones count up.
    pub first_port: u16,
}

impl ScalePlan {
    /// The part of client worker `i`: the workers of one address split its connections, each
    /// with a block of ports of its own.
    pub fn client_share(&self, i: usize) -> ClientShare {
        let addrs = self.client_addrs.len();
        let per_addr_workers = self.client_workers / addrs;
        let (addr_index, rank) = (i / per_addr_workers, i % per_addr_workers);
        let on_addr = conns_on(self.connections, addrs as u64, addr_index as u64);
        let before: u64 = (0..rank as u64)
            .map(|r| conns_on(on_addr, per_addr_workers as u64, r))
            .sum();
        ClientShare {
            connections: conns_on(on_addr, per_addr_workers as u64, rank as u64) as u32,
            addr: self.client_addrs[addr_index],
            first_port: FIRST_PORT + before as u16,
        }
    }
}

/// `total` split over `parts` as evenly as possible: the size of part `i`.
fn conns_on(total: u64, parts: u64, i: u64) -> u64 {
    total / parts + u64::from(i < total % parts)
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Machine = Machine {
        open_files: 20_000,
        mem_available: 22 << 30,
        files_free: 2_000_000,
    };

    fn spec(connections: u32, extra: &str) -> LabSpec {
        toml::from_str(&format!(
            "question = \"q?\"\n[tcp_server]\n[tcp_client]\nconnections = {connections}\n{extra}"
        ))
        .expect("lab")
    }

    #[test]
    fn half_a_million_connections_spread_over_workers_and_addresses() {
        let plan = plan(&spec(500_000, ""), &BIG).expect("fits");
        // 14,616 per worker under a limit of 20,000: 35 workers a side; 50,000 ports a
        // client address: 10 addresses, and as many client workers on each.
        assert_eq!(plan.server_workers, 35);
        assert_eq!(plan.client_addrs.len(), 10);
        assert_eq!(plan.client_workers, 40);
        let shares: Vec<ClientShare> = (0..plan.client_workers)
            .map(|i| plan.client_share(i))
            .collect();
        assert_eq!(
            shares.iter().map(|s| u64::from(s.connections)).sum::<u64>(),
            500_000
        );
        for addr in &plan.client_addrs {
            let mut mine: Vec<&ClientShare> = shares.iter().filter(|s| s.addr == *addr).collect();
            mine.sort_by_key(|s| s.first_port);
            assert_eq!(mine[0].first_port, FIRST_PORT);
            for pair in mine.windows(2) {
                let end = u32::from(pair[0].first_port) + pair[0].connections;
                assert_eq!(
                    end,
                    u32::from(pair[1].first_port),
                    "{addr}: blocks follow each other"
                );
            }
            let last = mine[mine.len() - 1];
            assert!(u32::from(last.first_port) + last.connections <= 65_536);
        }
        assert_eq!(plan.server_sysctls["net.core.somaxconn"], "65535");
    }

    #[test]
    fn small_labs_keep_one_worker_one_address_and_the_defaults() {
        let plan = plan(&spec(100, ""), &BIG).expect("fits");
        assert_eq!((plan.server_workers, plan.client_workers), (1, 1));
        assert_eq!(plan.client_addrs, [CLIENT_ADDR]);
        assert!(plan.server_sysctls.is_empty());
    }

    #[test]
    fn a_lab_the_machine_cannot_hold_is_refused_with_the_limit() {
        let small = Machine {
            mem_available: 2 << 30,
            ..BIG
        };
        let err = plan(&spec(500_000, ""), &small)
            .expect_err("memory")
            .to_string();
        assert!(
            err.contains("MiB available") && err.contains("kernel"),
            "{err}"
        );
        let roomy = Machine {
            mem_available: 1 << 50,
            files_free: u64::MAX,
            ..BIG
        };
        let err = plan(&spec(20_000_000, ""), &roomy)
            .expect_err("ports")
            .to_string();
        assert!(err.contains("400 client addresses"), "{err}");
        let files = Machine {
            files_free: 10_000,
            ..BIG
        };
        let err = plan(&spec(20_000, ""), &files)
            .expect_err("files")
            .to_string();
        assert!(err.contains("fs.file-max"), "{err}");
    }

    #[test]
    fn the_labs_own_backlog_is_kept() {
        let own = spec(100_000, "[sysctl.server]\n\"net.core.somaxconn\" = 1024");
        let plan = plan(&own, &BIG).expect("fits");
        assert_eq!(plan.client_addrs.len(), 2, "50,000 a client address");
        assert!(!plan.server_sysctls.contains_key("net.core.somaxconn"));
        assert!(plan
            .server_sysctls
            .contains_key("net.ipv4.tcp_max_syn_backlog"));
    }
}

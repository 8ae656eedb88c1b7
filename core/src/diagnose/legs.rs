//! A proxy's or a pooler's two legs in one capture: an address that is a server to its
//! clients (pgbouncer on 6432) and, speaking the same protocol, a client of servers of its own
//! (PostgreSQL on 5432). Each leg is an endpoint of its own; this joins them, so that a close
//! on one leg is told with what the other leg held open then: pgbouncer's
//! `server_idle_timeout` closes its server connections while its clients stay connected, its
//! `client_idle_timeout` the reverse.
//!
//! Kept as counts, not connections: per address, the endpoints it serves, and the open
//! connections it dialed that carried a request.

use std::net::{IpAddr, SocketAddr};

use super::evidence::Timed;
use super::finding::{Finding, MIN_CONNECTIONS};
use super::kind::FindingKind;
use crate::words::plural;
use crate::FastMap;

/// What the other leg held open when a connection began to close.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Around {
    /// Open, used connections of the clients of the closing connection's client (it is a
    /// proxy, and these its front leg), on endpoints speaking the same protocol.
    pub front_open: u64,
    /// Open, used connections the closing connection's server dialed itself (it is a proxy,
    /// and these its upstream leg).
    pub upstream_open: u64,
}

/// One endpoint's closes told with the other leg.
#[derive(Debug, Clone, Default)]
pub(crate) struct LegCloses {
    /// Idle connections its client (a proxy) closed while the proxy's own clients stayed.
    pub upstream_idle: Timed,
    /// The most of the proxy's clients connected at one of those closes.
    pub front_open: u64,
    /// The proxy's address, as the client of those connections.
    pub proxy: Option<IpAddr>,
    /// Idle clients its server (a proxy) closed while keeping its own server connections.
    pub client_idle: Timed,
    /// The most of the proxy's server connections open at one of those closes.
    pub upstream_open: u64,
}

/// The legs of every address in the capture.
#[derive(Debug, Clone, Default)]
pub(crate) struct Legs {
    /// Per address, the endpoints it serves (indices into the diagnosis's endpoints).
    served: FastMap<IpAddr, Vec<usize>>,
    /// Per address that is also a server, the open connections it dialed that carried a
    /// request. Only such addresses are counted: a capture of clients and servers alone
    /// costs a lookup per connection, not two map updates. (A proxy's connections dialed
    /// before any client reached it are not counted.)
    dialing: FastMap<IpAddr, u64>,
}

impl Legs {
    /// Endpoint `i` is served at `server`.
    pub fn serves(&mut self, server: SocketAddr, i: usize) {
        self.served.entry(server.ip()).or_default().push(i);
    }

    /// Whether `ip` serves any endpoint: its new connections are a proxy's upstream leg.
    pub fn is_server(&self, ip: IpAddr) -> bool {
        self.served.contains_key(&ip)
    }

    /// Whether any connection was dialed by a server: without one there is no proxy, and
    /// no other leg to ask about.
    pub fn any(&self) -> bool {
        !self.dialing.is_empty()
    }

    /// A connection `client` dialed began (true) or stopped (false) counting as open and used.
    pub fn dialing(&mut self, client: IpAddr, open: bool) {
        if open {
            *self.dialing.entry(client).or_default() += 1;
        } else if let Some(n) = self.dialing.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.dialing.remove(&client);
            }
        }
    }

    /// What the other legs held open as a connection of `client` to `server` began to
    /// close; `front` gives an endpoint's open, used connections where it speaks the closing
    /// connection's protocol (None where it speaks another).
    pub fn around(
        &self,
        client: IpAddr,
        server: IpAddr,
        front: impl Fn(usize) -> Option<u64>,
    ) -> Around {
        let front_open = self
            .served
            .get(&client)
            .map_or(0, |served| served.iter().filter_map(|&i| front(i)).sum());
        Around {
            front_open,
            upstream_open: self.dialing.get(&server).copied().unwrap_or(0),
        }
    }
}

/// The findings of one endpoint's closes told with the other leg.
pub(crate) fn findings(server: SocketAddr, legs: &LegCloses, out: &mut Vec<Finding>) {
    let upstream = &legs.upstream_idle;
    if upstream.examples.count >= MIN_CONNECTIONS {
        if let Some((after, spread)) = upstream.consistent_ms() {
            let proxy = legs
                .proxy
                .map_or_else(|| "the proxy".to_owned(), |ip| format!("the proxy {ip}"));
            let statement = format!(
                "{proxy} closed {} to {server} that sat idle {after:.1} ms after their last \
                 data (spread {spread:.1} ms) while {} of its own stayed connected: a pooler's \
                 idle timeout for its server connections; a client's next request waits for a \
                 new one (a handshake and a login)",
                plural(upstream.examples.count, "connection", "connections"),
                plural(legs.front_open, "client", "clients"),
            );
            out.push(Finding {
                after_ms: Some(after),
                spread_ms: Some(spread),
                ..Finding::new(
                    FindingKind::ProxyUpstreamIdleClose,
                    server,
                    &upstream.examples,
                )
                .says(statement)
            });
        }
    }
    let clients = &legs.client_idle;
    if clients.examples.count >= MIN_CONNECTIONS {
        if let Some((after, spread)) = clients.consistent_ms() {
            let statement =
                format!(
                "the proxy {server} closed {} that sat idle {after:.1} ms after their last data \
                 (spread {spread:.1} ms) while it kept {} of its own to its servers: its idle \
                 timeout for clients; a client that kept its connection meets the close on its \
                 next request",
                plural(clients.examples.count, "client connection", "client connections"),
                plural(legs.upstream_open, "connection", "connections"),
            );
            out.push(Finding {
                after_ms: Some(after),
                spread_ms: Some(spread),
                ..Finding::new(FindingKind::ProxyClientIdleClose, server, &clients.examples)
                    .says(statement)
            });
        }
    }
}

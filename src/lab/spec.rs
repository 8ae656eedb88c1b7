//! The lab file format (TOML), as serde reads it: unknown fields are errors ([`super::file`]
//! reads a file into a lab and says where each error is).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::actors::db_pool::DbClientConfig;
use crate::actors::exec::ExecConfig;
use crate::actors::h2_client::H2ClientConfig;
use crate::actors::h2_server::H2ServerConfig;
use crate::actors::http_client::HttpClientConfig;
use crate::actors::http_server::HttpServerConfig;
use crate::actors::tcp::{TcpClientConfig, TcpServerConfig};
use crate::actors::ws::{WsClientConfig, WsServerConfig};
use crate::wire::LinkSpec;

/// A lab as written in its file (written back by [`super::choices`] to read defaults).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabSpec {
    /// The question the lab answers, in one line (shown by `connlab list`).
    pub question: String,
    /// What the user will see and why, and the equivalent Go knob.
    #[serde(default)]
    pub about: String,
    /// Time to wait after the client finished, before the capture stops, so that closes
    /// caused by timeouts (and TIME_WAIT entries) happen on the wire.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// The whole lab is stopped (and reported as an error) after this long.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Keep IPv6 on in the lab's namespaces (off by default, so that no router solicitation
    /// or MLD report crosses the wire and the capture holds only the lab's traffic).
    #[serde(default)]
    pub ipv6: bool,
    /// Sysctls per side (`[sysctl.client]`, `[sysctl.server]`), dotted keys.
    #[serde(default)]
    pub sysctl: Sysctls,
    /// What the capture keeps (`[capture]`).
    #[serde(default)]
    pub capture: CaptureSpec,
    /// The link model (`[link]`).
    #[serde(default)]
    pub link: LinkSpec,
    /// The built-in HTTP/1.1 server (`[server]`).
    #[serde(default)]
    pub server: Option<HttpServerConfig>,
    /// An external program as the server (`[exec_server]`).
    #[serde(default)]
    pub exec_server: Option<ExecConfig>,
    /// The raw TCP line-echo server (`[tcp_server]`).
    #[serde(default)]
    pub tcp_server: Option<TcpServerConfig>,
    /// The WebSocket echo server (`[ws_server]`).
    #[serde(default)]
    pub ws_server: Option<WsServerConfig>,
    /// The HTTP/2 (and gRPC) server (`[h2_server]`).
    #[serde(default)]
    pub h2_server: Option<H2ServerConfig>,
    /// The built-in pooled HTTP/1.1 client (`[client]`).
    #[serde(default)]
    pub client: Option<HttpClientConfig>,
    /// An external program as the client (`[exec_client]`).
    #[serde(default)]
    pub exec_client: Option<ExecConfig>,
    /// Raw TCP long connections with heartbeats (`[tcp_client]`).
    #[serde(default)]
    pub tcp_client: Option<TcpClientConfig>,
    /// A WebSocket client (`[ws_client]`).
    #[serde(default)]
    pub ws_client: Option<WsClientConfig>,
    /// An HTTP/2 (and gRPC) client (`[h2_client]`).
    #[serde(default)]
    pub h2_client: Option<H2ClientConfig>,
    /// A client with a database pool's policy (`[db_client]`).
    #[serde(default)]
    pub db_client: Option<DbClientConfig>,
    /// Assertions on the summary (`[expect]`), checked against the wire's truth.
    #[serde(default)]
    pub expect: toml::Table,
}

/// The lab's server, by kind.
#[derive(Debug, Clone, Copy)]
pub enum ServerRole<'a> {
    /// `[server]`.
    Http(&'a HttpServerConfig),
    /// `[exec_server]`.
    Exec(&'a ExecConfig),
    /// `[tcp_server]`.
    Tcp(&'a TcpServerConfig),
    /// `[ws_server]`.
    Ws(&'a WsServerConfig),
    /// `[h2_server]`.
    H2(&'a H2ServerConfig),
}

/// The lab's client, by kind.
#[derive(Debug, Clone, Copy)]
pub enum ClientRole<'a> {
    /// `[client]`.
    Http(&'a HttpClientConfig),
    /// `[exec_client]`.
    Exec(&'a ExecConfig),
    /// `[tcp_client]`.
    Tcp(&'a TcpClientConfig),
    /// `[ws_client]`.
    Ws(&'a WsClientConfig),
    /// `[h2_client]`.
    H2(&'a H2ClientConfig),
    /// `[db_client]`.
    Db(&'a DbClientConfig),
}

impl LabSpec {
    /// The one server of the lab.
    pub fn server_role(&self) -> anyhow::Result<ServerRole<'_>> {
        let mut roles = [
            self.server.as_ref().map(ServerRole::Http),
            self.exec_server.as_ref().map(ServerRole::Exec),
            self.tcp_server.as_ref().map(ServerRole::Tcp),
            self.ws_server.as_ref().map(ServerRole::Ws),
            self.h2_server.as_ref().map(ServerRole::H2),
        ]
        .into_iter()
        .flatten();
        match (roles.next(), roles.next()) {
            (Some(role), None) => Ok(role),
            _ => anyhow::bail!(
                "a lab has exactly one server: [server], [exec_server], [tcp_server], [ws_server] \
                 or [h2_server]"
            ),
        }
    }

    /// The one client of the lab.
    pub fn client_role(&self) -> anyhow::Result<ClientRole<'_>> {
        let mut roles = [
            self.client.as_ref().map(ClientRole::Http),
            self.exec_client.as_ref().map(ClientRole::Exec),
            self.tcp_client.as_ref().map(ClientRole::Tcp),
            self.ws_client.as_ref().map(ClientRole::Ws),
            self.h2_client.as_ref().map(ClientRole::H2),
            self.db_client.as_ref().map(ClientRole::Db),
        ]
        .into_iter()
        .flatten();
        match (roles.next(), roles.next()) {
            (Some(role), None) => Ok(role),
            _ => anyhow::bail!(
                "a lab has exactly one client: [client], [exec_client], [tcp_client], [ws_client], \
                 [h2_client] or [db_client]"
            ),
        }
    }
}

/// `[sysctl.client]` and `[sysctl.server]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sysctls {
    /// Written in the client namespace.
    #[serde(default)]
    pub client: BTreeMap<String, SysctlValue>,
    /// Written in the server namespace.
    #[serde(default)]
    pub server: BTreeMap<String, SysctlValue>,
}

/// `[capture]`: what the recorder keeps of each frame.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// Bytes kept of each frame (the rest is cut, its length still recorded), so a bulk lab
    /// is not limited by the disk: 128 keeps every header.
    #[serde(default = "whole_frame")]
    pub snaplen: u32,
    /// Frames each wire port's receive ring holds (rounded up to a power of two). The default
    /// absorbs any burst a lab makes; a small ring lets a test make connlab's own wire drop
    /// frames, to see that such drops are named and never diagnosed.
    #[serde(default = "default_ring_frames")]
    pub ring_frames: u32,
}

impl Default for CaptureSpec {
    fn default() -> Self {
        CaptureSpec {
            snaplen: whole_frame(),
            ring_frames: default_ring_frames(),
        }
    }
}

fn default_ring_frames() -> u32 {
    crate::wire::ring::DEFAULT_FRAMES as u32
}

fn whole_frame() -> u32 {
    65_535
}

/// A sysctl value: numbers or strings such as `"32768 60999"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SysctlValue {
    /// A number.
    Int(i64),
    /// Text, written as is.
    Text(String),
}

impl SysctlValue {
    /// The text written to /proc/sys.
    pub fn as_text(&self) -> String {
        match self {
            SysctlValue::Int(i) => i.to_string(),
            SysctlValue::Text(s) => s.clone(),
        }
    }
}

fn default_settle_ms() -> u64 {
    500
}

fn default_timeout_s() -> u64 {
    60
}

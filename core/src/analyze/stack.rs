//! Which software speaks on each side of a connection, from what its HTTP/1.x messages say:
//! the client's `User-Agent`, the server's `Server`, and where no header names it, a default
//! only one stack has (Node.js answers with `Keep-Alive: timeout=5` and no `Server`). The
//! diagnosis then names that stack's knobs first, and no other stack's.

use serde::Serialize;

/// A client or server stack connlab knows the knobs of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stack {
    /// Go net/http (`Go-http-client/1.1`).
    Go,
    /// curl.
    Curl,
    /// Python requests (`python-requests/2.x`).
    PythonRequests,
    /// Python urllib3 used directly.
    PythonUrllib3,
    /// Python's standard library urllib (`Python-urllib/3.x`).
    PythonUrllib,
    /// Python aiohttp.
    Aiohttp,
    /// Python websockets (`Python/3.x websockets/10.y`, in `User-Agent` and `Server` both).
    PythonWebsockets,
    /// OkHttp (Android, Kotlin, Java).
    Okhttp,
    /// The JDK's java.net.http.HttpClient (`Java-http-client/17`).
    JavaHttpClient,
    /// The JDK's HttpURLConnection (`Java/17`).
    JavaUrlConnection,
    /// Node.js http (a `node` or `undici` user agent; a server by its `Keep-Alive` default).
    Node,
    /// ApacheBench (`ApacheBench/2.3`).
    ApacheBench,
    /// nginx.
    Nginx,
    /// Apache httpd.
    Apache,
    /// Envoy.
    Envoy,
    /// Caddy.
    Caddy,
    /// gunicorn.
    Gunicorn,
    /// ASP.NET Kestrel.
    Kestrel,
    /// Eclipse Jetty.
    Jetty,
    /// Python's http.server (`BaseHTTP/0.6 Python/3.x`).
    PythonHttpServer,
    /// Redis's server, or one that speaks its protocol (Valkey, KeyDB).
    RedisServer,
    /// redis-py, Python's Redis client.
    RedisPy,
    /// go-redis.
    GoRedis,
    /// ioredis, Node's Redis client.
    Ioredis,
    /// Jedis (Java).
    Jedis,
    /// Lettuce (Java).
    Lettuce,
    /// PostgreSQL's server (it reports `server_version`).
    Postgres,
    /// psql, PostgreSQL's terminal (`application_name` psql).
    Psql,
    /// pgjdbc, PostgreSQL's JDBC driver (`application_name` "PostgreSQL JDBC Driver", or its
    /// startup's `DateStyle`, `TimeZone` and `extra_float_digits`).
    Pgjdbc,
    /// Go's lib/pq (its startup's lower-case `datestyle` beside `extra_float_digits`).
    LibPq,
    /// Rust's tokio-postgres (a startup of `client_encoding`, `user`, `database`, in that
    /// order, and nothing else).
    TokioPostgres,
    /// pgbouncer, PostgreSQL's connection pooler (its startup's ParameterStatus are not in
    /// PostgreSQL's order).
    Pgbouncer,
    /// MySQL's server (its greeting's version says no MariaDB).
    Mysql,
    /// MariaDB's server (its greeting's version says MariaDB).
    Mariadb,
    /// PyMySQL (`_client_name` pymysql).
    Pymysql,
    /// go-sql-driver/mysql (`_client_name` Go-MySQL-Driver).
    GoMysql,
    /// A proxy that says it is one (`Via`, `Forwarded`, `X-Forwarded-For` on its requests)
    /// without naming itself.
    Proxy,
}

/// What told connlab the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clue {
    /// The request's `User-Agent` header names it.
    UserAgent,
    /// The response's `Server` header names it.
    Server,
    /// `Keep-Alive: timeout=N` without `max=` and without a `Server` header: Node's default
    /// response (a guess from a default, not a name).
    NodeKeepAlive,
    /// A request that begins `Host:` then `Connection: close`: nginx's upstream request
    /// (`proxy_pass`), whatever `User-Agent` it passes on.
    NginxProxyShape,
    /// A `Via`, `Forwarded` or `X-Forwarded-For` header: a proxy sent the request.
    ProxyHeader,
    /// The client named its library in the protocol (Redis `CLIENT SETINFO LIB-NAME`, MySQL's
    /// `_client_name` connection attribute).
    ClientName,
    /// The `application_name` it gave at startup is its library's default (PostgreSQL).
    ApplicationName,
    /// The protocol it speaks names it (a server answering in RESP is Redis).
    Protocol,
    /// The startup's ParameterStatus out of PostgreSQL's sorted order: pgbouncer relays the
    /// server's and adds its own at the end.
    ParameterOrder,
    /// The parameters of its StartupMessage are a driver's own set (PostgreSQL).
    StartupParameters,
}

impl Clue {
    /// How sure the clue is: a header that names the software, or a default's shape.
    pub fn confidence(self) -> &'static str {
        match self {
            Clue::UserAgent
            | Clue::Server
            | Clue::ClientName
            | Clue::ApplicationName
            | Clue::Protocol => "high",
            Clue::NodeKeepAlive
            | Clue::NginxProxyShape
            | Clue::ProxyHeader
            | Clue::ParameterOrder
            | Clue::StartupParameters => "medium",
        }
    }

    /// The clue in words, for the evidence.
    pub fn words(self) -> &'static str {
        match self {
            Clue::UserAgent => "its User-Agent header",
            Clue::Server => "its Server header",
            Clue::NodeKeepAlive => {
                "Keep-Alive: timeout=N with no Server header (Node's default response)"
            }
            Clue::NginxProxyShape => {
                "requests that begin Host then Connection: close, as nginx's proxy_pass sends them"
            }
            Clue::ProxyHeader => "a Via, Forwarded or X-Forwarded-For header on its requests",
            Clue::ClientName => "the library name it gave (CLIENT SETINFO LIB-NAME, _client_name)",
            Clue::ApplicationName => "the application_name it gave at startup",
            Clue::Protocol => "the protocol it speaks",
            Clue::ParameterOrder => {
                "its startup's ParameterStatus out of PostgreSQL's sorted order, as pgbouncer sends them"
            }
            Clue::StartupParameters => "the parameters of its StartupMessage, a driver's own set",
        }
    }
}

/// `User-Agent` prefixes, lowercase, longest first where one begins another.
const USER_AGENTS: &[(&str, Stack)] = &[
    ("go-http-client/", Stack::Go),
    ("curl/", Stack::Curl),
    ("python-requests/", Stack::PythonRequests),
    ("python-urllib3/", Stack::PythonUrllib3),
    ("python-urllib/", Stack::PythonUrllib),
    ("okhttp/", Stack::Okhttp),
    ("java-http-client/", Stack::JavaHttpClient),
    ("java/", Stack::JavaUrlConnection),
    ("node-fetch", Stack::Node),
    ("node", Stack::Node),
    ("undici", Stack::Node),
    ("axios/", Stack::Node),
    ("apachebench/", Stack::ApacheBench),
];

/// `Server` prefixes, lowercase.
const SERVERS: &[(&str, Stack)] = &[
    ("nginx", Stack::Nginx),
    ("apache", Stack::Apache),
    ("envoy", Stack::Envoy),
    ("caddy", Stack::Caddy),
    ("gunicorn", Stack::Gunicorn),
    ("kestrel", Stack::Kestrel),
    ("jetty", Stack::Jetty),
    ("basehttp/", Stack::PythonHttpServer),
];

impl Stack {
    /// The stack a `User-Agent` value names (aiohttp's is `Python/3.x aiohttp/3.y`).
    pub fn of_user_agent(value: &[u8]) -> Option<Stack> {
        let value = value.trim_ascii();
        if contains_ignore_case(value, b"aiohttp/") {
            return Some(Stack::Aiohttp);
        }
        python_websockets(value).or_else(|| prefixed(value, USER_AGENTS))
    }

    /// The stack a `Server` value names.
    pub fn of_server(value: &[u8]) -> Option<Stack> {
        let value = value.trim_ascii();
        python_websockets(value).or_else(|| prefixed(value, SERVERS))
    }

    /// The proxy a request's proxy clue names.
    pub fn proxy_of(clue: Clue) -> Stack {
        match clue {
            Clue::NginxProxyShape => Stack::Nginx,
            _ => Stack::Proxy,
        }
    }

    /// Its id in the knob table (`go`, `node`, `python-requests`).
    pub fn id(self) -> &'static str {
        match self {
            Stack::Go => "go",
            Stack::Curl => "curl",
            Stack::PythonRequests => "python-requests",
            Stack::PythonUrllib3 => "python-urllib3",
            Stack::PythonUrllib => "python-urllib",
            Stack::Aiohttp => "aiohttp",
            Stack::PythonWebsockets => "python-websockets",
            Stack::Okhttp => "okhttp",
            Stack::JavaHttpClient => "java-http-client",
            Stack::JavaUrlConnection => "java-url-connection",
            Stack::Node => "node",
            Stack::ApacheBench => "apache-bench",
            Stack::Nginx => "nginx",
            Stack::Apache => "apache",
            Stack::Envoy => "envoy",
            Stack::Caddy => "caddy",
            Stack::Gunicorn => "gunicorn",
            Stack::Kestrel => "kestrel",
            Stack::Jetty => "jetty",
            Stack::PythonHttpServer => "python-http-server",
            Stack::RedisServer => "redis-server",
            Stack::RedisPy => "redis-py",
            Stack::GoRedis => "go-redis",
            Stack::Ioredis => "ioredis",
            Stack::Jedis => "jedis",
            Stack::Lettuce => "lettuce",
            Stack::Postgres => "postgres",
            Stack::Psql => "psql",
            Stack::Pgjdbc => "pgjdbc",
            Stack::LibPq => "lib-pq",
            Stack::TokioPostgres => "tokio-postgres",
            Stack::Pgbouncer => "pgbouncer",
            Stack::Mysql => "mysql",
            Stack::Mariadb => "mariadb",
            Stack::Pymysql => "pymysql",
            Stack::GoMysql => "go-sql-driver-mysql",
            Stack::Proxy => "proxy",
        }
    }

    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Go => "Go net/http",
            Stack::Curl => "curl",
            Stack::PythonRequests => "Python requests",
            Stack::PythonUrllib3 => "Python urllib3",
            Stack::PythonUrllib => "Python urllib",
            Stack::Aiohttp => "Python aiohttp",
            Stack::PythonWebsockets => "Python websockets",
            Stack::Okhttp => "OkHttp",
            Stack::JavaHttpClient => "Java HttpClient",
            Stack::JavaUrlConnection => "Java HttpURLConnection",
            Stack::Node => "Node.js",
            Stack::ApacheBench => "ApacheBench",
            Stack::Nginx => "nginx",
            Stack::Apache => "Apache httpd",
            Stack::Envoy => "Envoy",
            Stack::Caddy => "Caddy",
            Stack::Gunicorn => "gunicorn",
            Stack::Kestrel => "Kestrel",
            Stack::Jetty => "Jetty",
            Stack::PythonHttpServer => "Python http.server",
            Stack::RedisServer => "Redis server",
            Stack::RedisPy => "redis-py",
            Stack::GoRedis => "go-redis",
            Stack::Ioredis => "ioredis",
            Stack::Jedis => "Jedis",
            Stack::Lettuce => "Lettuce",
            Stack::Postgres => "PostgreSQL",
            Stack::Psql => "psql",
            Stack::Pgjdbc => "pgjdbc",
            Stack::LibPq => "Go lib/pq",
            Stack::TokioPostgres => "tokio-postgres",
            Stack::Pgbouncer => "pgbouncer",
            Stack::Mysql => "MySQL",
            Stack::Mariadb => "MariaDB",
            Stack::Pymysql => "PyMySQL",
            Stack::GoMysql => "go-sql-driver/mysql",
            Stack::Proxy => "a proxy",
        }
    }
}

/// Python's websockets library names itself after the interpreter on both sides.
fn python_websockets(value: &[u8]) -> Option<Stack> {
    let python = value.len() >= 7 && value[..7].eq_ignore_ascii_case(b"python/");
    (python && contains_ignore_case(value, b" websockets/")).then_some(Stack::PythonWebsockets)
}

fn prefixed(value: &[u8], table: &[(&str, Stack)]) -> Option<Stack> {
    table.iter().find_map(|(prefix, stack)| {
        let p = prefix.as_bytes();
        (value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p)).then_some(*stack)
    })
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_and_servers_name_their_stacks() {
        for (ua, stack) in [
            ("Go-http-client/1.1", Stack::Go),
            ("curl/8.5.0", Stack::Curl),
            ("python-requests/2.31.0", Stack::PythonRequests),
            ("Python-urllib/3.11", Stack::PythonUrllib),
            ("Python/3.11 aiohttp/3.9.1", Stack::Aiohttp),
            ("Python/3.11 websockets/10.4", Stack::PythonWebsockets),
            ("Java-http-client/17.0.9", Stack::JavaHttpClient),
            ("Java/17.0.9", Stack::JavaUrlConnection),
            ("okhttp/4.12.0", Stack::Okhttp),
            ("node", Stack::Node),
            ("ApacheBench/2.3", Stack::ApacheBench),
        ] {
            assert_eq!(Stack::of_user_agent(ua.as_bytes()), Some(stack), "{ua}");
        }
        assert_eq!(Stack::of_user_agent(b"Mozilla/5.0 (X11)"), None);
        for (server, stack) in [
            ("nginx/1.22.1", Stack::Nginx),
            ("Python/3.11 websockets/10.4", Stack::PythonWebsockets),
            ("Apache/2.4.62 (Debian)", Stack::Apache),
            ("envoy", Stack::Envoy),
            ("BaseHTTP/0.6 Python/3.11.2", Stack::PythonHttpServer),
        ] {
            assert_eq!(Stack::of_server(server.as_bytes()), Some(stack), "{server}");
        }
        assert_eq!(Stack::of_server(b"cloudflare"), None);
    }
}

//! A server's graceful shutdown, as Go's `Server.Shutdown` does it: at `shutdown_at_ms` the
//! server stops accepting and closes its idle connections at once, answers requests already in
//! flight with `Connection: close` and then closes those too; after `shutdown_grace_ms` (Go: the
//! context given to Shutdown running out, then `Server.Close`) whatever is left is closed.

use std::time::Duration;

use tokio::sync::watch;

use crate::trace::{TraceKind, Tracer};

/// Where the shutdown stands; later phases compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Serving as usual.
    Serving,
    /// Shutting down: no new connection, idle ones closed, busy ones closed after their reply.
    Draining,
    /// The grace period is over: everything left is closed now.
    Closing,
}

/// Starts the clock of a shutdown `at` after now (never without one), with `grace` to drain;
/// returns the phase as it changes.
pub fn schedule(
    at: Option<Duration>,
    grace: Option<Duration>,
    tracer: Tracer,
) -> watch::Receiver<Phase> {
    let (tx, rx) = watch::channel(Phase::Serving);
    if let Some(at) = at {
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            tracer.emit(TraceKind::Shutdown {
                phase: "draining".into(),
            });
            let _ = tx.send(Phase::Draining);
            if let Some(grace) = grace {
                tokio::time::sleep(grace).await;
                tracer.emit(TraceKind::Shutdown {
                    phase: "closing".into(),
                });
                let _ = tx.send(Phase::Closing);
            }
            // Keep the sender alive so receivers never see it gone.
            std::future::pending::<()>().await;
        });
    }
    rx
}

/// Resolves once the shutdown reaches `phase` (never, if it does not).
pub async fn reached(rx: &mut watch::Receiver<Phase>, phase: Phase) {
    if rx.wait_for(|p| *p >= phase).await.is_err() {
        std::future::pending::<()>().await;
    }
}

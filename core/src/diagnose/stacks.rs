//! Which stacks an endpoint's traffic identified, per side, with their clue and how many
//! connections said so: the endpoint report shows them, and the findings name their knobs.

use serde::Serialize;

use crate::analyze::{Clue, Side, Stack};

/// The stacks seen on one endpoint's connections.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StacksSeen {
    /// Per side (client, server): stack, the first clue, connections.
    seen: [Vec<(Stack, Clue, u64)>; 2],
}

impl StacksSeen {
    /// One connection's side named its stack.
    pub fn note(&mut self, by: Side, stack: Stack, clue: Clue) {
        let list = &mut self.seen[usize::from(by == Side::Server)];
        match list.iter_mut().find(|(s, _, _)| *s == stack) {
            Some((_, _, n)) => *n += 1,
            None => list.push((stack, clue, 1)),
        }
    }

    /// The knob table's families of every stack seen (`python-requests` is also `python`; a
    /// proxy sending the requests is also `proxy`), each also with its side (`server:go`):
    /// a row for one side's knob applies only where that side is the stack.
    pub fn families(&self) -> Vec<String> {
        let mut out = self.families_of(Side::Client);
        out.extend(self.families_of(Side::Server));
        // Go's server sends no Server header (nginx, Apache and the others name themselves,
        // Node is told by its Keep-Alive default): a server that named nothing, answering a
        // Go client, is taken for Go, so Go's server knobs are still named.
        let unnamed_server = self.seen[1].is_empty();
        if unnamed_server && self.seen[0].iter().any(|(s, _, _)| *s == Stack::Go) {
            out.push("server:go".to_owned());
        }
        out
    }

    /// The families of the stacks seen on one side, bare and with the side (`client:node`).
    pub fn families_of(&self, side: Side) -> Vec<String> {
        let mut bare = Vec::new();
        for (stack, _, _) in &self.seen[usize::from(side == Side::Server)] {
            bare.push(stack.id());
            bare.extend(family(*stack));
            if side == Side::Client && proxy(*stack) {
                bare.push("proxy");
            }
        }
        let sided = bare.iter().map(|f| format!("{side}:{f}"));
        let mut out: Vec<String> = bare.iter().map(|f| (*f).to_owned()).collect();
        out.extend(sided);
        out
    }

    /// The requests come from a proxy (nginx's upstream requests, a `Via` header): its
    /// upstream connections, not an application's pool.
    pub fn client_is_proxy(&self) -> bool {
        self.report(Side::Client).is_some_and(|r| proxy(r.stack))
    }

    /// The side's most told stack, for the report.
    pub fn report(&self, side: Side) -> Option<StackReport> {
        let list = &self.seen[usize::from(side == Side::Server)];
        let &(stack, clue, connections) = list.iter().max_by_key(|(_, _, n)| *n)?;
        Some(StackReport {
            stack,
            name: stack.name(),
            told_by: clue.words(),
            confidence: clue.confidence(),
            connections,
        })
    }
}

/// A stack that, as the client, is a proxy passing other clients' requests on.
fn proxy(stack: Stack) -> bool {
    matches!(stack, Stack::Nginx | Stack::Proxy | Stack::Envoy)
}

/// A family the knob table may name instead of the exact stack.
fn family(stack: Stack) -> Option<&'static str> {
    match stack {
        Stack::PythonRequests
        | Stack::PythonUrllib3
        | Stack::PythonUrllib
        | Stack::Aiohttp
        | Stack::PythonWebsockets
        | Stack::PythonHttpServer => Some("python"),
        // A pooler speaks PostgreSQL to its clients: their pools' rows apply.
        Stack::Pgbouncer => Some("postgres"),
        _ => None,
    }
}

/// One side's identified stack, as the endpoint report shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StackReport {
    /// The stack's id.
    pub stack: Stack,
    /// Its name for people.
    pub name: &'static str,
    /// What told it.
    pub told_by: &'static str,
    /// `high` (a header named it) or `medium` (a default's shape).
    pub confidence: &'static str,
    /// Connections that told it.
    pub connections: u64,
}

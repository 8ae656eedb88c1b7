//! Circles in an import graph: its strongly connected components of more than one node, each
//! a set of nodes that all reach each other. One component is one circle to remove, however
//! many loops run through it.

use std::collections::BTreeMap;

use crate::graph::Graph;

/// Every circle of `graph`, each as its sorted nodes, in order.
pub fn circles(graph: &Graph) -> Vec<Vec<String>> {
    let mut search = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    let mut found = search.found;
    for circle in &mut found {
        circle.sort();
    }
    found.sort();
    found
}

/// The edges inside `circle`, one a line, each with why it is there.
pub fn describe(circle: &[String], graph: &Graph) -> String {
    let mut text = String::new();
    for from in circle {
        for (to, why) in &graph[from] {
            if circle.contains(to) {
                text += &format!("    {from} -> {to}  ({why})\n");
            }
        }
    }
    text
}

/// Tarjan's algorithm: one depth-first walk finds every component.
struct Tarjan<'g> {
    graph: &'g Graph,
    index: BTreeMap<&'g str, usize>,
    low: BTreeMap<&'g str, usize>,
    stack: Vec<&'g str>,
    found: Vec<Vec<String>>,
}

impl<'g> Tarjan<'g> {
    fn visit(&mut self, node: &'g str) {
        let order = self.index.len();
        self.index.insert(node, order);
        self.low.insert(node, order);
        self.stack.push(node);
        for next in self
            .graph
            .get(node)
            .into_iter()
            .flat_map(|edges| edges.keys())
        {
            let next = next.as_str();
            if !self.index.contains_key(next) {
                self.visit(next);
                let low = self.low[node].min(self.low[next]);
                self.low.insert(node, low);
            } else if self.stack.contains(&next) {
                let low = self.low[node].min(self.index[next]);
                self.low.insert(node, low);
            }
        }
        if self.low[node] == self.index[node] {
            let at = self
                .stack
                .iter()
                .rposition(|n| *n == node)
                .expect("on the stack");
            let component: Vec<String> = self.stack.drain(at..).map(str::to_owned).collect();
            if component.len() > 1 {
                self.found.push(component);
            }
        }
    }
}

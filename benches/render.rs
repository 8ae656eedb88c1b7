//! Rendering one frame of the timeline with 10,000 connections (each with about ten events)
//! must stay within 5 ms: rows off screen must cost nothing.

use std::hint::black_box;

use connlab::tui::input::ViewState;
use connlab::tui::view;
use connlab_core::analyze::{EventKind, Side, TimeWaitHolder};
use connlab_core::testframes::{ev as event, fin, req, resp};
use connlab_core::timeline::TimelineModel;
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn model(connections: u64) -> TimelineModel {
    let mut m = TimelineModel::new("bench", "transparent");
    for c in 1..=connections {
        let t = c / 10;
        m.apply_event(&event(c, t, EventKind::Syn));
        m.apply_event(&event(c, t + 1, EventKind::Established { handshake_ns: 1 }));
        for n in 1..=3u32 {
            let at = t + 2 + u64::from(n) * 10;
            m.apply_event(&event(c, at, req(n, n > 1)));
            m.apply_event(&event(c, at + 1, resp(n)));
        }
        m.apply_event(&event(c, t + 50, fin(Side::Client, None)));
        m.apply_event(&event(c, t + 51, fin(Side::Server, None)));
        m.apply_event(&event(
            c,
            t + 51,
            EventKind::TimeWait {
                holder: TimeWaitHolder::Client,
            },
        ));
    }
    m
}

fn render(c: &mut Criterion) {
    let m = model(10_000);
    let mut view = ViewState::new(true);
    view.ns_per_col = 1_000_000;
    view.selected = 5_000;
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
    c.bench_function("render 10k connections 200x50", |b| {
        b.iter(|| {
            terminal
                .draw(|f| view::draw(f, black_box(&m), black_box(&view)))
                .expect("draw");
        })
    });
    view.filter = Some("reused".into());
    c.bench_function("render 10k connections 200x50, filtered", |b| {
        b.iter(|| {
            terminal
                .draw(|f| view::draw(f, black_box(&m), black_box(&view)))
                .expect("draw");
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);

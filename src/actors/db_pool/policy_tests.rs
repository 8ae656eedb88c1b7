//! database/sql's policy pinned on the stories connlab's labs tell.

use super::policy::{Knobs, Pool, Put, Take, CLEANER_MIN_NS};

const MS: u64 = 1_000_000;

/// Runs a burst of `n` concurrent queries at `t`: every one takes a connection first, then
/// all give theirs back. Returns (dialed, reused, closed on return).
fn burst(pool: &mut Pool<u32, u32>, n: u32, t: u64, next_id: &mut u32) -> (u32, u32, u32) {
    let (mut dialed, mut reused, mut closed) = (0, 0, 0);
    let mut held = Vec::new();
    for _ in 0..n {
        match pool.take(t, true, || 0) {
            Take::Dial => {
                dialed += 1;
                *next_id += 1;
                held.push((*next_id, t));
            }
            Take::Reuse { conn, created_ns } => {
                reused += 1;
                held.push((conn, created_ns));
            }
            other => panic!("{other:?}"),
        }
    }
    for (conn, created) in held {
        if let Put::Close(_) = pool.put(conn, created, t + MS, false) {
            closed += 1;
        }
    }
    (dialed, reused, closed)
}

#[test]
fn two_bursts_of_20_with_the_defaults_open_38_and_close_36() {
    let mut pool = Pool::new(Knobs::default());
    let mut id = 0;
    assert_eq!(burst(&mut pool, 20, 0, &mut id), (20, 0, 18));
    assert_eq!(burst(&mut pool, 20, 1_000 * MS, &mut id), (18, 2, 18));
    let s = pool.stats();
    assert_eq!((s.opened, s.max_idle_closed), (38, 36));
    assert_eq!((s.open_connections, s.idle, s.in_use), (2, 2, 0));
}

#[test]
fn enough_idle_connections_keep_every_one() {
    let knobs = Knobs {
        max_idle: 20,
        ..Knobs::default()
    };
    let mut pool = Pool::new(knobs);
    let mut id = 0;
    assert_eq!(burst(&mut pool, 20, 0, &mut id), (20, 0, 0));
    assert_eq!(burst(&mut pool, 20, 1_000 * MS, &mut id), (0, 20, 0));
}

#[test]
fn at_max_open_callers_wait_and_get_the_next_return() {
    let knobs = Knobs {
        max_open: 5,
        ..Knobs::default()
    };
    let mut pool: Pool<u32, &str> = Pool::new(knobs);
    for _ in 0..5 {
        assert_eq!(pool.take(0, true, || "x"), Take::Dial);
    }
    assert_eq!(pool.take(0, true, || "sixth"), Take::Wait);
    assert_eq!(
        pool.put(1, 0, 7 * MS, false),
        Put::Handed {
            to: "sixth",
            conn: 1,
            created_ns: 0
        }
    );
    let s = pool.stats();
    assert_eq!((s.wait_count, s.wait_duration_ns, s.opened), (1, 7 * MS, 5));
}

#[test]
fn the_last_returned_is_taken_first() {
    let mut pool: Pool<u32, ()> = Pool::new(Knobs::default());
    assert_eq!(pool.take(0, true, || ()), Take::Dial);
    assert_eq!(pool.take(0, true, || ()), Take::Dial);
    pool.put(1, 0, MS, false);
    pool.put(2, 0, 2 * MS, false);
    assert_eq!(
        pool.take(3 * MS, true, || ()),
        Take::Reuse {
            conn: 2,
            created_ns: 0
        }
    );
}

#[test]
fn the_cleaner_closes_idle_and_old_connections_at_its_cadence() {
    let knobs = Knobs {
        max_idle: 5,
        max_idle_time_ms: Some(3_000),
        ..Knobs::default()
    };
    let mut pool: Pool<u32, ()> = Pool::new(knobs);
    for _ in 0..2 {
        pool.take(0, true, || ());
    }
    pool.put(1, 0, 0, false);
    pool.put(2, 0, 2_000 * MS, false);
    let (closing, next) = pool.clean(3_500 * MS);
    assert_eq!(closing, [1]);
    // The other is due 3 s after its return.
    assert_eq!(next, Some(5_000 * MS));
    assert_eq!(pool.stats().max_idle_time_closed, 1);
    // Never sooner than once a second.
    let (_, next) = pool.clean(4_900 * MS);
    assert_eq!(next, Some(4_900 * MS + CLEANER_MIN_NS));
    // No limit set: no cleaner.
    let mut plain: Pool<u32, ()> = Pool::new(Knobs::default());
    assert_eq!(plain.clean(0), (Vec::new(), None));
}

#[test]
fn a_connection_past_its_lifetime_is_not_used_again() {
    let knobs = Knobs {
        max_lifetime_ms: Some(1_000),
        ..Knobs::default()
    };
    let mut pool: Pool<u32, ()> = Pool::new(knobs);
    pool.take(0, true, || ());
    pool.put(1, 0, 10 * MS, false);
    assert_eq!(pool.take(1_500 * MS, true, || ()), Take::Expired(1));
    assert_eq!(pool.take(1_500 * MS, true, || ()), Take::Dial);
    let s = pool.stats();
    assert_eq!((s.max_lifetime_closed, s.open_connections), (1, 1));
}

#[test]
fn a_broken_connection_is_closed_and_frees_its_slot() {
    let mut pool: Pool<u32, ()> = Pool::new(Knobs::default());
    pool.take(0, true, || ());
    assert_eq!(pool.put(1, 0, MS, true), Put::Close(1));
    assert_eq!(pool.stats().open_connections, 0);
    assert_eq!(pool.stats().max_idle_closed, 0);
}

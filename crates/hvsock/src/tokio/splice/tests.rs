//! The bridge's splice pump: bytes intact both ways between Unix and TCP ends, the
//! half-close, a destination that stops reading, a peer that resets, the idle clock,
//! the fallback to copying when no pipe can be made, and pipes given back.
//!
//! Each bridge runs on a current-thread runtime on the test's own thread, so the
//! counters below (thread-local) see only that test's bytes.

use std::cell::Cell;
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hvsock_testkit::payload;

use crate::tokio::{bridge, bridge_with_idle_timeout, Crossed};
use ends::{Ends, Kind};

mod ends;
mod files;

thread_local! {
    static SPLICED: Cell<u64> = const { Cell::new(0) };
    static COPIED: Cell<u64> = const { Cell::new(0) };
    static FALLBACKS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes spliced out of a pipe into a destination.
pub(super) fn spliced(n: usize) {
    SPLICED.with(|c| c.set(c.get() + n as u64));
}

/// Bytes copied through a buffer into a destination.
pub(in crate::tokio) fn copied(n: usize) {
    COPIED.with(|c| c.set(c.get() + n as u64));
}

/// A burst that found no pipe.
pub(super) fn fell_back() {
    FALLBACKS.with(|c| c.set(c.get() + 1));
}

/// (spliced, copied, fallbacks) on this thread so far.
fn counts() -> (u64, u64, u64) {
    (SPLICED.with(Cell::get), COPIED.with(Cell::get), FALLBACKS.with(Cell::get))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A connected pair of `a` and `b` ends, registered with `rt`'s reactor.
fn ends_on(rt: &tokio::runtime::Runtime, a: Kind, b: Kind) -> Ends {
    let _in = rt.enter();
    Ends::new(a, b)
}

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `future` on `rt`, giving up after `limit`.
fn within<F: std::future::Future>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    rt.block_on(async { tokio::time::timeout(limit, future).await })
}

/// The bridge's count, or a panic, once both ends are shut down (so that the peers'
/// threads end, and the test fails rather than hangs).
fn settled(ends: &Ends, result: Result<std::io::Result<Crossed>, tokio::time::error::Elapsed>) -> Crossed {
    match result {
        Ok(Ok(crossed)) => crossed,
        other => {
            let _ = ends.a.shutdown_now(Shutdown::Both);
            let _ = ends.b.shutdown_now(Shutdown::Both);
            panic!("the bridge failed: {other:?}");
        }
    }
}

/// Both peers send at once (sizes `x` there, `y` back), half-close, and read to the end;
/// returns what the bridge counted. Asserts every byte arrived in order.
fn exchange(ends: &Ends, rt: &tokio::runtime::Runtime, x: usize, y: usize) -> Crossed {
    let (there, back) = (payload(x as u64 + 1, x), payload(!(y as u64), y));
    thread::scope(|s| {
        let _unstick = ends.unstick_on_panic();
        let client_sends = s.spawn(|| ends.client.send_all(&there).unwrap());
        let server_sends = s.spawn(|| ends.server.send_all(&back).unwrap());
        let at_server = s.spawn(|| ends.server.read_all());
        let at_client = s.spawn(|| ends.client.read_all());
        let crossed = settled(ends, within(rt, LIMIT, bridge(&ends.a, &ends.b)));
        client_sends.join().unwrap();
        server_sends.join().unwrap();
        let (at_server, at_client) = (at_server.join().unwrap(), at_client.join().unwrap());
        assert!(at_server == there, "{x} bytes there: {} arrived, or differ", at_server.len());
        assert!(at_client == back, "{y} bytes back: {} arrived, or differ", at_client.len());
        crossed
    })
}

#[test]
fn bytes_cross_intact_both_ways_by_splice_between_unix_and_tcp() {
    let kinds =
        [(Kind::Unix, Kind::Unix), (Kind::Unix, Kind::Tcp), (Kind::Tcp, Kind::Unix), (Kind::Tcp, Kind::Tcp)];
    // Sizes off every page and pipe boundary, and several MiB.
    let sizes = [(0, (3 << 20) + 1), ((5 << 20) + 3, 1), ((2 << 20) + 4097, (4 << 20) + 11)];
    let rt = runtime();
    for (front, back) in kinds {
        for (x, y) in sizes {
            let before = counts();
            let ends = ends_on(&rt, front, back);
            let crossed = exchange(&ends, &rt, x, y);
            assert_eq!(crossed, Crossed { a_to_b: x as u64, b_to_a: y as u64 }, "{front:?} -> {back:?}");
            let after = counts();
            assert_eq!(after.0 - before.0, (x + y) as u64, "{front:?} -> {back:?}: all spliced");
            assert_eq!(after.1, before.1, "{front:?} -> {back:?}: nothing copied");
        }
    }
}

#[test]
fn a_half_close_crosses_each_way_and_the_answer_still_comes_back() {
    let rt = runtime();
    for (asker, answerer_is_client) in [("client", false), ("server", true)] {
        let ends = ends_on(&rt, Kind::Unix, Kind::Tcp);
        let (ask, answer) =
            if answerer_is_client { (&ends.server, &ends.client) } else { (&ends.client, &ends.server) };
        let (question, reply) = (payload(7, 100_000), payload(8, (3 << 20) + 5));
        thread::scope(|s| {
            let _unstick = ends.unstick_on_panic();
            let asking = s.spawn(|| {
                ask.send_all(&question).unwrap();
                ask.read_all()
            });
            // The answerer replies only once it has seen end-of-file.
            let answering = s.spawn(|| {
                let got = answer.read_all();
                answer.send_all(&reply).unwrap();
                got
            });
            let crossed = settled(&ends, within(&rt, LIMIT, bridge(&ends.a, &ends.b)));
            assert!(answering.join().unwrap() == question, "{asker}'s question arrived whole");
            assert!(asking.join().unwrap() == reply, "{asker} got the whole answer after its half-close");
            let (q, r) = (question.len() as u64, reply.len() as u64);
            let expected = if answerer_is_client {
                Crossed { a_to_b: r, b_to_a: q }
            } else {
                Crossed { a_to_b: q, b_to_a: r }
            };
            assert_eq!(crossed, expected);
        });
    }
}

/// CPU time of the calling thread (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `clock_gettime` writes one timespec.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) }, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_destination_that_stops_reading_stalls_the_bridge_without_spinning_then_all_arrives() {
    let rt = runtime();
    let ends = ends_on(&rt, Kind::Unix, Kind::Unix);
    let data = payload(3, 32 << 20);
    let written = AtomicUsize::new(0);
    let (resume, wait) = mpsc::channel::<()>();
    thread::scope(|s| {
        let _unstick = ends.unstick_on_panic();
        let client = s.spawn(|| {
            let mut to = &ends.client;
            for chunk in data.chunks(64 * 1024) {
                std::io::Write::write_all(&mut to, chunk).unwrap();
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            ends.client.shutdown(Shutdown::Write).unwrap();
        });
        let server_end = &ends.server;
        let server = s.spawn(move || {
            wait.recv().unwrap();
            let got = server_end.read_all();
            server_end.shutdown(Shutdown::Write).unwrap();
            got
        });
        let stalled = async {
            // Stalled: nothing more taken from the client for 300 ms.
            let mut seen = usize::MAX;
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let now = written.load(Ordering::SeqCst);
                if now == seen {
                    break now;
                }
                seen = now;
            }
        };
        let watch = async {
            let at_stall = stalled.await;
            let cpu = thread_cpu();
            tokio::time::sleep(Duration::from_secs(1)).await;
            let spent = thread_cpu() - cpu;
            let still = written.load(Ordering::SeqCst);
            resume.send(()).unwrap();
            (at_stall, still, spent)
        };
        let before = counts();
        let (crossed, (at_stall, still, spent)) =
            rt.block_on(async { tokio::join!(tokio::time::timeout(LIMIT, bridge(&ends.a, &ends.b)), watch) });
        // The bridge, on this thread, slept through the second of stall.
        assert!(spent < Duration::from_millis(100), "the stalled bridge used {spent:?} of CPU in 1 s");
        assert_eq!(still, at_stall, "nothing more taken while the destination did not read");
        assert!(at_stall < 8 << 20, "{at_stall} bytes taken in before the stall: buffered without bound");
        client.join().unwrap();
        assert!(server.join().unwrap() == data, "all 32 MiB arrived after the stall");
        assert_eq!(crossed.unwrap().unwrap(), Crossed { a_to_b: 32 << 20, b_to_a: 0 });
        assert_eq!(counts().0 - before.0, 32 << 20, "spliced");
    });
}

#[test]
fn a_peer_that_resets_midway_fails_the_bridge_at_once() {
    let rt = runtime();
    for back in [Kind::Tcp, Kind::Unix] {
        let Ends { client, a, b, server, _dir } = ends_on(&rt, Kind::Unix, back);
        let data = payload(4, 64 << 20);
        thread::scope(|s| {
            // The client sends on and on; the server reads 1 MiB and resets.
            s.spawn(|| {
                let _ = client.send_all(&data);
            });
            let server = s.spawn(move || {
                let mut got = vec![0u8; 1 << 20];
                std::io::Read::read_exact(&mut &server, &mut got).unwrap();
                server.reset_on_close();
                drop(server);
            });
            let started = Instant::now();
            let result = within(&rt, Duration::from_secs(10), bridge(&a, &b));
            let err = result.expect("the bridge hung after the reset").unwrap_err();
            assert!(
                matches!(err.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
                "{back:?}: {err}"
            );
            assert!(started.elapsed() < Duration::from_secs(10));
            server.join().unwrap();
            // The bridge's end closes: the client's sending fails and its thread ends.
            drop(a);
        });
    }
}

#[test]
fn the_idle_clock_sees_spliced_bytes_and_fires_on_silence() {
    let rt = runtime();
    let idle = Duration::from_millis(300);
    let ends = ends_on(&rt, Kind::Tcp, Kind::Unix);
    // Busy for 1.5 s, five times the limit: 4 KiB each way every 100 ms.
    let before = counts();
    thread::scope(|s| {
        s.spawn(|| {
            let (mut client, mut server) = (&ends.client, &ends.server);
            let mut chunk = vec![0u8; 4096];
            for i in 0..15u8 {
                chunk.fill(i);
                std::io::Write::write_all(&mut client, &chunk).unwrap();
                std::io::Read::read_exact(&mut server, &mut chunk).unwrap();
                std::io::Write::write_all(&mut server, &chunk).unwrap();
                std::io::Read::read_exact(&mut client, &mut chunk).unwrap();
                assert!(chunk.iter().all(|&b| b == i));
                thread::sleep(Duration::from_millis(100));
            }
            ends.client.shutdown(Shutdown::Write).unwrap();
            ends.server.shutdown(Shutdown::Write).unwrap();
        });
        let crossed = settled(&ends, Ok(rt.block_on(bridge_with_idle_timeout(&ends.a, &ends.b, idle))));
        assert_eq!(crossed, Crossed { a_to_b: 15 * 4096, b_to_a: 15 * 4096 });
    });
    let after = counts();
    assert_eq!((after.0 - before.0, after.1 - before.1), (2 * 15 * 4096, 0), "moved by splice only");

    // Silent: given up after the limit.
    let ends = ends_on(&rt, Kind::Tcp, Kind::Unix);
    let started = Instant::now();
    let err = rt.block_on(bridge_with_idle_timeout(&ends.a, &ends.b, idle)).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(2), "gave up after {took:?}");
}

#[test]
fn an_idle_bridge_is_small() {
    let rt = runtime();
    let _in = rt.enter();
    let ends = Ends::new(Kind::Unix, Kind::Unix);
    // Most of an idle relayed connection's memory is its task, which holds the bridge:
    // 424 and 440 bytes with Rust 1.95 on x86-64 (the two pumps, the idle clock, the timer).
    let sizes = [
        std::mem::size_of_val(&bridge(&ends.a, &ends.b)),
        std::mem::size_of_val(&bridge_with_idle_timeout(&ends.a, &ends.b, LIMIT)),
    ];
    assert!(sizes.iter().all(|&n| n <= 512), "the bridge's futures take {sizes:?} bytes");
}

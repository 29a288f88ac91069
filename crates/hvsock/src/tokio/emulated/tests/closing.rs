//! Dropping never waits, sends what was queued, and ends every thread: the hazards of
//! a close that hangs, or that closes a socket a thread is still blocked on.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::sockets::{driven, listening};
use super::{gone, payload, Async, SOON, TINY};
use crate::tokio::emulated::Config;

/// Long enough for a thread to be blocked in a call.
const BLOCKED: Duration = Duration::from_millis(100);

/// Drops `value`, asserting that it took no time worth mentioning.
fn drop_quickly<T>(value: T) {
    let start = Instant::now();
    drop(value);
    assert!(start.elapsed() < Duration::from_millis(200), "dropping took {:?}", start.elapsed());
}

/// Reads to end-of-file on a blocking thread, within [`SOON`].
async fn read_to_end(mut peer: crate::Stream) -> std::io::Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        peer.set_read_timeout(Some(SOON)).unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).map(|_| got)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_idle_connection_is_immediate_and_ends_both_threads() {
    let (conn, peer) = driven(Config::default());
    tokio::time::sleep(BLOCKED).await; // the reader thread is in `recv` by now
    let watch = conn.watch();
    drop_quickly(conn);
    assert!(read_to_end(peer).await.unwrap().is_empty(), "the peer sees end-of-file");
    gone(watch, "an idle connection").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_sends_what_was_queued_then_closes() {
    let (conn, peer) = driven(Config::default());
    let data = payload(3, (1 << 20) + 1);
    let reading = tokio::spawn(read_to_end(peer));
    Async(&conn).write_all(&data).await.unwrap();
    let watch = conn.watch();
    drop_quickly(conn); // without shutdown, with up to 256 KiB still queued
    assert!(reading.await.unwrap().unwrap() == data, "every byte, then end-of-file");
    gone(watch, "a connection dropped with data queued").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_reads_holds_a_dropped_connection_only_for_the_linger() {
    let config = Config { linger: Duration::from_millis(200), ..TINY };
    let (conn, peer) = driven(config);
    // Fill the socket and the queue: until writes have made no progress for 100 ms.
    let mut stuck = 0;
    while stuck < 10 {
        match conn.try_write(&[7u8; 1000]) {
            Ok(_) => stuck = 0,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stuck += 1;
                tokio::time::sleep(BLOCKED / 10).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let watch = conn.watch();
    drop_quickly(conn);
    gone(watch, "a connection whose peer never reads").await;
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_listener_ends_its_thread_and_frees_the_address() {
    let (listener, addr) = listening();
    tokio::time::sleep(BLOCKED).await; // the accept thread is in `accept` by now
    let watch = listener.watch();
    drop_quickly(listener);
    gone(watch, "a listener blocked in accept").await;
    crate::Listener::bind(&addr).expect("the address is free again");
}

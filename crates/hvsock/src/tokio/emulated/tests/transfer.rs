//! Bytes in order both ways, half-close, partial writes, readiness.

use std::io::{Read, Write};
use std::net::Shutdown;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sockets::{both_driven, driven};
use super::{payload, soon, Async, TINY};
use crate::tokio::emulated::Config;

/// Around a 4 KiB page, and more than the 256 KiB buffer and any socket buffer.
const SIZES: [usize; 6] = [0, 1, 4095, 4096, 4097, (1 << 20) + 1];

/// Sends `x` bytes from `a` to `b` and `y` bytes back at the same time, both ends driven;
/// each side shuts down for writing when done and reads to end-of-file.
async fn exchange(config: Config, x: usize, y: usize) {
    let (a, b) = both_driven(config);
    let (to_b, to_a) = (payload(x as u64, x), payload(!(y as u64), y));
    let send = |conn, data: &[u8]| {
        let data = data.to_vec();
        async move {
            let mut conn = Async(conn);
            conn.write_all(&data).await.unwrap();
            conn.shutdown().await.unwrap();
        }
    };
    let receive = |conn| async move {
        let mut got = Vec::new();
        Async(conn).read_to_end(&mut got).await.unwrap();
        got
    };
    let ((), (), at_b, at_a) =
        soon(async { tokio::join!(send(&a, &to_b), send(&b, &to_a), receive(&b), receive(&a)) }).await;
    assert!(at_b == to_b, "{x} bytes a to b (with {y} back): got {} bytes, or different ones", at_b.len());
    assert!(at_a == to_a, "{y} bytes b to a (with {x} there): got {} bytes, or different ones", at_a.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_size_both_ways_at_once_with_half_close() {
    for x in SIZES {
        for y in SIZES {
            exchange(Config::default(), x, y).await;
            exchange(TINY, x, y).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_direction_stays_open_after_a_half_close() {
    let (a, b) = both_driven(Config::default());
    Async(&a).write_all(b"request").await.unwrap();
    Async(&a).shutdown().await.unwrap();
    let mut request = Vec::new();
    Async(&b).read_to_end(&mut request).await.unwrap();
    assert_eq!(request, b"request");
    Async(&b).write_all(b"reply").await.unwrap();
    Async(&b).shutdown().await.unwrap();
    let mut reply = Vec::new();
    Async(&a).read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_larger_than_the_buffer_is_taken_in_part() {
    let (conn, mut peer) = driven(TINY);
    let data = payload(7, (1 << 20) + 1);
    let first = soon(Async(&conn).write(&data)).await.unwrap();
    assert_eq!(first, TINY.buffer, "one write queues at most the buffer");
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    soon(Async(&conn).write_all(&data[first..])).await.unwrap();
    soon(Async(&conn).shutdown()).await.unwrap();
    assert!(reader.join().unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_everything_queued_before_end_of_file() {
    let (conn, mut peer) = driven(Config::default());
    let data = payload(8, (1 << 20) + 1);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    soon(Async(&conn).write_all(&data)).await.unwrap();
    soon(Async(&conn).shutdown()).await.unwrap();
    assert!(reader.join().unwrap() == data, "every byte, then end-of-file");
    // Half-closed: later writes fail at once, and shutting down again is fine.
    assert_eq!(Async(&conn).write(b"x").await.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    Async(&conn).shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_now_writes_end_of_file_after_what_is_queued() {
    let (conn, mut peer) = driven(TINY);
    let data = payload(9, 100_000);
    let writing = async {
        Async(&conn).write_all(&data).await.unwrap();
        conn.shutdown_now(Shutdown::Write).unwrap();
        assert_eq!(conn.try_write(b"late").unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    };
    let reading = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });
    let ((), got) = tokio::join!(writing, reading);
    assert!(got.unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_then_try_calls() {
    let (conn, mut peer) = driven(TINY);
    let mut buf = [0u8; 64];
    assert_eq!(conn.try_read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    let readable = std::future::poll_fn(|cx| conn.poll_read_ready(cx));
    let ((), ()) = tokio::join!(async { readable.await.unwrap() }, async {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        peer.write_all(b"ready").unwrap();
    });
    let mut got = Vec::new();
    while got.len() < 5 {
        match conn.try_read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, b"ready");

    // Fill the queue (the peer does not read): `try_write` then says `WouldBlock`, and
    // `writable` waits until the peer reads.
    let mut queued = 0;
    loop {
        match conn.try_write(&[0u8; 1000]) {
            Ok(n) => queued += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(queued >= TINY.buffer);
    let writable = std::future::poll_fn(|cx| conn.poll_write_ready(cx));
    let drain = tokio::task::spawn_blocking(move || {
        let mut sink = vec![0u8; queued];
        peer.read_exact(&mut sink).unwrap();
        peer
    });
    writable.await.unwrap();
    assert!(conn.try_write(b"more").unwrap() > 0);
    drop(drain.await.unwrap());
}

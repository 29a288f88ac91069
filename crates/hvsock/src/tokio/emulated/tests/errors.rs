//! Errors reach the caller, in order, and never as a hang.

use std::io::{ErrorKind, Write};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sockets::driven;
use super::{payload, soon, Async, TINY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_is_reported_to_every_later_write_flush_and_shutdown() {
    let (conn, peer) = driven(TINY);
    drop(peer);
    let data = payload(4, 1 << 20);
    let first = soon(Async(&conn).write_all(&data)).await.unwrap_err();
    let kind = first.kind();
    assert!(
        matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted),
        "{first}"
    );
    assert_eq!(Async(&conn).write(b"x").await.unwrap_err().kind(), kind);
    assert_eq!(Async(&conn).flush().await.unwrap_err().kind(), kind);
    assert_eq!(Async(&conn).shutdown().await.unwrap_err().kind(), kind);
    assert_eq!(conn.try_write(b"x").unwrap_err().kind(), kind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_end_of_file_return_zero() {
    let (conn, mut peer) = driven(TINY);
    peer.write_all(b"abc").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    Async(&conn).read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abc");
    let mut buf = [0u8; 8];
    assert_eq!(Async(&conn).read(&mut buf).await.unwrap(), 0);
    assert_eq!(Async(&conn).read(&mut buf).await.unwrap(), 0);
    assert_eq!(conn.try_read(&mut buf).unwrap(), 0);
}

/// A Unix socket closed with unread data makes the other end's `recv` fail with
/// `ECONNRESET` after the data queued before; Windows may drop that data on a reset.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_before_a_read_error_comes_first_then_the_error_then_end_of_file() {
    let (conn, mut peer) = driven(TINY);
    Async(&conn).write_all(b"unread").await.unwrap();
    soon(Async(&conn).flush()).await.unwrap();
    peer.write_all(b"hello").unwrap();
    drop(peer); // with "unread" still in its receive queue
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    let err = loop {
        match soon(Async(&conn).read(&mut buf)).await {
            Ok(0) => panic!("end-of-file instead of the reset, after {got:?}"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, b"hello");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(Async(&conn).read(&mut buf).await.unwrap(), 0);
}

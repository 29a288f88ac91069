//! A dropped read or accept loses nothing; a stopped machinery gives its socket back.

use std::io::{Read, Write};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sockets::{driven, listening, unwrap, unwrap_listener};
use super::{Async, TINY};

const BRIEF: Duration = Duration::from_millis(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_read_loses_nothing() {
    let (conn, mut peer) = driven(TINY);
    let mut buf = [0u8; 16];
    for round in 0..20u8 {
        assert!(tokio::time::timeout(BRIEF, Async(&conn).read(&mut buf)).await.is_err());
        peer.write_all(&[round; 3]).unwrap();
        let mut got = [0u8; 3];
        Async(&conn).read_exact(&mut got).await.unwrap();
        assert_eq!(got, [round; 3]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_accept_loses_no_connection() {
    let (listener, addr) = listening();
    for round in 0..10u8 {
        let pending = std::future::poll_fn(|cx| listener.poll_accept(cx));
        assert!(tokio::time::timeout(BRIEF, pending).await.is_err());
        let mut client = crate::Stream::connect(&addr).unwrap();
        client.write_all(&[round]).unwrap();
        let (mut accepted, _) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await.unwrap();
        let mut got = [0u8; 1];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(got, [round]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_inner_gives_the_socket_back_with_nothing_lost() {
    let (conn, mut peer) = driven(TINY);
    Async(&conn).write_all(b"async").await.unwrap();
    Async(&conn).flush().await.unwrap();
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    let mut stream = unwrap(conn.into_inner().unwrap());
    // The reader thread has stopped: what the peer sends now reaches the blocking stream.
    peer.write_all(b"blocking").unwrap();
    let mut got = [0u8; 8];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"blocking");
    stream.write_all(b"back").unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_inner_refuses_to_lose_bytes_read_ahead() {
    let (conn, mut peer) = driven(TINY);
    peer.write_all(b"ahead").unwrap();
    std::future::poll_fn(|cx| conn.poll_read_ready(cx)).await.unwrap();
    let err = conn.into_inner().unwrap_err();
    assert!(err.to_string().contains("5 bytes were read ahead"), "{err}");
    let mut rest = Vec::new();
    peer.set_read_timeout(Some(super::SOON)).unwrap();
    assert_eq!(peer.read_to_end(&mut rest).map_err(|e| e.kind()), Ok(0), "the connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_into_inner_accepts_again_blocking() {
    let (listener, addr) = listening();
    let pending = std::future::poll_fn(|cx| listener.poll_accept(cx));
    assert!(tokio::time::timeout(BRIEF, pending).await.is_err());
    let blocking = unwrap_listener(listener.into_inner().unwrap());
    let client = std::thread::spawn(move || crate::Stream::connect(&addr).unwrap().write_all(b"k").unwrap());
    let (mut accepted, _) = blocking.accept().unwrap();
    let mut got = [0u8; 1];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"k");
    client.join().unwrap();
}

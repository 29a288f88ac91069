//! The framed protocol end to end over Unix sockets: async against blocking (the same
//! bytes both ways), the plain-socket translator, and a killed sender told apart from a
//! finished one.
#![cfg(unix)]

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use hvsock::framed::{FrameError, Framed};
use hvsock_testkit::payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A connected pair of `hvsock::Stream`s over a Unix socket in a temporary directory.
fn stream_pair() -> (hvsock::Stream, hvsock::Stream, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let addr: hvsock::Addr = format!("unix://{}/s", dir.path().display()).parse().unwrap();
    let listener = hvsock::Listener::bind(&addr).unwrap();
    let client = hvsock::Stream::connect(&addr).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server, dir)
}

fn frame_error(err: &io::Error) -> Option<FrameError> {
    err.get_ref().and_then(|e| e.downcast_ref::<FrameError>()).cloned()
}

#[test]
fn async_client_blocking_server_request_reply() {
    let (client, server, _dir) = stream_pair();
    let request = payload(1, 3 << 20);
    let expected = request.clone();
    let server = thread::spawn(move || {
        let mut framed = Framed::new(server);
        let mut got = Vec::new();
        framed.read_to_end(&mut got).unwrap();
        assert!(got == expected, "the request arrived whole");
        framed.write_all(&payload(2, 100_000)).unwrap();
        framed.shutdown(Shutdown::Write).unwrap();
        framed.close()
    });
    runtime().block_on(async move {
        let client = hvsock::tokio::Stream::from_std(client).unwrap();
        let mut framed = hvsock::tokio::Framed::new(client);
        framed.write_all(&request).await.unwrap();
        framed.shutdown().await.unwrap();
        let mut reply = Vec::new();
        framed.read_to_end(&mut reply).await.unwrap();
        assert!(reply == payload(2, 100_000), "the reply arrived whole after the half-close");
        framed.close().await.unwrap();
    });
    server.join().unwrap().unwrap();
}

#[test]
fn async_reader_reports_a_sender_that_went_away() {
    let (a, b) = UnixStream::pair().unwrap();
    let (mut sender, _) = (Framed::new(a), ());
    sender.write_all(b"partial").unwrap();
    drop(sender); // no ShutdownWrite, no Close: as if killed
    runtime().block_on(async move {
        b.set_nonblocking(true).unwrap();
        let mut framed = hvsock::tokio::Framed::new(tokio::net::UnixStream::from_std(b).unwrap());
        let mut got = Vec::new();
        let err = framed.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got, b"partial");
        assert_eq!(frame_error(&err), Some(FrameError::Unfinished), "{err}");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn async_close_never_acknowledged_is_bounded() {
    let (a, _silent) = UnixStream::pair().unwrap();
    runtime().block_on(async move {
        a.set_nonblocking(true).unwrap();
        let mut framed = hvsock::tokio::Framed::new(tokio::net::UnixStream::from_std(a).unwrap())
            .with_close_timeout(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = framed.close().await.unwrap_err();
        assert_eq!(frame_error(&err), Some(FrameError::CloseNotAcknowledged(Duration::from_millis(200))));
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn async_header_over_the_bound_is_an_error() {
    let (a, mut raw) = UnixStream::pair().unwrap();
    raw.write_all(&[0x00, 0x00, 0x00, 0x80]).unwrap();
    runtime().block_on(async move {
        a.set_nonblocking(true).unwrap();
        let mut framed = hvsock::tokio::Framed::new(tokio::net::UnixStream::from_std(a).unwrap());
        let err = framed.read(&mut [0; 64]).await.unwrap_err();
        assert_eq!(frame_error(&err), Some(FrameError::UnknownHeader(0x8000_0000)));
    });
}

#[test]
fn translator_carries_half_close_both_ways() {
    let (client, server, _dir) = stream_pair();
    let peer = thread::spawn(move || {
        let mut framed = Framed::new(server);
        let mut got = Vec::new();
        framed.read_to_end(&mut got).unwrap();
        framed.write_all(&got).unwrap(); // echo, after end of input
        framed.shutdown(Shutdown::Write).unwrap();
        framed.close()
    });
    let (mut plain, translator) = Framed::new(client).into_plain().unwrap();
    let request = payload(3, 1 << 20);
    plain.write_all(&request).unwrap();
    plain.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    plain.read_to_end(&mut reply).unwrap();
    assert!(reply == request, "echoed whole");
    drop(plain);
    translator.finish().unwrap();
    peer.join().unwrap().unwrap();
}

#[test]
fn translator_reports_a_peer_that_went_away_without_finishing() {
    let (client, server, _dir) = stream_pair();
    let (mut plain, translator) = Framed::new(client).into_plain().unwrap();
    let mut framed = Framed::new(server);
    framed.write_all(b"half of it").unwrap();
    drop(framed); // killed: no ShutdownWrite
    let mut got = Vec::new();
    plain.read_to_end(&mut got).unwrap(); // the plain side just ends...
    assert_eq!(got, b"half of it");
    drop(plain);
    let err = translator.finish().unwrap_err(); // ...and the translator says why
    assert_eq!(frame_error(&err), Some(FrameError::Unfinished), "{err}");
}

#[test]
fn translator_passes_the_peer_close_on() {
    let (client, server, _dir) = stream_pair();
    let (mut plain, translator) = Framed::new(client).into_plain().unwrap();
    let closer = thread::spawn(move || Framed::new(server).close());
    let mut got = Vec::new();
    plain.read_to_end(&mut got).unwrap();
    assert!(got.is_empty());
    let err = plain.write_all(&[1; 1 << 16]).unwrap_err(); // the peer has gone: EPIPE
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    drop(plain);
    translator.finish().unwrap();
    closer.join().unwrap().unwrap();
}

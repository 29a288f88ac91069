//! The async API over the Unix-socket transports: transfers with half-close, the hybrid
//! handshake on the reactor, and cancellation that leaves nothing behind.
#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hvsock::tokio::{Listener, Stream};
use hvsock::{Addr, ConnectOptions};
use hvsock_testkit::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Sends `x` bytes one way and `y` the other at once over two async streams, each side
/// half-closing when done; checks every byte.
async fn exchange_async(a: Stream, b: Stream, x: usize, y: usize) {
    let (sent_ab, sent_ba) = (payload(x as u64, x), payload(!(y as u64), y));
    let (mut a_read, mut a_write) = a.into_split();
    let (mut b_read, mut b_write) = b.into_split();
    let (ab, ba) = (sent_ab.clone(), sent_ba.clone());
    let wa = tokio::spawn(async move {
        a_write.write_all(&ab).await.unwrap();
        a_write.shutdown().await.unwrap();
        a_write
    });
    let wb = tokio::spawn(async move {
        b_write.write_all(&ba).await.unwrap();
        b_write.shutdown().await.unwrap();
        b_write
    });
    let rb = tokio::spawn(async move {
        let mut got = Vec::new();
        b_read.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut got_ba = Vec::new();
    a_read.read_to_end(&mut got_ba).await.unwrap();
    let got_ab = rb.await.unwrap();
    let (_wa, _wb) = (wa.await.unwrap(), wb.await.unwrap());
    assert!(got_ab == sent_ab, "a -> b: {} of {x} bytes", got_ab.len());
    assert!(got_ba == sent_ba, "b -> a: {} of {y} bytes", got_ba.len());
}

#[test]
fn seed_matrix_over_async_unix_sockets() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let addr = Addr::Unix(dir.path().join("s"));
        let listener = Listener::bind(&addr).unwrap();
        for x in SEED_SIZES {
            for y in SEED_SIZES {
                let (client, accepted) = tokio::join!(Stream::connect(&addr), listener.accept());
                exchange_async(client.unwrap(), accepted.unwrap().0, x, y).await;
            }
        }
    });
}

#[test]
fn hybrid_handshake_and_transfer_on_the_reactor() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let rt = runtime();
    for x in FEW_SIZES {
        for y in FEW_SIZES {
            let client = rt.spawn({
                let addr = device.uri(80);
                async move { Stream::connect(&addr).await.unwrap().into_std().unwrap() }
            });
            let conn = device.accept_ok(80);
            exchange(rt.block_on(client).unwrap(), conn, x, y);
        }
    }
}

#[test]
fn hybrid_sends_nothing_before_ok_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let rt = runtime();

    let client = rt.spawn({
        let addr = device.uri(5);
        async move {
            let mut stream = Stream::connect(&addr).await?;
            stream.write_all(b"after ok").await?;
            Ok::<_, std::io::Error>(stream)
        }
    });
    let (mut conn, line) = device.accept_request();
    assert_eq!(line, "CONNECT 5\n");
    assert_silent(&conn, Duration::from_millis(300));
    conn.write_all(b"OK 5\n").unwrap();
    let mut got = [0u8; 8];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"after ok");
    rt.block_on(client).unwrap().unwrap();

    let refused = rt.spawn({
        let addr = device.uri(6);
        async move { Stream::connect(&addr).await }
    });
    drop(device.accept_request());
    let err = rt.block_on(refused).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains("no listener on guest port 6"), "{err}");

    let slow = rt.spawn({
        let addr = device.uri(7);
        let options = ConnectOptions::new().handshake_timeout(Duration::from_millis(200));
        async move { Stream::connect_with(&addr, &options).await }
    });
    let (mut held, _) = device.accept_request();
    held.write_all(b"OK").unwrap();
    let err = rt.block_on(slow).unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("no reply to CONNECT 7 in time (got \"OK\" so far)"), "{err}");
}

#[test]
fn hyperkit_header_goes_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = std::os::unix::net::UnixListener::bind(dir.path().join("connect")).unwrap();
    let addr: Addr = format!("hyperkit://:80{}", dir.path().display()).parse().unwrap();
    let rt = runtime();
    let client = rt.spawn(async move { Stream::connect(&addr).await.unwrap() });
    let (mut conn, _) = hyperkit.accept().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"00000003.00000050\n");
    rt.block_on(client).unwrap();
}

#[test]
fn blocking_and_async_convert_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = hvsock::Listener::bind(&Addr::Unix(path.clone())).unwrap();
    let rt = runtime();
    rt.block_on(async {
        let listener = Listener::from_std(listener).unwrap();
        let peer = tokio::task::spawn_blocking(move || {
            let conn = UnixStream::connect(&path).unwrap();
            (&conn).write_all(b"sync to async").unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
            read_all(conn)
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = stream.into_std().unwrap();
        let mut got = String::new();
        stream.read_to_string(&mut got).unwrap();
        assert_eq!(got, "sync to async");
        let mut stream = Stream::from_std(stream).unwrap();
        stream.write_all(b"and back").await.unwrap();
        drop(stream);
        assert_eq!(peer.await.unwrap(), b"and back");
    });
}

/// A listener whose backlog is full: the async connect gives up after the default
/// timeout, on every Unix-socket transport, instead of trying again forever.
#[test]
fn async_connects_to_a_jammed_listener_give_up_after_the_default_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_unix, _held) = jammed_listener(&dir.path().join("s"));
    let hyperkit_dir = dir.path().join("hk");
    std::fs::create_dir(&hyperkit_dir).unwrap();
    let (_hyperkit, _held_hk) = jammed_listener(&hyperkit_dir.join("connect"));
    let (_device, _held_dev) = jammed_listener(&dir.path().join("vm.vsock"));
    let addrs: Vec<Addr> = vec![
        Addr::Unix(dir.path().join("s")),
        format!("hyperkit://:80{}", hyperkit_dir.display()).parse().unwrap(),
        format!("hybrid://:52{}", dir.path().join("vm.vsock").display()).parse().unwrap(),
    ];
    let default = ConnectOptions::DEFAULT_TIMEOUT;
    runtime().block_on(async {
        let (a, b, c) = tokio::join!(
            attempt(&addrs[0], ConnectOptions::new()),
            attempt(&addrs[1], ConnectOptions::new()),
            attempt(&addrs[2], ConnectOptions::new())
        );
        for (addr, (err, took)) in addrs.iter().zip([a, b, c]) {
            assert_timed_out_after(&err, addr, took, default);
        }
        let (err, took) = attempt(&addrs[0], ConnectOptions::new().timeout(Duration::from_millis(300))).await;
        assert_timed_out_after(&err, &addrs[0], took, Duration::from_millis(300));
    });
}

/// A connect that must fail: its error and how long it took. Panics if it is still
/// connecting after twice the default timeout, so that a connect without a time limit
/// fails the test instead of hanging it.
async fn attempt(addr: &Addr, options: ConnectOptions) -> (std::io::Error, Duration) {
    let started = std::time::Instant::now();
    let limit = ConnectOptions::DEFAULT_TIMEOUT * 2;
    match tokio::time::timeout(limit, Stream::connect_with(addr, &options)).await {
        Ok(result) => (result.unwrap_err(), started.elapsed()),
        Err(_) => panic!("{addr}: still connecting after {limit:?}"),
    }
}

/// `Duration::MAX` is "no time limit" for the async connect and the hybrid handshake,
/// never an overflow of `Instant + Duration`.
#[test]
fn async_duration_max_timeouts_mean_no_deadline() {
    let rt = runtime();
    for options in [
        ConnectOptions::new().timeout(Duration::MAX),
        ConnectOptions::new().handshake_timeout(Duration::MAX),
        ConnectOptions::new().timeout(Duration::MAX).handshake_timeout(Duration::MAX),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let device = FakeDevice::new(dir.path());
        let addr = device.uri(12);
        let server = std::thread::spawn(move || read_all(device.accept_ok(12)));
        rt.block_on(async {
            let mut stream = Stream::connect_with(&addr, &options).await.unwrap();
            stream.write_all(b"no deadline").await.unwrap();
        });
        assert_eq!(server.join().unwrap(), b"no deadline", "{options:?}");

        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        rt.block_on(Stream::connect_with(&Addr::Unix(path), &options)).unwrap();
        drop(listener.accept().unwrap());
    }
}

/// `closed` waits for a full close, reading nothing: data that arrived while it watched
/// is still read afterwards, a half-close does not end it, a close does.
#[tokio::test]
async fn closed_completes_on_a_full_close_only_and_takes_nothing_from_reads() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener =
        hvsock::tokio::Listener::bind(&format!("unix://{}", path.display()).parse().unwrap()).unwrap();
    let peer = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (mut conn, _) = listener.accept().await.unwrap();
    std::io::Write::write_all(&mut &peer, b"data").unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), conn.closed()).await.is_err(),
        "data is no close"
    );
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(2), conn.read_exact(&mut buf))
        .await
        .expect("the read lost its wake-up")
        .unwrap();
    assert_eq!(&buf, b"data");
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), conn.closed()).await.is_err(),
        "a half-close is no close"
    );
    let peer2 = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (conn2, _) = listener.accept().await.unwrap();
    let watching = tokio::spawn(async move { conn2.closed().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(peer2);
    tokio::time::timeout(Duration::from_secs(2), watching).await.expect("a close ends it").unwrap().unwrap();
}

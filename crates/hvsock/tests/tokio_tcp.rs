//! The async API over TCP loopback, the one transport every platform has: the same
//! tests drive the readiness-based types on Unix and the thread-driven ones on Windows
//! (where they run under Wine too).

use std::io::{Read, Write};
use std::time::Duration;

use hvsock::tokio::{bridge, bridge_with_idle_timeout, Crossed, Listener, Stream};
use hvsock::Addr;
use hvsock_testkit::payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every transfer here is over long before this.
const LIMIT: Duration = Duration::from_secs(30);

fn loopback() -> Addr {
    "tcp://127.0.0.1:0".parse().unwrap()
}

/// Writes `data`, half-closes, and reads to end-of-file.
async fn talk(stream: Stream, data: &[u8]) -> Vec<u8> {
    let (mut read, mut write) = stream.into_split();
    let sending = async {
        write.write_all(data).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let mut got = Vec::new();
    let ((), _) = tokio::join!(sending, read.read_to_end(&mut got));
    got
}

/// A client talks through a bridge to a server; both send, half-close, and read what
/// the other sent, sizes `x` there and `y` back.
async fn through_a_bridge(x: usize, y: usize) {
    let front = Listener::bind(&loopback()).unwrap();
    let back = Listener::bind(&loopback()).unwrap();
    let (front_addr, back_addr) = (front.local_addr().clone(), back.local_addr().clone());
    let relay = tokio::spawn(async move {
        let (client, _) = front.accept().await.unwrap();
        let upstream = Stream::connect(&back_addr).await.unwrap();
        bridge(&client, &upstream).await.unwrap()
    });
    let (to_server, to_client) = (payload(1, x), payload(2, y));
    let server = async {
        let (stream, _) = back.accept().await.unwrap();
        talk(stream, &to_client).await
    };
    let client = async { talk(Stream::connect(&front_addr).await.unwrap(), &to_server).await };
    let (at_server, at_client) =
        tokio::time::timeout(LIMIT, async { tokio::join!(server, client) }).await.unwrap();
    assert!(at_server == to_server, "{x} bytes there: got {}", at_server.len());
    assert!(at_client == to_client, "{y} bytes back: got {}", at_client.len());
    assert_eq!(relay.await.unwrap(), Crossed { a_to_b: x as u64, b_to_a: y as u64 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridge_carries_both_ways_and_the_half_close() {
    let sizes = [0, 1, 4097, (1 << 20) + 1];
    for x in sizes {
        for y in sizes {
            through_a_bridge(x, y).await;
        }
    }
}

/// A bridge between a client and a server connection on loopback, with an idle limit.
async fn idle_bridge(idle: Duration) -> (Stream, Stream, tokio::task::JoinHandle<std::io::Result<Crossed>>) {
    let front = Listener::bind(&loopback()).unwrap();
    let back = Listener::bind(&loopback()).unwrap();
    let client = Stream::connect(front.local_addr()).await.unwrap();
    let upstream = Stream::connect(back.local_addr()).await.unwrap();
    let (accepted, _) = front.accept().await.unwrap();
    let (server, _) = back.accept().await.unwrap();
    let relay = tokio::spawn(async move { bridge_with_idle_timeout(&accepted, &upstream, idle).await });
    (client, server, relay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_bridge_gives_up_after_its_limit_and_a_busy_one_does_not() {
    let idle = Duration::from_millis(400);
    // Busy: a byte each way every 100 ms for 1.2 s, three times the limit.
    let (mut client, mut server, relay) = idle_bridge(idle).await;
    let mut byte = [0u8; 1];
    for _ in 0..12 {
        client.write_all(b"x").await.unwrap();
        server.read_exact(&mut byte).await.unwrap();
        server.write_all(b"y").await.unwrap();
        client.read_exact(&mut byte).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
    let crossed = tokio::time::timeout(LIMIT, relay).await.unwrap().unwrap().unwrap();
    assert_eq!(crossed, Crossed { a_to_b: 12, b_to_a: 12 });

    // Idle: after one byte, nothing.
    let (mut client, mut server, relay) = idle_bridge(idle).await;
    client.write_all(b"x").await.unwrap();
    server.read_exact(&mut byte).await.unwrap();
    let quiet = std::time::Instant::now();
    let err = tokio::time::timeout(LIMIT, relay).await.unwrap().unwrap().unwrap_err();
    let took = quiet.elapsed();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("nothing crossed either way for 0.4 s"), "{err}");
    assert!(
        took >= Duration::from_millis(360) && took <= Duration::from_millis(440),
        "gave up after {took:?}"
    );
    // The bridge dropped its ends: both peers see end-of-file.
    let mut rest = Vec::new();
    assert_eq!(server.read_to_end(&mut rest).await.unwrap(), 0);
    assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_and_async_convert_both_ways() {
    let listener = hvsock::Listener::bind(&loopback()).unwrap();
    let addr = listener.local_addr().clone();
    let listener = Listener::from_std(listener).unwrap();
    let (go, wait) = std::sync::mpsc::channel();
    let peer = tokio::task::spawn_blocking(move || {
        let mut conn = hvsock::Stream::connect(&addr).unwrap();
        wait.recv().unwrap();
        conn.write_all(b"sync to async").unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got
    });
    let (stream, _) = listener.accept().await.unwrap();
    // Nothing has come yet: on Windows, bytes read ahead would make `into_std` fail.
    let mut stream = Stream::from_std(stream.into_std().unwrap()).unwrap();
    go.send(()).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"sync to async");
    stream.write_all(b"and back").await.unwrap();
    stream.flush().await.unwrap();
    let mut stream = stream.into_std().unwrap();
    stream.write_all(b", blocking").unwrap();
    drop(stream);
    assert_eq!(peer.await.unwrap(), b"and back, blocking");
    // The blocking listener again, still listening.
    let listener = listener.into_std().unwrap();
    let addr = listener.local_addr().clone();
    let client = std::thread::spawn(move || hvsock::Stream::connect(&addr).unwrap());
    listener.accept().unwrap();
    client.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_owned_write_half_ends_what_the_peer_reads() {
    let listener = Listener::bind(&loopback()).unwrap();
    let (client, accepted) = tokio::join!(Stream::connect(listener.local_addr()), listener.accept());
    let (mut server, _) = accepted.unwrap();
    let (mut read, mut write) = client.unwrap().into_split();
    let data = payload(3, 300_000);
    write.write_all(&data).await.unwrap();
    drop(write);
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, server.read_to_end(&mut got)).await.unwrap().unwrap();
    assert!(got == data, "everything written, then end-of-file");
    server.write_all(b"still open").await.unwrap();
    drop(server);
    let mut reply = Vec::new();
    read.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"still open");
}

#[tokio::test]
async fn nodelay_is_set_on_tcp_connections() {
    let listener = Listener::bind(&loopback()).unwrap();
    let client = Stream::connect(listener.local_addr()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    for stream in [&client, &server] {
        let socket = socket2::SockRef::from(stream);
        assert!(!socket.tcp_nodelay().unwrap(), "Nagle's algorithm is on until asked");
        stream.set_nodelay(true).unwrap();
        assert!(socket.tcp_nodelay().unwrap());
        stream.set_nodelay(false).unwrap();
        assert!(!socket.tcp_nodelay().unwrap());
    }
    let blocking = client.into_std().unwrap();
    blocking.set_nodelay(true).unwrap();
    assert!(blocking.as_socket().tcp_nodelay().unwrap());
}

#[cfg(unix)]
#[tokio::test]
async fn nodelay_is_a_no_op_on_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let unix: Addr = format!("unix://{}", dir.path().join("s").display()).parse().unwrap();
    let listener = Listener::bind(&unix).unwrap();
    let client = Stream::connect(&unix).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
}

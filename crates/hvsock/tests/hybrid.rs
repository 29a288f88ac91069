//! The hybrid-vsock client and listener against a fake device over Unix sockets.

#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use hvsock::{Addr, ConnectOptions, Listener, Stream};
use hvsock_testkit::*;

fn connect_in_background(addr: Addr, options: ConnectOptions) -> thread::JoinHandle<std::io::Result<Stream>> {
    thread::spawn(move || Stream::connect_with(&addr, &options))
}

#[test]
fn sends_exact_request_and_nothing_before_ok() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let client = thread::spawn({
        let addr = device.uri(52);
        move || {
            let mut stream = Stream::connect(&addr).unwrap();
            stream.write_all(b"payload").unwrap();
            stream
        }
    });
    let (mut conn, line) = device.accept_request();
    assert_eq!(line, "CONNECT 52\n");
    assert_silent(&conn, Duration::from_millis(300));
    conn.write_all(b"OK 1073741824\n").unwrap();
    let mut got = [0u8; 7];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"payload");
    drop(client.join().unwrap());
}

#[test]
fn data_right_after_ok_is_not_swallowed() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let client = connect_in_background(device.uri(5001), ConnectOptions::new());
    let (mut conn, _) = device.accept_request();
    conn.write_all(b"OK 5001\nhello").unwrap();
    drop(conn);
    let got = read_all(client.join().unwrap().unwrap());
    assert_eq!(got, b"hello");
}

#[test]
fn close_without_reply_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let client = connect_in_background(device.uri(7), ConnectOptions::new());
    drop(device.accept_request());
    let err = client.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let text = err.to_string();
    assert!(text.contains("no listener on guest port 7, or the VM is not running"), "{text}");
    assert!(text.contains(&device.uri(7).to_string()), "names the address: {text}");
}

#[test]
fn slow_ok_within_the_deadline_connects() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let options = ConnectOptions::new().handshake_timeout(Duration::from_secs(3));
    let client = connect_in_background(device.uri(9), options);
    let (mut conn, _) = device.accept_request();
    thread::sleep(Duration::from_millis(400));
    conn.write_all(b"OK 9\n").unwrap();
    let stream = client.join().unwrap().unwrap();
    exchange(stream, conn, 1000, 2000);
}

#[test]
fn no_reply_in_time_is_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let started = Instant::now();
    let client = connect_in_background(
        device.uri(9),
        ConnectOptions::new().handshake_timeout(Duration::from_millis(300)),
    );
    let (mut conn, _) = device.accept_request();
    conn.write_all(b"OK").unwrap();
    let err = client.join().unwrap().unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("no reply to CONNECT 9 in time (got \"OK\" so far)"), "{err}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");
}

#[test]
fn connect_timeout_bounds_the_handshake_too() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let started = Instant::now();
    let client =
        connect_in_background(device.uri(9), ConnectOptions::new().timeout(Duration::from_millis(250)));
    let _held = device.accept_request();
    let err = client.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn garbage_truncated_and_overlong_replies_are_protocol_errors() {
    let cases: [(&[u8], ErrorKind, &str); 4] = [
        (b"NO SUCH PORT\n", ErrorKind::InvalidData, "unexpected reply \"NO SUCH PORT\""),
        (b"OK 12abc\n", ErrorKind::InvalidData, "unexpected reply"),
        (&[b'x'; 40], ErrorKind::InvalidData, "longer than 32 bytes"),
        (b"OK 1", ErrorKind::UnexpectedEof, "in the middle of its reply \"OK 1\""),
    ];
    for (reply, kind, text) in cases {
        let dir = tempfile::tempdir().unwrap();
        let device = FakeDevice::new(dir.path());
        let client = connect_in_background(device.uri(3), ConnectOptions::new());
        let (mut conn, _) = device.accept_request();
        conn.write_all(reply).unwrap();
        drop(conn);
        let err = client.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(text), "{err}");
    }
}

#[test]
fn missing_device_socket_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let addr: Addr = format!("hybrid://:1{}/nothing.sock", dir.path().display()).parse().unwrap();
    let err = Stream::connect(&addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("no socket at"), "{err}");
}

#[test]
fn retry_waits_for_the_device_to_appear() {
    let dir = tempfile::tempdir().unwrap();
    let uds = dir.path().join("late.sock");
    let addr: Addr = format!("hybrid://:4{}", uds.display()).parse().unwrap();
    let client = connect_in_background(addr, ConnectOptions::new().retry(hvsock::Retry::Times(20)));
    thread::sleep(Duration::from_millis(300));
    let listener = std::os::unix::net::UnixListener::bind(&uds).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut request = [0u8; 10];
    conn.read_exact(&mut request).unwrap();
    assert_eq!(&request, b"CONNECT 4\n");
    conn.write_all(b"OK 4\n").unwrap();
    client.join().unwrap().unwrap();
}

#[test]
fn listener_binds_uds_underscore_port_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let listener = Listener::bind(&device.uri(52)).unwrap();
    let path = dir.path().join("vm.vsock_52");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(listener.local_addr(), &device.uri(52));
    let guest = UnixStream::connect(&path).unwrap();
    let (stream, peer) = listener.accept().unwrap();
    assert_eq!(peer, Addr::Unnamed);
    exchange(stream, guest, 70_000, 3);
    drop(listener);
    assert!(!path.exists(), "the listener removes its socket file");
}

#[test]
fn transfer_matrix_both_directions_with_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    for x in FEW_SIZES {
        for y in FEW_SIZES {
            let client = connect_in_background(device.uri(80), ConnectOptions::new());
            let conn = device.accept_ok(80);
            exchange(client.join().unwrap().unwrap(), conn, x, y);
        }
    }
}

/// `Duration::MAX` is "no time limit" for the connect and for the handshake, never an
/// overflow of `Instant + Duration`.
#[test]
fn duration_max_timeouts_mean_no_deadline() {
    let options = [
        ConnectOptions::new().timeout(Duration::MAX),
        ConnectOptions::new().handshake_timeout(Duration::MAX),
        ConnectOptions::new().timeout(Duration::MAX).handshake_timeout(Duration::MAX),
    ];
    for options in options {
        let dir = tempfile::tempdir().unwrap();
        let device = FakeDevice::new(dir.path());
        let addr = device.uri(11);
        // The device on a thread of its own: a client that panics before it connects
        // must fail the test, not leave it waiting in accept.
        let server = thread::spawn(move || read_all(device.accept_ok(11)));
        let mut stream = Stream::connect_with(&addr, &options).unwrap();
        stream.write_all(b"no deadline").unwrap();
        drop(stream);
        assert_eq!(server.join().unwrap(), b"no deadline", "{options:?}");
    }
}

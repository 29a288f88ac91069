//! The hyperkit client and listener against a fake hyperkit over Unix sockets.

#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;
use std::time::Duration;

use hvsock::{Addr, Listener, Stream};
use hvsock_testkit::*;

fn uri(dir: &Path, authority: &str) -> Addr {
    format!("hyperkit://{authority}{}", dir.display()).parse().unwrap()
}

/// Accepts on `<dir>/connect` and reads the header with ONE read, as hyperkit does.
fn accept_header(listener: &UnixListener) -> (UnixStream, Vec<u8>) {
    let (mut conn, _) = listener.accept().unwrap();
    thread::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    (conn, buf[..n].to_vec())
}

#[test]
fn connect_sends_the_18_byte_header_in_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    for (authority, header) in [(":80", "00000003.00000050\n"), ("7:4294967295", "00000007.ffffffff\n")] {
        let addr = uri(dir.path(), authority);
        let client = thread::spawn(move || Stream::connect(&addr).unwrap());
        let (_conn, got) = accept_header(&hyperkit);
        assert_eq!(String::from_utf8(got).unwrap(), header);
        client.join().unwrap();
    }
}

#[test]
fn a_refused_connection_shows_up_as_end_of_file() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    let addr = uri(dir.path(), ":81");
    let client = thread::spawn(move || Stream::connect(&addr));
    drop(accept_header(&hyperkit));
    let stream = client.join().unwrap().expect("hyperkit gives no answer, so connect succeeds");
    assert!(read_all(stream).is_empty());
}

/// With `confirm`, hyperkit's close-at-once is a refused connect (blocking and async
/// drivers alike); a greeting the guest sends at once is not consumed by the wait; and
/// silence for the whole wait is taken as a listener.
#[test]
fn confirm_turns_hyperkits_close_into_a_refusal_and_keeps_early_data() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    let addr = uri(dir.path(), ":82");
    let options = hvsock::ConnectOptions::new().confirm(Duration::from_millis(300));
    let device = thread::spawn(move || {
        // Refuse twice (blocking, then async), greet once, keep silent once.
        for answer in [None, None, Some(&b"hello"[..]), Some(&b""[..])] {
            let (mut conn, header) = accept_header(&hyperkit);
            assert_eq!(header, b"00000003.00000052\n");
            match answer {
                None => drop(conn),
                Some(greeting) => {
                    conn.write_all(greeting).unwrap();
                    let mut rest = Vec::new();
                    conn.read_to_end(&mut rest).unwrap(); // until the client closes
                }
            }
        }
    });
    let refused = Stream::connect_with(&addr, &options).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "{refused}");
    assert!(
        refused.to_string().contains("hyperkit closed the connection (no listener on guest port 82"),
        "{refused}"
    );
    #[cfg(feature = "tokio")]
    {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let refused = runtime.block_on(hvsock::tokio::Stream::connect_with(&addr, &options)).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "{refused}");
    }
    #[cfg(not(feature = "tokio"))]
    drop(Stream::connect_with(&addr, &options).unwrap_err());
    let mut greeted = Stream::connect_with(&addr, &options).unwrap();
    let mut hello = [0u8; 5];
    greeted.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello");
    drop(greeted);
    let started = std::time::Instant::now();
    let silent = Stream::connect_with(&addr, &options).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    drop(silent);
    device.join().unwrap();
}

#[test]
fn transfer_matrix_through_a_fake_hyperkit() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    for x in FEW_SIZES {
        for y in FEW_SIZES {
            let addr = uri(dir.path(), ":80");
            let client = thread::spawn(move || Stream::connect(&addr).unwrap());
            let (mut conn, _) = hyperkit.accept().unwrap();
            let mut header = [0u8; 18];
            conn.read_exact(&mut header).unwrap();
            exchange(client.join().unwrap(), conn, x, y);
        }
    }
}

#[test]
fn listener_binds_00000002_port_in_hex() {
    let dir = tempfile::tempdir().unwrap();
    let listener = Listener::bind(&uri(dir.path(), ":4660")).unwrap();
    let path = dir.path().join("00000002.00001234");
    let guest = UnixStream::connect(&path).unwrap();
    let (mut stream, peer) = listener.accept().unwrap();
    assert_eq!(peer, Addr::Unnamed);
    assert_eq!(stream.local_addr(), &uri(dir.path(), ":4660"));
    (&guest).write_all(b"from guest").unwrap();
    drop(guest);
    let mut got = String::new();
    stream.read_to_string(&mut got).unwrap();
    assert_eq!(got, "from guest");
}

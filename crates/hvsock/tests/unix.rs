//! Plain Unix sockets and TCP, the filesystem rules of every socket-file listener.

#![cfg(unix)]

use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use hvsock::{Addr, ListenOptions, Listener, Stream};
use hvsock_testkit::*;

fn unix(path: &Path) -> Addr {
    Addr::Unix(path.to_path_buf())
}

#[test]
fn seed_transfer_matrix_over_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let addr = unix(&dir.path().join("s"));
    let listener = Listener::bind(&addr).unwrap();
    for x in SEED_SIZES {
        for y in SEED_SIZES {
            let client = thread::spawn({
                let addr = addr.clone();
                move || Stream::connect(&addr).unwrap()
            });
            let (server, _) = listener.accept().unwrap();
            exchange(client.join().unwrap(), server, x, y);
        }
    }
}

#[test]
fn tcp_loopback_round_trip() {
    let listener = Listener::bind(&"tcp://127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().clone();
    let Addr::Tcp(tcp) = &addr else { panic!("{addr:?}") };
    assert_ne!(tcp.port, 0, "the chosen port is reported");
    let client = thread::spawn(move || Stream::connect(&addr).unwrap());
    let (server, peer) = listener.accept().unwrap();
    assert!(matches!(peer, Addr::Tcp(_)));
    exchange(client.join().unwrap(), server, 100_000, 5);
}

#[test]
fn listener_socket_is_0600_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = Listener::bind(&unix(&path)).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    drop(listener);
    let _wide = Listener::bind_with(&unix(&path), &ListenOptions::new().mode(0o660)).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o660);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    drop(UnixListener::bind(&path).unwrap()); // leaves the file behind
    assert!(path.exists());
    let listener = Listener::bind(&unix(&path)).unwrap();
    let client = thread::spawn(move || Stream::connect(&unix(&path)).unwrap());
    let (server, _) = listener.accept().unwrap();
    exchange(client.join().unwrap(), server, 10, 10);
}

/// A second listener on the path of a live one fails at once, and the live one sees no
/// connection from the check: ours (bound privately and linked into place) or anyone's.
#[test]
fn a_live_listener_is_never_replaced_nor_connected_to() {
    let dir = tempfile::tempdir().unwrap();
    let (theirs, ours) = (dir.path().join("theirs"), dir.path().join("ours"));
    let foreign = UnixListener::bind(&theirs).unwrap();
    let first = Listener::bind(&unix(&ours)).unwrap();
    for path in [&theirs, &ours] {
        let err = Listener::bind(&unix(path)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        assert!(err.to_string().contains("another process is listening on"), "{err}");
    }
    foreign.set_nonblocking(true).unwrap();
    first.set_nonblocking(true).unwrap();
    assert_eq!(foreign.accept().unwrap_err().kind(), ErrorKind::WouldBlock, "the check connected");
    assert_eq!(first.accept().unwrap_err().kind(), ErrorKind::WouldBlock, "the check connected");
    assert!(Stream::connect(&unix(&ours)).is_ok(), "the first listener is still reachable");
}

/// A listener whose backlog is full: the second one fails at once instead of waiting
/// for a place in the queue.
#[test]
fn a_busy_listener_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let _busy = Listener::bind_with(&unix(&path), &ListenOptions::new().backlog(1)).unwrap();
    let mut queued = Vec::new();
    loop {
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        socket.set_nonblocking(true).unwrap();
        match socket.connect(&socket2::SockAddr::unix(&path).unwrap()) {
            Ok(()) => queued.push(socket),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
        assert!(queued.len() < 100, "the backlog never filled");
    }
    let (done, result) = std::sync::mpsc::channel();
    let uri = unix(&path);
    thread::spawn(move || done.send(Listener::bind(&uri).map(drop)));
    let err = result.recv_timeout(std::time::Duration::from_secs(2)).expect("the check hangs").unwrap_err();
    assert!(err.to_string().contains("another process is listening on"), "{err}");
}

/// By default the backlog is the system's maximum: a burst of 2000 clients that connect
/// without blocking all get in, though nothing accepts yet.
#[test]
fn the_default_backlog_holds_a_burst_of_2000_non_blocking_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let _listener = Listener::bind(&unix(&path)).unwrap();
    let want = 2000.min(ListenOptions::max_backlog() as usize);
    assert!(want >= 2000 || cfg!(not(target_os = "linux")), "somaxconn is only {want} here");
    let mut clients = Vec::new();
    for i in 0..want {
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
            .connect(&socket2::SockAddr::unix(&path).unwrap())
            .unwrap_or_else(|e| panic!("client {i} of {want}: {e}"));
        clients.push(socket);
    }
}

#[test]
fn regular_files_directories_and_symlinks_are_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"precious").unwrap();
    let subdir = dir.path().join("dir");
    fs::create_dir(&subdir).unwrap();
    let target = dir.path().join("target");
    fs::write(&target, b"also precious").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for (path, what) in [(&file, "is not a socket"), (&subdir, "is a directory"), (&link, "is a symlink")] {
        let err = Listener::bind(&unix(path)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    assert_eq!(fs::read(&file).unwrap(), b"precious");
    assert!(subdir.is_dir());
    assert_eq!(fs::read(&link).unwrap(), b"also precious");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn a_listener_leaves_a_replacement_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = Listener::bind(&unix(&path)).unwrap();
    fs::remove_file(&path).unwrap();
    fs::write(&path, b"someone else's").unwrap();
    drop(listener);
    assert_eq!(fs::read(&path).unwrap(), b"someone else's");
}

#[test]
fn refused_and_missing_unix_sockets_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let err = Stream::connect(&unix(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().starts_with(&format!("connect unix://{}: no socket at", path.display())),
        "{err}"
    );
    drop(UnixListener::bind(&path).unwrap());
    let err = Stream::connect(&unix(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(err.to_string().contains("connection refused: nothing listens on"), "{err}");
}

/// Connects to `addr` with `options` on a thread of its own; the result and how long it
/// took, or a panic if it is still connecting after `limit` (so that a connect without
/// a time limit fails the test instead of hanging it).
fn connect_within(
    addr: Addr,
    options: hvsock::ConnectOptions,
    limit: Duration,
) -> impl FnOnce() -> (std::io::Result<Stream>, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let shown = addr.to_string();
    thread::spawn(move || {
        let started = Instant::now();
        let result = Stream::connect_with(&addr, &options);
        let _ = tx.send((result, started.elapsed()));
    });
    move || match rx.recv_timeout(limit) {
        Ok(outcome) => outcome,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{shown}: still connecting after {limit:?}")
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{shown}: the connect panicked"),
    }
}

/// A listener whose backlog is full makes a blocking `connect(2)` wait forever: by
/// default every Unix-socket transport gives up after `ConnectOptions::DEFAULT_TIMEOUT`.
#[test]
fn connects_to_a_jammed_listener_give_up_after_the_default_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (_unix, _held) = jammed_listener(&dir.path().join("s"));
    let hyperkit_dir = dir.path().join("hk");
    fs::create_dir(&hyperkit_dir).unwrap();
    let (_hyperkit, _held_hk) = jammed_listener(&hyperkit_dir.join("connect"));
    let (_device, _held_dev) = jammed_listener(&dir.path().join("vm.vsock"));
    let addrs: Vec<Addr> = vec![
        unix(&dir.path().join("s")),
        format!("hyperkit://:80{}", hyperkit_dir.display()).parse().unwrap(),
        format!("hybrid://:52{}", dir.path().join("vm.vsock").display()).parse().unwrap(),
    ];
    let default = hvsock::ConnectOptions::DEFAULT_TIMEOUT;
    assert_eq!(default, Duration::from_secs(5));
    let pending: Vec<_> = addrs
        .iter()
        .map(|addr| connect_within(addr.clone(), hvsock::ConnectOptions::new(), default * 2))
        .collect();
    for (addr, outcome) in addrs.iter().zip(pending) {
        let (result, took) = outcome();
        assert_timed_out_after(&result.unwrap_err(), addr, took, default);
    }
    // A timeout of its own replaces the default.
    let quick = hvsock::ConnectOptions::new().timeout(Duration::from_millis(300));
    let (result, took) = connect_within(addrs[0].clone(), quick, default)();
    assert_timed_out_after(&result.unwrap_err(), &addrs[0], took, Duration::from_millis(300));
}

/// `Duration::MAX` is "no time limit", never an overflow of `Instant + Duration`.
#[test]
fn duration_max_timeouts_mean_no_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let forever = hvsock::ConnectOptions::new().timeout(Duration::MAX).handshake_timeout(Duration::MAX);
    let (result, _) = connect_within(unix(&path), forever.clone(), Duration::from_secs(10))();
    let stream = result.unwrap();
    let (server, _) = listener.accept().unwrap();
    exchange(stream, server, 10, 10);

    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    let addr: Addr = format!("hyperkit://:80{}", dir.path().display()).parse().unwrap();
    let (result, _) = connect_within(addr, forever.clone(), Duration::from_secs(10))();
    result.unwrap();
    drop(hyperkit.accept().unwrap());

    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: Addr = format!("tcp://{}", tcp.local_addr().unwrap()).parse().unwrap();
    let (result, _) = connect_within(addr, forever.clone(), Duration::from_secs(10))();
    result.unwrap();
    let addr: Addr = format!("tcp://localhost:{}", tcp.local_addr().unwrap().port()).parse().unwrap();
    let (result, _) = connect_within(addr, forever, Duration::from_secs(10))();
    result.unwrap();
}

/// As `std::net::TcpStream`: a zero timeout is an error (`SO_RCVTIMEO` 0 would mean
/// "forever"), and a timeout under a microsecond is rounded up to one, not down to 0.
#[test]
fn zero_and_sub_microsecond_read_and_write_timeouts_are_not_forever() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let stream = Stream::connect(&unix(&path)).unwrap();
    let (_server, _) = listener.accept().unwrap();
    for err in [
        stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err(),
        stream.set_write_timeout(Some(Duration::ZERO)).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(err.to_string(), "cannot set a 0 duration timeout");
    }
    assert_eq!(stream.read_timeout().unwrap(), None, "a refused timeout changes nothing");
    stream.set_read_timeout(Some(Duration::from_nanos(1))).unwrap();
    stream.set_write_timeout(Some(Duration::from_nanos(999))).unwrap();
    let read = stream.read_timeout().unwrap().expect("a read timeout, not forever");
    let write = stream.write_timeout().unwrap().expect("a write timeout, not forever");
    assert!(read > Duration::ZERO && read < Duration::from_millis(50), "{read:?}");
    assert!(write > Duration::ZERO && write < Duration::from_millis(50), "{write:?}");
    let started = Instant::now();
    let err = (&stream).read(&mut [0u8; 8]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    stream.set_read_timeout(None).unwrap();
    assert_eq!(stream.read_timeout().unwrap(), None);
}

#[cfg(target_os = "linux")]
#[test]
fn the_vsock_buffer_size_is_refused_on_other_transports_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let addr: hvsock::Addr = format!("unix://{}", dir.path().join("s").display()).parse().unwrap();
    let listener = hvsock::Listener::bind(&addr).unwrap();
    let client = hvsock::Stream::connect(&addr).unwrap();
    for err in [
        client.set_vsock_buffer_size(1 << 20).unwrap_err(),
        client.vsock_buffer_size().unwrap_err(),
        listener.set_vsock_buffer_size(1 << 20).unwrap_err(),
    ] {
        assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
        let text = err.to_string();
        assert!(text.contains("vsock connections only") && text.contains(&addr.to_string()), "{text}");
    }
}

//! Faults: a peer killed mid-transfer, connect timeouts that hold to 10%, listeners that
//! survive bad clients.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

fn hvcat(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hvcat"));
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn wait_for(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "{} never appeared", path.display());
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` at most `limit`; returns its exit code, stderr and the time taken.
fn finish_within(mut child: Child, limit: Duration) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            return (status.code(), stderr, started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("hvcat still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn peer_killed_while_we_send_exits_1_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("unix://{}", dir.path().join("s").display());
    let mut server = hvcat(&["-l", &uri]).spawn().unwrap();
    wait_for(&dir.path().join("s"));
    let mut client = hvcat(&[&uri]).spawn().unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        let block = vec![7u8; 64 * 1024];
        while stdin.write_all(&block).is_ok() {}
    });
    thread::sleep(Duration::from_millis(300));
    server.kill().unwrap();
    server.wait().unwrap();
    let (code, stderr, _) = finish_within(client, Duration::from_secs(1));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("hvcat: ") && stderr.contains(&uri), "names the address: {stderr}");
    assert!(stderr.contains("Broken pipe") || stderr.contains("reset"), "{stderr}");
    feeder.join().unwrap();
}

#[test]
fn peer_killed_while_we_receive_ends_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let uri = format!("unix://{}", path.display());
    let client = hvcat(&["-v", &uri]).spawn().unwrap(); // stdin stays open and silent
    let (conn, _) = listener.accept().unwrap();
    (&conn).write_all(b"some of the answer").unwrap();
    thread::sleep(Duration::from_millis(200));
    drop(conn); // the peer exits: both directions close
    let (code, stderr, _) = finish_within(client, Duration::from_secs(1));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("the peer has closed; not waiting for standard input"), "{stderr}");
}

#[test]
fn a_peer_that_only_half_closes_still_gets_our_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let mut client = hvcat(&[&format!("unix://{}", path.display())]).spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    thread::sleep(Duration::from_millis(400)); // hvcat must keep waiting for its input
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"late but delivered").unwrap();
    drop(stdin);
    let mut got = String::new();
    (&conn).read_to_string(&mut got).unwrap();
    assert_eq!(got, "late but delivered");
    assert!(client.wait().unwrap().success());
}

/// A Unix listener whose backlog is full, so that a new connect(2) cannot complete.
fn jammed_listener(path: &Path) -> (Socket, Vec<Socket>) {
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    let mut held = Vec::new();
    loop {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        socket.set_nonblocking(true).unwrap();
        match socket.connect(&SockAddr::unix(path).unwrap()) {
            Ok(()) => held.push(socket),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (listener, held),
            Err(e) => panic!("{e}"),
        }
        assert!(held.len() < 10_000);
    }
}

fn assert_timeout_near_one_second(args: &[&str], needle: &str) {
    let child = hvcat(args).spawn().unwrap();
    let (code, stderr, took) = finish_within(child, Duration::from_secs(5));
    assert_eq!(code, Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    let secs = took.as_secs_f64();
    assert!((0.95..=1.1).contains(&secs), "{args:?}: -w 1 took {secs:.3} s");
}

#[test]
fn connect_timeout_holds_to_ten_percent_on_every_unix_transport() {
    let dir = tempfile::tempdir().unwrap();
    let (_unix, _held) = jammed_listener(&dir.path().join("jammed"));
    assert_timeout_near_one_second(
        &["-w", "1", &format!("unix://{}", dir.path().join("jammed").display())],
        "timed out",
    );

    let hyperkit_dir = dir.path().join("hk");
    std::fs::create_dir(&hyperkit_dir).unwrap();
    let (_hk, _held_hk) = jammed_listener(&hyperkit_dir.join("connect"));
    assert_timeout_near_one_second(
        &["-w", "1", &format!("hyperkit://:80{}", hyperkit_dir.display())],
        "timed out",
    );

    let device = UnixListener::bind(dir.path().join("vm.vsock")).unwrap();
    let silent = thread::spawn(move || device.accept().unwrap());
    assert_timeout_near_one_second(
        &["-w", "1", &format!("hybrid://:5{}", dir.path().join("vm.vsock").display())],
        "no reply to CONNECT 5 in time",
    );
    drop(silent.join());
}

#[test]
fn listener_survives_vanishing_silent_and_many_clients() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo");
    let mut server = hvcat(&["-l", "--echo", &format!("unix://{}", path.display())]).spawn().unwrap();
    wait_for(&path);
    drop(UnixStream::connect(&path).unwrap()); // connects and vanishes
    let _silent = UnixStream::connect(&path).unwrap(); // connects and never sends
    let half = UnixStream::connect(&path).unwrap();
    (&half).write_all(b"partial").unwrap();
    drop(half); // goes away mid-request
    let clients: Vec<_> = (0..32)
        .map(|i| {
            let path = path.clone();
            thread::spawn(move || {
                let conn = UnixStream::connect(&path).unwrap();
                let message = format!("client {i}");
                (&conn).write_all(message.as_bytes()).unwrap();
                conn.shutdown(Shutdown::Write).unwrap();
                let mut back = String::new();
                (&conn).read_to_string(&mut back).unwrap();
                back == message
            })
        })
        .collect();
    assert!(clients.into_iter().all(|c| c.join().unwrap()));
    assert!(server.try_wait().unwrap().is_none(), "the listener is still serving");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn tcp_refusal_and_timeout_are_named() {
    // A port that was just free: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let uri = format!("tcp://{free}");
    let child = hvcat(&[&uri]).spawn().unwrap();
    let (code, stderr, _) = finish_within(child, Duration::from_secs(5));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with(&format!("hvcat: connect {uri}: ")) && stderr.contains("refused"), "{stderr}");

    // A listener that never accepts, with its queue full: a new connect cannot complete.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let target = listener.local_addr().unwrap().as_socket().unwrap();
    let mut held = Vec::new();
    loop {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match socket.connect_timeout(&target.into(), Duration::from_millis(200)) {
            Ok(()) => held.push(socket),
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                break
            }
            Err(e) => panic!("{e}"),
        }
        assert!(held.len() < 1000, "the queue never filled");
    }
    assert_timeout_near_one_second(&["-w", "1", &format!("tcp://{target}")], "timed out");
}

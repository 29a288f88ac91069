//! Faults: a peer killed mid-transfer, connect and idle timeouts that hold to 10%,
//! listeners that survive bad clients.
#![cfg(unix)]

mod kit;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use kit::{finish_within, hvcat, jammed_listener, wait_for};
use socket2::{Domain, Socket, Type};

/// A Unix listener in a new temporary directory (kept while the first value lives), and
/// its URI.
fn unix_listener() -> (tempfile::TempDir, UnixListener, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let uri = format!("unix://{}", path.display());
    (dir, listener, uri)
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
    let (status, stderr, _) = finish_within(client, Duration::from_secs(1));
    let code = status.code();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with("hvcat: ") && stderr.contains(&uri), "names the address: {stderr}");
    assert!(stderr.contains("Broken pipe") || stderr.contains("reset"), "{stderr}");
    feeder.join().unwrap();
}

#[test]
fn peer_killed_while_we_receive_ends_within_a_second() {
    let (_dir, listener, uri) = unix_listener();
    let client = hvcat(&["-v", &uri]).spawn().unwrap(); // stdin stays open and silent
    let (conn, _) = listener.accept().unwrap();
    (&conn).write_all(b"some of the answer").unwrap();
    thread::sleep(Duration::from_millis(200));
    drop(conn); // the peer exits: both directions close
    let (status, stderr, _) = finish_within(client, Duration::from_secs(1));
    let code = status.code();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("the peer has closed; not waiting for standard input"), "{stderr}");
}

/// A sender killed mid-transfer closes exactly as one that has finished; with
/// `--expect-bytes` the receiver knows how much should have come, and fails.
#[test]
fn peer_killed_while_we_receive_fails_with_expect_bytes() {
    let (_dir, listener, uri) = unix_listener();
    for stdin_open in [true, false] {
        let mut command = hvcat(&["--expect-bytes", "1M", &uri]);
        command.stdout(Stdio::null());
        if !stdin_open {
            command.stdin(Stdio::null());
        }
        let client = command.spawn().unwrap();
        let (conn, _) = listener.accept().unwrap();
        (&conn).write_all(&[5u8; 300_000]).unwrap();
        thread::sleep(Duration::from_millis(200));
        let killed = Instant::now();
        drop(conn); // the sender dies: both directions close, as at a normal end
        let (status, stderr, _) = finish_within(client, Duration::from_secs(2));
        let code = status.code();
        let took = killed.elapsed();
        assert_eq!(code, Some(1), "stdin open {stdin_open}: {stderr}");
        let want = format!(
            "hvcat: {uri}: the peer closed after 300000 of the 1048576 expected bytes (--expect-bytes): the transfer was cut short\n"
        );
        assert_eq!(stderr, want, "stdin open {stdin_open}");
        assert!(took < Duration::from_secs(1), "stdin open {stdin_open}: exit after {took:?}");
    }
}

#[test]
fn expect_bytes_passes_the_exact_length_and_fails_on_more() {
    let (_dir, listener, uri) = unix_listener();
    for (sent, code) in [(4096usize, 0), (4097, 1)] {
        let client = hvcat(&["--expect-bytes", "4K", &uri]).stdin(Stdio::null()).spawn().unwrap();
        let (conn, _) = listener.accept().unwrap();
        (&conn).write_all(&vec![1u8; sent]).unwrap();
        drop(conn);
        let output = client.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{sent} bytes: {stderr}");
        assert_eq!(output.stdout.len(), sent, "every byte is written out, even past the expected length");
        if code == 1 {
            assert!(stderr.contains("received 4097 bytes, more than the 4096 expected"), "{stderr}");
        }
    }
}

/// A peer that stays connected and silent (a paused VM, say): `-i` gives up.
#[test]
fn idle_timeout_closes_a_silent_connection_and_spares_a_busy_one() {
    let (_dir, listener, uri) = unix_listener();

    // Busy: a byte every 100 ms for 1.5 s, three times the limit.
    let mut client = hvcat(&["-i", "0.5", &uri]).spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    for _ in 0..15 {
        (&conn).write_all(b"t").unwrap();
        thread::sleep(Duration::from_millis(100));
    }
    drop(client.stdin.take());
    drop(conn);
    let output = client.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.stdout, [b't'; 15]);

    // Silent, with hvcat's standard input open and silent too.
    let client = hvcat(&["-i", "1", &uri]).spawn().unwrap();
    let (conn, _) = listener.accept().unwrap();
    let accepted = Instant::now();
    let (status, stderr, _) = finish_within(client, Duration::from_secs(3));
    let code = status.code();
    let took = accepted.elapsed().as_secs_f64();
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("hvcat: {uri}: nothing moved either way for 1 s; closed the connection (--idle-timeout)\n")
    );
    assert!((0.95..=1.1).contains(&took), "-i 1 gave up after {took:.3} s");
    let mut rest = Vec::new();
    assert_eq!((&conn).read_to_end(&mut rest).unwrap(), 0, "the peer sees the close");
}

/// `-i` with a listener closes each silent connection and goes on serving.
#[test]
fn idle_timeout_in_echo_and_relay_listeners_closes_only_the_silent_connection() {
    let dir = tempfile::tempdir().unwrap();
    let echo_path = dir.path().join("echo");
    let echo_uri = format!("unix://{}", echo_path.display());
    let relay_path = dir.path().join("relay");
    let relay_uri = format!("unix://{}", relay_path.display());
    let mut echo = hvcat(&["-v", "-i", "0.5", "-l", "--echo", &echo_uri]).spawn().unwrap();
    wait_for(&echo_path);
    // The relay's upstream has no idle timeout of its own, or its 0.5 s and the relay's
    // would race to close the silent connection.
    let upstream_path = dir.path().join("upstream");
    let upstream_uri = format!("unix://{}", upstream_path.display());
    let mut upstream = hvcat(&["-l", "-k", "--echo", &upstream_uri]).spawn().unwrap();
    wait_for(&upstream_path);
    let mut relay =
        hvcat(&["-v", "-i", "0.5", "-l", "-k", &relay_uri, "--relay", &upstream_uri]).spawn().unwrap();
    wait_for(&relay_path);
    for path in [&echo_path, &relay_path] {
        let silent = UnixStream::connect(path).unwrap();
        let connected = Instant::now();
        let mut rest = Vec::new();
        assert_eq!((&silent).read_to_end(&mut rest).unwrap(), 0);
        let took = connected.elapsed().as_secs_f64();
        assert!((0.45..=0.6).contains(&took), "{}: closed after {took:.3} s", path.display());
        // The listener is still there for a client that talks.
        let talker = UnixStream::connect(path).unwrap();
        (&talker).write_all(b"still serving").unwrap();
        talker.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        (&talker).read_to_string(&mut back).unwrap();
        assert_eq!(back, "still serving", "{}", path.display());
    }
    for server in [&mut echo, &mut relay, &mut upstream] {
        assert!(server.try_wait().unwrap().is_none(), "the listener is still serving");
        server.kill().unwrap();
    }
    upstream.wait().unwrap();
    let mut log = String::new();
    echo.wait().unwrap();
    echo.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(
        log.contains("nothing moved either way for 0.5 s; closed the connection (--idle-timeout)"),
        "{log}"
    );
    relay.wait().unwrap();
    let mut log = String::new();
    relay.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("idle timeout: nothing crossed either way for 0.5 s"), "{log}");
}

#[test]
fn a_peer_that_only_half_closes_still_gets_our_data() {
    let (_dir, listener, uri) = unix_listener();
    let mut client = hvcat(&[&uri]).spawn().unwrap();
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

fn assert_timeout_near_one_second(args: &[&str], needle: &str) {
    let child = hvcat(args).spawn().unwrap();
    let (status, stderr, took) = finish_within(child, Duration::from_secs(5));
    let code = status.code();
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
    let (status, stderr, _) = finish_within(child, Duration::from_secs(5));
    let code = status.code();
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

/// Without `-w` no connect waits forever: a Unix listener whose backlog is full gives
/// up after the default 5 s, for a connection and for `-z` alike; `-w` changes the
/// bound. All four run at once.
#[test]
fn connects_to_a_jammed_listener_time_out_by_default_and_after_w() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jammed");
    let (_listener, _held) = jammed_listener(&path);
    let uri = format!("unix://{}", path.display());
    let runs: [(&[&str], f64); 4] = [
        (&[&uri], 5.0),
        (&["-z", &uri], 5.0),
        (&["-w", "0.5", &uri], 0.5),
        (&["-z", "-w", "0.5", &uri], 0.5),
    ];
    let mut pending: Vec<_> = runs
        .iter()
        .map(|&(args, expected)| (hvcat(args).spawn().unwrap(), Instant::now(), args, expected))
        .collect();
    let started = Instant::now();
    while !pending.is_empty() {
        if started.elapsed() > Duration::from_secs(8) {
            let stuck: Vec<_> = pending.iter().map(|(_, _, args, _)| args.to_vec()).collect();
            for (child, ..) in &mut pending {
                let _ = child.kill();
            }
            panic!("still connecting after 8 s: {stuck:?}");
        }
        let mut still = Vec::new();
        for (mut child, spawned, args, expected) in pending {
            let Some(status) = child.try_wait().unwrap() else {
                still.push((child, spawned, args, expected));
                continue;
            };
            let took = spawned.elapsed().as_secs_f64();
            let mut stderr = String::new();
            child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
            assert_eq!(stderr, format!("hvcat: connect {uri}: timed out\n"), "{args:?}");
            let window = expected * 0.98..=expected * 1.1 + 0.15;
            assert!(window.contains(&took), "{args:?}: timed out after {took:.3} s, not {expected} s");
        }
        pending = still;
        thread::sleep(Duration::from_millis(5));
    }
}

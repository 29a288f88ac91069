//! Servers at their limit of open files (`RLIMIT_NOFILE`): the thread-per-connection
//! loop and the relay neither die nor spin, say why, and serve again once descriptors
//! are free.
#![cfg(unix)]

mod kit;

use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};

use kit::*;

/// Runs the child with at most `files` open descriptors (soft and hard limit, so that
/// the relay cannot lift it).
fn limit_files(command: &mut std::process::Command, files: u64) {
    let limit = libc::rlimit { rlim_cur: files, rlim_max: files };
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A client of a stream or message-mode (`SOCK_SEQPACKET`) Unix socket that sends `x`;
/// what happens within `wait`.
fn client_of(
    messages: bool,
    path: &std::path::Path,
    wait: Duration,
) -> (std::os::unix::net::UnixStream, Fate) {
    if !messages {
        return client(path, b"x", wait);
    }
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None).unwrap();
    socket.connect(&socket2::SockAddr::unix(path).unwrap()).unwrap();
    socket.send(b"x").unwrap();
    let stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket));
    let fate = fate(&stream, wait);
    (stream, fate)
}

/// A server out of file descriptors (its `RLIMIT_NOFILE` reached) neither dies nor spins:
/// it says why, once, and serves again once a descriptor is free: the thread-per-
/// connection loop, for streams and for message mode. (The relay's bridge at the limit is
/// tested in hvsock's `tokio::splice` tests.)
#[test]
fn a_server_out_of_descriptors_says_so_and_serves_again_once_one_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let modes: [(&str, &str, &[&str]); 2] =
        [("echo", "unix", &["--echo"]), ("messages", "unix+seqpacket", &["--echo"])];
    for (label, scheme, extra) in modes {
        let messages = label == "messages";
        let path = dir.path().join(label);
        let uri = format!("{scheme}://{}", path.display());
        let mut command = hvcat(&[&["-l"], extra, &[uri.as_str()]].concat());
        limit_files(&mut command, 12);
        let server = command.spawn().unwrap();
        wait_for(&path);
        // Clients until one is not answered: held in the listen queue.
        let mut clients = Vec::new();
        let answered = Fate::Answered(b"x".to_vec());
        let refused = loop {
            let (conn, mut outcome) = client_of(messages, &path, Duration::from_millis(700));
            if outcome == Fate::Held {
                // Slow (a loaded machine), or really waiting? A while longer decides.
                outcome = fate(&conn, Duration::from_secs(2));
            }
            if outcome != answered {
                break (conn, outcome);
            }
            clients.push(conn);
            assert!(clients.len() < 40, "{label}: 40 clients served under a limit of 12 descriptors");
        };
        let pid = server.id();
        let ticks = cpu_ticks(pid);
        thread::sleep(Duration::from_secs(1));
        let spent = cpu_ticks(pid) - ticks;
        assert!(spent < 30, "{label}: the server spun at the limit ({spent} ticks in 1 s)");
        clients.clear(); // their descriptors are freed
        if refused.1 == Fate::Held {
            let late = fate(&refused.0, Duration::from_secs(3));
            assert_eq!(late, answered, "{label}: the waiting client is served");
        }
        // The freed connections take a moment to wind down, so a new client may still
        // find the server at the limit.
        let started = Instant::now();
        while client_of(messages, &path, Duration::from_secs(1)).1 != answered {
            assert!(started.elapsed() < Duration::from_secs(5), "{label}: never served again");
            thread::sleep(Duration::from_millis(100));
        }
        let stderr = stop(server);
        assert!(stderr.contains("Too many open files"), "{label}: the reason is said: {stderr}");
        assert!(!stderr.contains("panicked"), "{label}: {stderr}");
        // Each spell at the limit is said once, and its end. (Another, short, spell may
        // come while the freed connections wind down.) The first lasted the second of
        // waiting above: ten retries a second, counted, not said.
        let spells = stderr.matches("Too many open files").count();
        let ends: Vec<&str> = stderr.lines().filter(|l| l.contains("accepting again after")).collect();
        assert!((1..=3).contains(&spells), "{label}: a failed accept said once while it lasts: {stderr}");
        assert_eq!(ends.len(), spells, "{label}: each spell's end is said: {stderr}");
        let first: u64 = ends[0].split_whitespace().find_map(|w| w.parse().ok()).unwrap();
        assert!(first >= 5, "{label}: the retries of the first spell are counted: {stderr}");
    }
}

/// A relay holds as many connections as its descriptors allow (two each) and lets the
/// next client wait in the listen queue, served as soon as one ends: not accepted and
/// then reset for want of a descriptor to connect it onwards. Said once, and why; a
/// `--max-conns` above what fits is lowered to it, and said so.
#[test]
fn a_relay_at_its_limit_of_open_files_lets_the_next_client_wait_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, framed) = (dir.path().join("plain"), dir.path().join("framed"));
    let (plain_uri, framed_uri) =
        (format!("unix://{}", plain.display()), format!("unix://{}", framed.display()));
    let echoes = [
        hvcat(&["-l", "--echo", &plain_uri]).spawn().unwrap(),
        hvcat(&["-l", "--echo", "--framed", &framed_uri]).spawn().unwrap(),
    ];
    wait_for(&plain);
    wait_for(&framed);
    // The framed end's translator holds two descriptors more per connection.
    let cases: [(&str, &[&str]); 3] =
        [(&plain_uri, &[]), (&plain_uri, &["-m", "100"]), (&framed_uri, &["--relay-framed"])];
    let mut caps = Vec::new();
    for (n, (upstream_uri, extra)) in cases.into_iter().enumerate() {
        let front = dir.path().join(format!("front{n}"));
        let front_uri = format!("unix://{}", front.display());
        let mut command = hvcat(&[&["-l", "-k", &front_uri, "--relay", upstream_uri], extra].concat());
        limit_files(&mut command, 24);
        let relay = command.spawn().unwrap();
        wait_for(&front);
        let served = relay_until_one_waits(&front, relay.id());
        let stderr = stop(relay);
        let said = stderr.matches("as many as the limit of open files allows").count();
        assert_eq!(said, 1, "{extra:?}: said once: {stderr}");
        assert!(!stderr.contains("Too many open files"), "{extra:?}: no descriptor ran out: {stderr}");
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
        if extra.contains(&"-m") {
            let lowered = format!("--max-conns 100: the limit of open files allows {served} connections");
            assert!(stderr.contains(&lowered), "{extra:?}: {stderr}");
        }
        caps.push(served);
    }
    assert!(caps[2] < caps[0], "fewer framed connections fit than plain ones: {caps:?}");
    echoes.into_iter().for_each(|echo| drop(stop(echo)));
}

/// Relays clients through `front` until one is held waiting, checks that it is served
/// once another ends and that the relay (`pid`) did not spin meanwhile; returns how many
/// were relayed at once.
fn relay_until_one_waits(front: &std::path::Path, pid: u32) -> usize {
    let answered = Fate::Answered(b"x".to_vec());
    let mut clients = Vec::new();
    let waiting = loop {
        let (conn, outcome) = client(front, b"x", Duration::from_millis(700));
        if outcome != answered {
            assert_eq!(outcome, Fate::Held, "a client past the cap waits: not closed, not reset");
            break conn;
        }
        clients.push(conn);
        assert!(clients.len() < 12, "12 connections relayed under a limit of 24 descriptors");
    };
    assert!(!clients.is_empty(), "one connection at least is relayed");
    let ticks = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - ticks;
    assert!(spent < 30, "the relay spun at its cap ({spent} ticks in 1 s)");
    assert_eq!(fate(&waiting, Duration::from_millis(300)), Fate::Held, "still waiting at the cap");
    let served = clients.len();
    drop(clients.pop());
    assert_eq!(fate(&waiting, Duration::from_secs(3)), answered, "served once a connection ends");
    served
}

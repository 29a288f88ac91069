//! A server on a shared host: clients that exhaust it, clients it must refuse, how it
//! stops, and what it leaves behind.
#![cfg(unix)]

mod kit;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use kit::*;

const SOON: Duration = Duration::from_millis(300);

/// A user id that no process on the machine has, so that its task count is the child's
/// alone (a process left behind by an earlier run would count against the limit).
fn lonely_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let taken: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok().map(|m| m.uid()))
        .collect();
    (54_321..).find(|uid| !taken.contains(uid)).unwrap()
}

/// Runs the child as a user of its own with at most `tasks` tasks (threads count), the
/// limit a container's pids limit or systemd's TasksMax sets.
fn limit_tasks(command: &mut std::process::Command, tasks: u64) {
    let limit = libc::rlimit { rlim_cur: tasks, rlim_max: tasks };
    let uid = lonely_uid();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Defect 2: a client can make the server run out of threads; the server closes that
/// connection, says why, and serves again once a thread can be had.
#[test]
fn a_server_out_of_threads_closes_the_connection_and_goes_on() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root, to run the server as a user of its own with a task limit");
    }
    // Main thread + signal thread + one connection.
    for (name, args) in [("hvcat", &["-l", "--echo"][..]), ("hvstress", &["-s"]), ("hvbench", &["-s"])] {
        let dir = shared_dir();
        let path = dir.path().join("s");
        let uri = format!("unix://{}", path.display());
        let mut command = tool(name, &[args, &[uri.as_str()]].concat());
        limit_tasks(&mut command, 3);
        let server = command.stdin(Stdio::null()).spawn().unwrap();
        wait_for(&path);
        let (first, fate1) = client(&path, b"", SOON);
        assert_eq!(fate1, Fate::Held, "{name}: the first connection is served");
        let (_second, fate2) = client(&path, b"", Duration::from_secs(3));
        assert_eq!(fate2, Fate::Closed, "{name}: with no thread to serve it, the connection is closed");
        drop(first); // its thread ends
        let started = Instant::now();
        loop {
            let (_again, fate) = client(&path, b"", SOON);
            if fate == Fate::Held {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "{name}: never served again");
        }
        let mut server = server;
        assert!(server.try_wait().unwrap().is_none(), "{name}: the server died");
        let stderr = stop(server);
        let said = format!("{uri}: cannot start a thread for the connection");
        assert!(stderr.contains(&said), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// `-m N`: N connections served at once; the next waits in the queue until one ends.
#[test]
fn max_conns_keeps_the_next_connection_waiting_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let echo = hvcat(&["-l", "--echo", &format!("unix://{}", upstream.display())]).spawn().unwrap();
    wait_for(&upstream);
    let relay_to = format!("unix://{}", upstream.display());
    for (label, extra) in [("echo", vec!["--echo"]), ("relay", vec!["-k", "--relay", relay_to.as_str()])] {
        let path = dir.path().join(label);
        let uri = format!("unix://{}", path.display());
        let mut args = vec!["-v", "-l", "-m", "2"];
        args.extend(&extra);
        args.push(&uri);
        let server = hvcat(&args).spawn().unwrap();
        wait_for(&path);
        let (first, a) = client(&path, b"a", Duration::from_secs(2));
        let (_second, b) = client(&path, b"b", Duration::from_secs(2));
        assert_eq!((a, b), (Fate::Answered(b"a".to_vec()), Fate::Answered(b"b".to_vec())), "{label}");
        let (third, c) = client(&path, b"c", Duration::from_millis(500));
        assert_eq!(c, Fate::Held, "{label}: a third connection is not served while two are");
        drop(first);
        assert_eq!(fate(&third, Duration::from_secs(2)), Fate::Answered(b"c".to_vec()), "{label}");
        let stderr = stop(server);
        let said = stderr.matches("2 connections open (--max-conns): not accepting more").count();
        assert_eq!(said, 1, "{label}: said once with -v: {stderr}");
    }
    stop(echo);
}

/// `--allow-uid`: processes of other users are closed at once and logged.
#[test]
fn allow_uid_closes_other_users_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let me = unsafe { libc::geteuid() }.to_string(); // SAFETY: no preconditions
    let other = (unsafe { libc::geteuid() } + 1).to_string(); // SAFETY: no preconditions
    let upstream = dir.path().join("upstream");
    let _up = UnixListener::bind(&upstream).unwrap();
    let relay_to = format!("unix://{}", upstream.display());
    for (label, mode) in [("echo", vec!["--echo"]), ("relay", vec!["-k", "--relay", relay_to.as_str()])] {
        for (allowed, uids) in [(false, other.as_str()), (true, &format!("{other},{me}"))] {
            let path = dir.path().join(format!("{label}-{allowed}"));
            let uri = format!("unix://{}", path.display());
            let mut args = vec!["-l", "--allow-uid", uids];
            args.extend(&mode);
            args.push(&uri);
            let server = hvcat(&args).spawn().unwrap();
            wait_for(&path);
            let (_conn, got) = client(&path, if label == "echo" { b"x" } else { b"" }, SOON);
            let stderr = stop(server);
            if allowed {
                let served = if label == "echo" { Fate::Answered(b"x".to_vec()) } else { Fate::Held };
                assert_eq!(got, served, "{label}: {stderr}");
            } else {
                assert_eq!(got, Fate::Closed, "{label}: a refused peer is closed at once");
                let want = format!("refused a connection on {uri} from uid {me}, pid ");
                assert!(
                    stderr.contains(&want) && stderr.contains("not an allowed user"),
                    "{label}: {stderr}"
                );
            }
        }
    }
}

/// Defect 12: SIGINT, SIGTERM and SIGHUP remove the socket file and end hvcat by the
/// signal, in every listening mode.
#[test]
fn ending_signals_remove_the_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let _up = UnixListener::bind(&upstream).unwrap();
    let relay_to = format!("unix://{}", upstream.display());
    let modes: [&[&str]; 4] =
        [&["-l"], &["-l", "-k"], &["-l", "--echo"], &["-l", "-k", "--relay", &relay_to]];
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        for mode in modes {
            let path = dir.path().join("s");
            let uri = format!("unix://{}", path.display());
            let server = hvcat(&[mode, &[uri.as_str()]].concat()).spawn().unwrap();
            wait_for(&path);
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(server.id() as i32, signal) };
            let (status, stderr, _) = finish_within(server, Duration::from_secs(5));
            assert_eq!(status.signal(), Some(signal), "{mode:?}: ended by the signal: {stderr}");
            assert!(!path.exists(), "{mode:?}, signal {signal}: the socket file is left behind");
        }
    }
}

/// The names of process `pid`'s threads.
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// Connect latency (#18): a client has no socket file to remove, so no thread of its own
/// waits for the ending signals (starting it cost every connection); they end the client
/// by their default action all the same. A listener has that thread.
#[test]
fn only_listeners_wait_for_the_ending_signals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let uri = format!("unix://{}", path.display());
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let client = hvcat(&[&uri]).spawn().unwrap();
        let (_conn, _) = listener.accept().unwrap(); // hvcat has set up, and connected
        let names = thread_names(client.id());
        assert!(!names.iter().any(|n| n == "signals"), "a client's threads: {names:?}");
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(client.id() as i32, signal) };
        let (status, stderr, _) = finish_within(client, Duration::from_secs(5));
        assert_eq!(status.signal(), Some(signal), "the client ended by the signal: {stderr}");
    }
    let served = dir.path().join("l");
    let server = hvcat(&["-l", &format!("unix://{}", served.display())]).spawn().unwrap();
    wait_for(&served);
    let names = thread_names(server.id());
    assert!(names.iter().any(|n| n == "signals"), "a listener's threads: {names:?}");
    stop(server);
}

/// Commands run by `-e` start with no signal blocked, although hvcat blocks the ending
/// signals in all of its threads.
#[test]
fn commands_start_with_no_signal_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let uri = format!("unix://{}", path.display());
    let server = hvcat(&["-l", "-c", "grep SigBlk /proc/self/status", &uri]).spawn().unwrap();
    wait_for(&path);
    let conn = std::os::unix::net::UnixStream::connect(&path).unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Read::read_to_string(&mut &conn, &mut answer).unwrap();
    assert_eq!(answer.trim(), "SigBlk:\t0000000000000000");
    finish_within(server, Duration::from_secs(5));
}

/// Defect 11: a one-shot `--relay` stops listening once it has its connection, as `-l`
/// does: a second client is refused at once instead of queued and then reset.
#[test]
fn a_one_shot_relay_stops_listening() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = dir.path().join("upstream");
    let up = UnixListener::bind(&upstream).unwrap();
    let path = dir.path().join("s");
    let uri = format!("unix://{}", path.display());
    let server = hvcat(&["-l", &uri, "--relay", &format!("unix://{}", upstream.display())]).spawn().unwrap();
    wait_for(&path);
    let first = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (held, _) = up.accept().unwrap(); // the relay is connected upstream
    let started = Instant::now();
    while path.exists() {
        assert!(started.elapsed() < Duration::from_secs(2), "still listening");
        thread::sleep(Duration::from_millis(5));
    }
    let err = std::os::unix::net::UnixStream::connect(&path).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    drop((first, held));
    finish_within(server, Duration::from_secs(5));
}

/// Defect 14: a closed standard output (`| head -c 10`) ends hvcat quietly, as it ends
/// `cat`: by SIGPIPE, with nothing said.
#[test]
fn a_closed_standard_output_ends_hvcat_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let feeder = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let block = vec![b'y'; 64 * 1024];
        while std::io::Write::write_all(&mut &conn, &block).is_ok() {}
    });
    let mut client = hvcat(&[&format!("unix://{}", path.display())]).spawn().unwrap();
    let mut head = [0u8; 10];
    std::io::Read::read_exact(client.stdout.as_mut().unwrap(), &mut head).unwrap();
    drop(client.stdout.take()); // head has had enough
    let (status, stderr, _) = finish_within(client, Duration::from_secs(5));
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{stderr}");
    assert_eq!(stderr, "", "nothing said");
    feeder.join().unwrap();
}

/// Defect 14: an accepted peer that the transport does not name is called by the address
/// it came in on, never "unnamed".
#[test]
fn messages_name_the_listening_address_for_unnamed_peers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let uri = format!("unix://{}", path.display());
    let server = hvcat(&["-v", "-l", "--echo", &uri]).spawn().unwrap();
    wait_for(&path);
    let rude = std::os::unix::net::UnixStream::connect(&path).unwrap();
    rude.set_write_timeout(Some(SOON)).unwrap();
    let _ = std::io::Write::write_all(&mut &rude, &vec![0u8; 4 << 20]); // and never reads
    drop(rude);
    thread::sleep(SOON);
    let stderr = stop(server);
    assert!(!stderr.contains("unnamed"), "{stderr}");
    assert!(stderr.contains(&format!("a connection on {uri}")), "{stderr}");
    assert!(stderr.contains(&format!("writing {uri}: ")), "{stderr}");
}

//! hvcat as a process, against fake hypervisor devices on Unix sockets.
#![cfg(unix)]

mod kit;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::thread;
use std::time::{Duration, Instant};

use kit::{answer_ok, hvcat, output_stderr as stderr, payload, wait_for, FakeDevice};

/// Runs hvcat with `input` on its standard input.
fn run_with_input(mut child: Child, input: Vec<u8>) -> Output {
    let mut stdin = child.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    output
}

/// Plays a hybrid-vsock device: answers `CONNECT port` with `OK`, reads the request until
/// the client half-closes, then answers `reply` and closes. Returns what it read.
fn device_serving(device: FakeDevice, port: u32, reply: Vec<u8>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut conn = device.accept_ok(port);
        let mut request = Vec::new();
        conn.read_to_end(&mut request).unwrap();
        conn.write_all(&reply).unwrap();
        request
    })
}

fn hybrid_uri(uds: &Path, port: u32) -> String {
    format!("hybrid://:{port}{}", uds.display())
}

#[test]
fn connect_half_closes_then_reads_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let device = FakeDevice::new(dir.path());
    let uds = device.uds.clone();
    let device = device_serving(device, 1024, payload(1, 2_000_000));
    let output =
        run_with_input(hvcat(&["-v", &hybrid_uri(&uds, 1024)]).spawn().unwrap(), payload(2, 3_000_000));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(device.join().unwrap() == payload(2, 3_000_000), "the device got the whole request");
    assert!(output.stdout == payload(1, 2_000_000), "stdout got the whole reply");
    let log = stderr(&output);
    assert!(log.contains("sent 3000000 bytes, received 2000000 bytes"), "{log}");
}

#[test]
fn hyperkit_connect_sends_header_then_data() {
    let dir = tempfile::tempdir().unwrap();
    let hyperkit = UnixListener::bind(dir.path().join("connect")).unwrap();
    let device = thread::spawn(move || {
        let (mut conn, _) = hyperkit.accept().unwrap();
        let mut all = Vec::new();
        conn.read_to_end(&mut all).unwrap();
        conn.write_all(b"pong").unwrap();
        all
    });
    let uri = format!("hyperkit://:80{}", dir.path().display());
    let output = run_with_input(hvcat(&[&uri]).spawn().unwrap(), b"ping".to_vec());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(device.join().unwrap(), b"00000003.00000050\nping");
    assert_eq!(output.stdout, b"pong");
}

#[test]
fn listen_serves_the_guest_side_and_waits_for_its_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let uds = dir.path().join("vm.vsock");
    let child = hvcat(&["-l", &hybrid_uri(&uds, 52)]).spawn().unwrap();
    let listen_path = dir.path().join("vm.vsock_52");
    let guest = thread::spawn(move || {
        let conn = connect_when_there(&listen_path);
        (&conn).write_all(&payload(3, 1_500_000)).unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        (&conn).read_to_end(&mut reply).unwrap();
        reply
    });
    let output = run_with_input(child, payload(4, 700_000));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout == payload(3, 1_500_000));
    assert!(guest.join().unwrap() == payload(4, 700_000));
    assert!(!dir.path().join("vm.vsock_52").exists(), "the socket file is removed");
}

#[test]
fn two_hvcats_over_a_unix_socket_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("unix://{}", dir.path().join("s").display());
    let server = hvcat(&["-l", &uri]).spawn().unwrap();
    wait_for(&dir.path().join("s"));
    let server = thread::spawn(move || run_with_input(server, payload(5, 4_000_000)));
    let client = run_with_input(hvcat(&[&uri]).spawn().unwrap(), payload(6, 3_000_001));
    let server = server.join().unwrap();
    assert!(client.status.success() && server.status.success(), "{} {}", stderr(&client), stderr(&server));
    assert!(server.stdout == payload(6, 3_000_001));
    assert!(client.stdout == payload(5, 4_000_000));
}

#[test]
fn echo_serves_many_connections_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo");
    let mut server = hvcat(&["-l", "--echo", &format!("unix://{}", path.display())]).spawn().unwrap();
    wait_for(&path);
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let path = path.clone();
            thread::spawn(move || {
                let conn = UnixStream::connect(&path).unwrap();
                let data = payload(i as u64, 100_000 * (i + 1));
                let writer = conn.try_clone().unwrap();
                let sent = data.clone();
                let w = thread::spawn(move || {
                    (&writer).write_all(&sent).unwrap();
                    writer.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                (&conn).read_to_end(&mut back).unwrap();
                w.join().unwrap();
                back == data
            })
        })
        .collect();
    for client in clients {
        assert!(client.join().unwrap(), "echoed bytes differ");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn exec_connects_a_command_to_each_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exec");
    let uri = format!("unix://{}", path.display());
    let server = hvcat(&["-l", "-e", "tr a-z A-Z", &uri]).spawn().unwrap();
    wait_for(&path);
    let conn = UnixStream::connect(&path).unwrap();
    (&conn).write_all(b"hello, guest\n").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut back = String::new();
    (&conn).read_to_string(&mut back).unwrap();
    assert_eq!(back, "HELLO, GUEST\n");
    let output = server.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn retry_connects_once_the_device_appears() {
    let dir = tempfile::tempdir().unwrap();
    let uds = dir.path().join("vm.vsock");
    let child = hvcat(&["--retry=40", "-v", &hybrid_uri(&uds, 9)]).spawn().unwrap();
    thread::sleep(Duration::from_millis(400));
    let device = device_serving(FakeDevice::new(dir.path()), 9, b"booted".to_vec());
    let output = run_with_input(child, b"hi".to_vec());
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(device.join().unwrap(), b"hi");
    assert_eq!(output.stdout, b"booted");
    assert!(stderr(&output).contains("trying again in"), "{}", stderr(&output));
}

#[test]
fn failures_exit_1_with_the_address_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let uds = dir.path().join("vm.vsock");
    let missing = run_with_input(hvcat(&[&hybrid_uri(&uds, 5)]).spawn().unwrap(), vec![]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        stderr(&missing),
        format!(
            "hvcat: connect {}: no socket at {} (is the VM or service running?)\n",
            hybrid_uri(&uds, 5),
            uds.display()
        )
    );

    let listener = UnixListener::bind(&uds).unwrap();
    let device = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_millis(100));
        drop(conn); // nothing listens on the guest port
        listener
    });
    let refused = run_with_input(hvcat(&[&hybrid_uri(&uds, 5)]).spawn().unwrap(), vec![]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).starts_with(&format!(
            "hvcat: connect {}: connection refused: no listener on guest port 5",
            hybrid_uri(&uds, 5)
        )),
        "{}",
        stderr(&refused)
    );

    let listener = device.join().unwrap();
    let silent = thread::spawn(move || listener.accept().unwrap());
    let started = Instant::now();
    let timeout = run_with_input(hvcat(&["-w", "0.3", &hybrid_uri(&uds, 5)]).spawn().unwrap(), vec![]);
    assert_eq!(timeout.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(stderr(&timeout).contains("no reply to CONNECT 5 in time"), "{}", stderr(&timeout));
    drop(silent.join());
}

#[test]
fn bad_usage_exits_2_without_touching_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["vsock://x:1"],
        vec!["hybrid://:99999999999/x"],
        vec!["nope"],
        vec![],
        vec!["-k", "unix:///tmp/x"],
        vec!["-l", "--echo", "-e", "cat", "unix:///tmp/x"],
        vec!["--retry", "5", "unix:///nonexistent/x"],
        vec!["-w", "soon", "unix:///nonexistent/x"],
        vec!["--mode", "999", "-l", "unix:///tmp/x"],
        vec!["--register", "hvsock://parent/1"],
        vec!["-l", "-e", "", "unix:///tmp/x"],
    ] {
        let mut command = hvcat(&args);
        command.current_dir(dir.path());
        let output = run_with_input(command.spawn().unwrap(), vec![]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).starts_with("hvcat: "), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing created on disk");
}

#[test]
fn help_shows_addresses_and_examples() {
    let output = run_with_input(hvcat(&["--help"]).spawn().unwrap(), vec![]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in ["ADDRESSES:", "EXAMPLES:", "hybrid://:PORT/UDS", "--retry", "EXIT STATUS:"] {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

fn connect_when_there(path: &Path) -> UnixStream {
    wait_for(path);
    UnixStream::connect(path).unwrap()
}

#[test]
fn relay_bridges_many_connections_with_half_close() {
    let dir = tempfile::tempdir().unwrap();
    let front = dir.path().join("front");
    let device = FakeDevice::new(dir.path());
    let uds = device.uds.clone();
    let mut relay =
        hvcat(&["-l", "-k", "-v", &format!("unix://{}", front.display()), "--relay", &hybrid_uri(&uds, 22)])
            .spawn()
            .unwrap();
    wait_for(&front);
    // The guest side: the first connection is refused, the others get their request back
    // reversed, after the client's half-close.
    let guest = thread::spawn(move || {
        drop(device.accept()); // refused
        let handlers: Vec<_> = (0..6)
            .map(|_| {
                let mut conn = device.accept();
                thread::spawn(move || {
                    answer_ok(&mut conn, 22);
                    let mut request = Vec::new();
                    conn.read_to_end(&mut request).unwrap();
                    request.reverse();
                    conn.write_all(&request).unwrap();
                })
            })
            .collect();
        handlers.into_iter().for_each(|h| h.join().unwrap());
    });
    let first = UnixStream::connect(&front).unwrap();
    let mut nothing = Vec::new();
    (&first).read_to_end(&mut nothing).unwrap();
    assert!(nothing.is_empty(), "a refused upstream closes the client");
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let front = front.clone();
            thread::spawn(move || {
                let conn = UnixStream::connect(&front).unwrap();
                let data = payload(i as u64, 200_000 * (i + 1));
                (&conn).write_all(&data).unwrap();
                conn.shutdown(Shutdown::Write).unwrap();
                let mut back = Vec::new();
                (&conn).read_to_end(&mut back).unwrap();
                back.reverse();
                back == data
            })
        })
        .collect();
    for client in clients {
        assert!(client.join().unwrap(), "relayed bytes differ");
    }
    guest.join().unwrap();
    relay.kill().unwrap();
    let output = relay.wait_with_output().unwrap();
    let log = stderr(&output);
    assert!(log.contains("connection refused: no listener on guest port 22"), "{log}");
    assert!(log.contains("bytes there,"), "{log}");
}

#[test]
fn regular_files_on_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("unix://{}", dir.path().join("s").display());
    let [input, reply, got, got_reply] =
        ["in", "reply", "got", "got_reply"].map(|name| dir.path().join(name));
    std::fs::write(&input, payload(8, 5_000_003)).unwrap();
    std::fs::write(&reply, payload(9, 3_000_000)).unwrap();
    let file = |path: &Path| std::fs::File::open(path).unwrap();
    let create = |path: &Path| std::fs::File::create(path).unwrap();
    let server = Command::new(env!("CARGO_BIN_EXE_hvcat"))
        .args(["-l", &uri])
        .stdin(file(&reply))
        .stdout(create(&got))
        .spawn()
        .unwrap();
    wait_for(&dir.path().join("s"));
    let client = Command::new(env!("CARGO_BIN_EXE_hvcat"))
        .arg(&uri)
        .stdin(file(&input))
        .stdout(create(&got_reply))
        .status()
        .unwrap();
    let server = server.wait_with_output().unwrap();
    assert!(client.success() && server.status.success());
    assert!(std::fs::read(&got).unwrap() == payload(8, 5_000_003));
    assert!(std::fs::read(&got_reply).unwrap() == payload(9, 3_000_000));
}

#[test]
fn a_failing_command_fails_a_single_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exec");
    let server = hvcat(&["-l", "-c", "cat >/dev/null; exit 3", &format!("unix://{}", path.display())])
        .spawn()
        .unwrap();
    wait_for(&path);
    let conn = UnixStream::connect(&path).unwrap();
    (&conn).write_all(b"x").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let output = server.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("the command ended with exit status: 3"), "{}", stderr(&output));
}

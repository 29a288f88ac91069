//! hvcat and hvstress in message mode (`unix+seqpacket://`), end to end.
#![cfg(target_os = "linux")]

mod kit;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hvsock::{Addr, Seqpacket};
use kit::{hvcat, stop, tool, wait_for};

fn uri(path: &std::path::Path) -> String {
    format!("unix+seqpacket://{}", path.display())
}

/// Runs a client hvcat with `input` on standard input; its standard output and stderr.
fn client(args: &[&str], input: &[u8]) -> (Vec<u8>, String, Option<i32>) {
    let mut child = hvcat(args).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.stdout, String::from_utf8_lossy(&output.stderr).into_owned(), output.status.code())
}

fn length_prefixed(messages: &[&[u8]]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| (m.len() as u32).to_be_bytes().into_iter().chain(m.iter().copied()))
        .collect()
}

#[test]
fn echo_keeps_each_line_and_each_length_prefixed_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo");
    let server = hvcat(&["-l", "--echo", &uri(&path)]).spawn().unwrap();
    wait_for(&path);
    let (out, err, code) = client(&[&uri(&path)], b"one\n\nthree words\nno newline");
    assert_eq!(
        (code, String::from_utf8_lossy(&out).as_ref()),
        (Some(0), "one\n\nthree words\nno newline\n"),
        "{err}"
    );
    let binary = length_prefixed(&[b"a\nb", b"", &[0, 255, 10], &[9; 100_000]]);
    let (out, err, code) = client(&["--length-prefixed", &uri(&path)], &binary);
    assert_eq!(code, Some(0), "{err}");
    assert!(out == binary, "{} bytes back of {}", out.len(), binary.len());
    stop(server);
}

#[test]
fn a_listener_receives_each_line_as_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one");
    let mut server = hvcat(&["-l", "--length-prefixed", &uri(&path)]).spawn().unwrap();
    drop(server.stdin.take()); // nothing to send back
    wait_for(&path);
    let (_, err, code) = client(&[&uri(&path)], b"one\n\nthree words\n4");
    assert_eq!(code, Some(0), "{err}");
    let output = server.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(output.stdout, length_prefixed(&[b"one", b"", b"three words", b"4"]));
    assert!(!path.exists(), "the socket file is removed");
}

#[test]
fn keep_open_serves_connection_after_connection_with_the_library_as_peer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    let mut server = hvcat(&["-l", "-k", &uri(&path)]).spawn().unwrap();
    let mut to_server = server.stdin.take().unwrap();
    wait_for(&path);
    for i in 0..3 {
        let conn = Seqpacket::connect(&Addr::Unix(path.clone())).unwrap();
        writeln!(to_server, "to {i}").unwrap();
        let mut buf = Vec::new();
        assert_eq!(conn.recv_vec(&mut buf).unwrap(), Some(4), "connection {i}");
        assert_eq!(buf, format!("to {i}").as_bytes());
        conn.send(format!("from {i}").as_bytes()).unwrap();
        conn.send(b"").unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        drop(conn);
    }
    drop(to_server);
    let stdout = {
        let mut out = server.stdout.take().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let _ = server.kill();
        let _ = server.wait();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).unwrap();
        text
    };
    assert_eq!(stdout, "from 0\n\nfrom 1\n\nfrom 2\n\n");
}

#[test]
fn a_relay_between_message_ends_keeps_boundaries_and_refuses_a_stream_end() {
    let dir = tempfile::tempdir().unwrap();
    let (front, back) = (dir.path().join("front"), dir.path().join("back"));
    let echo = hvcat(&["-l", "--echo", &uri(&back)]).spawn().unwrap();
    wait_for(&back);
    let relay = hvcat(&["-l", "-k", &uri(&front), "--relay", &uri(&back)]).spawn().unwrap();
    wait_for(&front);
    let messages = length_prefixed(&[b"x", b"", b"two\nlines", &[7; 50_000]]);
    for round in 0..3 {
        let (out, err, code) = client(&["--length-prefixed", &uri(&front)], &messages);
        assert_eq!(code, Some(0), "round {round}: {err}");
        assert!(out == messages, "round {round}: {} bytes back", out.len());
    }
    stop(relay);
    stop(echo);
    let stream = format!("unix://{}", back.display());
    for (from, to) in [(uri(&front), stream.clone()), (stream, uri(&front))] {
        let output = hvcat(&["-l", &from, "--relay", &to]).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{from} -> {to}: {err}");
        assert!(err.contains("message") && err.contains("boundaries"), "{err}");
    }
}

#[test]
fn stream_options_and_transports_without_messages_are_refused_by_name() {
    for (args, needle) in [
        (&["--framed", "unix+seqpacket:///tmp/sp-none"][..], "--framed is not available in message mode"),
        (&["-l", "-e", "cat", "unix+seqpacket:///tmp/sp-none"], "--exec is not available in message mode"),
        (&["hybrid+seqpacket://:5/tmp/sp-v.sock"], "is not supported by the hybrid vsock transport"),
        (&["tcp+seqpacket://127.0.0.1:9"], "is not supported by the TCP transport"),
    ] {
        let output = hvcat(args).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("hvcat: ") && err.contains(needle), "{args:?}: {err}");
    }
}

/// A vsock message-mode client, with `socket(2)` made to fail (strace injects `EACCES`)
/// so that nothing reaches this machine's own vsock: the error names the address as
/// written.
#[test]
fn a_vsock_message_mode_failure_names_the_address() {
    let output = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "inject=socket:error=EACCES"])
        .arg(env!("CARGO_BIN_EXE_hvcat"))
        .arg("vsock+seqpacket://1:5000")
        .stdin(Stdio::null())
        .output()
        .expect("strace (apt-get install strace) runs hvcat with socket(2) failing");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.starts_with("hvcat: connect vsock+seqpacket://1:5000: "), "{err}");
}

#[test]
fn hvstress_checks_messages_in_message_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stress");
    let server = tool("hvstress", &["-s", &uri(&path)]).spawn().unwrap();
    wait_for(&path);
    let child =
        tool("hvstress", &["-c", &uri(&path), "-p", "2", "-i", "4", "--messages", "500", "--seed", "3"])
            .spawn()
            .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains(" 4 connections to unix+seqpacket://")
            && stdout.contains(", 2000 messages (")
            && stdout.contains(" 0 mismatches, 0 errors"),
        "{stdout}"
    );
    stop(server);
    // Against a server that merges every two messages into one, the check fails and
    // says where.
    let merging = dir.path().join("merging");
    let listener = hvsock::SeqpacketListener::bind(&Addr::Unix(merging.clone())).unwrap();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        while conn.recv_vec(&mut first).unwrap().is_some() {
            if conn.recv_vec(&mut second).unwrap().is_some() {
                first.extend_from_slice(&second);
            }
            conn.send(&first).unwrap();
        }
        conn.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let child =
        tool("hvstress", &["-c", &uri(&merging), "-i", "1", "--messages", "10", "-l", "1K", "--seed", "5"])
            .spawn()
            .unwrap();
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains(" 1 mismatches, 0 errors"), "{stdout}");
    assert!(stderr.contains(": sent ") && stderr.contains("a boundary moved"), "{stderr}");
}

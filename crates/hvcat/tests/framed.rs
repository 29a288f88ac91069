//! `--framed` end to end over Unix sockets: request and reply through a framed listener,
//! a framed peer that goes away without finishing, the relay between plain and framed,
//! `-z`, and the exact bytes hvcat puts on the wire.
#![cfg(unix)]

mod kit;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use hvsock::framed::Framed;
use kit::*;

fn uri(path: &std::path::Path) -> String {
    format!("unix://{}", path.display())
}

#[test]
fn request_then_reply_through_a_framed_command() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let server = hvcat(&["-l", "--framed", "-c", "wc -c; echo done", &uri(&sock)]).spawn().unwrap();
    wait_for(&sock);
    let mut client = hvcat(&["--framed", &uri(&sock)]).spawn().unwrap();
    client.stdin.take().unwrap().write_all(b"req\n").unwrap(); // then end of input
    let mut reply = String::new();
    client.stdout.take().unwrap().read_to_string(&mut reply).unwrap();
    let (status, stderr, _) = finish_within(client, Duration::from_secs(20));
    assert!(status.success(), "client: {stderr}");
    assert_eq!(reply.split_whitespace().collect::<Vec<_>>(), ["4", "done"]);
    let (status, stderr, _) = finish_within(server, Duration::from_secs(20));
    assert!(status.success(), "server: {stderr}");
}

#[test]
fn the_wire_holds_data_frames_then_shutdown_write_then_close() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut client = hvcat(&["--framed", &uri(&sock)]).spawn().unwrap();
    client.stdin.take().unwrap().write_all(b"hello").unwrap();
    let (mut raw, _) = listener.accept().unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut wire = [0u8; 13];
    raw.read_exact(&mut wire).unwrap();
    assert_eq!(wire, [5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o', 0xad, 0xde, 0xef, 0xbe]);
    // Our reply, our ShutdownWrite: hvcat prints the reply, then closes (Close), and we
    // answer its Close.
    raw.write_all(&[2, 0, 0, 0, b'o', b'k', 0xad, 0xde, 0xef, 0xbe]).unwrap();
    let mut close = [0u8; 4];
    raw.read_exact(&mut close).unwrap();
    assert_eq!(close, [0xad, 0xde, 0xad, 0xde]);
    raw.write_all(&close).unwrap();
    let mut out = String::new();
    client.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let (status, stderr, _) = finish_within(client, Duration::from_secs(20));
    assert!(status.success(), "{stderr}");
    assert_eq!(out, "ok");
}

/// A framed sender of 100,000 bytes to a receiving `hvcat --framed`, which `finish`
/// ends; how hvcat ended.
fn receive_from(finish: fn(Framed<hvsock::Stream>) -> std::io::Result<()>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let listener = hvsock::Listener::bind(&uri(&sock).parse().unwrap()).unwrap();
    let client = hvcat(&["--framed", &uri(&sock)]).stdin(Stdio::null()).spawn().unwrap();
    let (stream, _) = listener.accept().unwrap();
    let sender = thread::spawn(move || {
        let mut framed = Framed::new(stream);
        framed.write_all(&[7u8; 100_000]).unwrap();
        finish(framed)
    });
    let output = client.wait_with_output().unwrap();
    sender.join().unwrap().unwrap();
    assert_eq!(output.stdout.len(), 100_000, "what arrived is delivered");
    output
}

#[test]
fn a_framed_sender_that_goes_away_without_finishing_fails_the_receiver() {
    // As if killed: no ShutdownWrite, no Close.
    let output = receive_from(|framed| {
        drop(framed);
        Ok(())
    });
    let stderr = output_stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("went away without finishing"), "{stderr}");
}

#[test]
fn a_finished_framed_sender_is_success_with_no_length_given() {
    let output = receive_from(|framed| {
        framed.shutdown(Shutdown::Write)?;
        framed.close()
    });
    assert!(output.status.success(), "{}", output_stderr(&output));
}

#[test]
fn plain_clients_through_a_relay_to_a_framed_echo() {
    let dir = tempfile::tempdir().unwrap();
    let (front, back) = (dir.path().join("front"), dir.path().join("back"));
    let echo = hvcat(&["-l", "--echo", "--framed", &uri(&back)]).spawn().unwrap();
    wait_for(&back);
    let relay = hvcat(&["-l", "-k", &uri(&front), "--relay", &uri(&back), "--relay-framed"]).spawn().unwrap();
    wait_for(&front);
    let clients: Vec<_> = (0..20u8)
        .map(|i| {
            let front = front.clone();
            thread::spawn(move || {
                let mut stream = UnixStream::connect(&front).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let request = vec![i; 50_000 + usize::from(i)];
                stream.write_all(&request).unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
                let mut reply = Vec::new();
                stream.read_to_end(&mut reply).unwrap();
                assert!(reply == request, "client {i}: {} bytes back of {}", reply.len(), request.len());
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let relay_log = stop(relay);
    assert!(!relay_log.contains("WARN") && !relay_log.contains("error"), "{relay_log}");
    let echo_log = stop(echo);
    assert!(!echo_log.contains("WARN") && !echo_log.contains("error"), "{echo_log}");
}

#[test]
fn probe_wants_a_framed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (framed, plain) = (dir.path().join("framed"), dir.path().join("plain"));
    let echo = hvcat(&["-l", "--echo", "--framed", &uri(&framed)]).spawn().unwrap();
    wait_for(&framed);
    let output = hvcat(&["-z", "--framed", &uri(&framed)]).output().unwrap();
    assert!(output.status.success(), "{}", output_stderr(&output));
    // A listener that takes the connection but never speaks the protocol.
    let _silent = UnixListener::bind(&plain).unwrap();
    let started = std::time::Instant::now();
    let output = hvcat(&["-z", "--framed", &uri(&plain)]).output().unwrap();
    let stderr = output_stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not acknowledge the framed Close"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(15));
    stop(echo);
}

#[test]
fn hvstress_and_hvbench_framed_on_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (echo_sock, bench_sock) = (dir.path().join("echo"), dir.path().join("bench"));
    let echo = tool("hvstress", &["-s", &uri(&echo_sock), "--framed"]).spawn().unwrap();
    let bench = tool("hvbench", &["-s", &uri(&bench_sock), "--framed"]).spawn().unwrap();
    wait_for(&echo_sock);
    wait_for(&bench_sock);
    let stress = tool("hvstress", &["-c", &uri(&echo_sock), "--framed", "-p", "4", "-i", "40", "-l", "1M"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&stress.stdout);
    assert!(stress.status.success(), "{stdout} {}", output_stderr(&stress));
    assert!(stdout.contains("40 connections") && stdout.contains("0 mismatches, 0 errors"), "{stdout}");
    let run = tool(
        "hvbench",
        &[&uri(&bench_sock), "--framed", "--sizes", "4K,1M", "--bytes", "8M", "--latency", "20", "--json"],
    )
    .output()
    .unwrap();
    let json = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{json} {}", output_stderr(&run));
    assert_eq!(json.matches("\"direction\"").count(), 4, "{json}");
    // A framed client against a plain server fails, and says why, rather than
    // measuring garbage.
    let plain_sock = dir.path().join("plain");
    let plain = tool("hvbench", &["-s", &uri(&plain_sock)]).spawn().unwrap();
    wait_for(&plain_sock);
    let mixed =
        tool("hvbench", &[&uri(&plain_sock), "--framed", "--sizes", "4K", "--bytes", "1M", "--latency", "1"])
            .output()
            .unwrap();
    assert_eq!(mixed.status.code(), Some(1), "{}", output_stderr(&mixed));
    for server in [echo, bench, plain] {
        stop(server);
    }
}

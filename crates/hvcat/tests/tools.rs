//! hvstress and hvbench as processes, over Unix sockets.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn tool(name: &str, args: &[&str]) -> Command {
    let path = match name {
        "hvstress" => env!("CARGO_BIN_EXE_hvstress"),
        _ => env!("CARGO_BIN_EXE_hvbench"),
    };
    let mut command = Command::new(path);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(name: &str, path: &Path) -> Server {
    let child = tool(name, &["-s", &format!("unix://{}", path.display())]).spawn().unwrap();
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(10));
        thread::sleep(Duration::from_millis(10));
    }
    Server(child)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(!text(&output.stderr).contains("panicked"), "{}", text(&output.stderr));
    output
}

#[test]
fn stress_passes_against_an_honest_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo");
    let _server = server("hvstress", &path);
    let uri = format!("unix://{}", path.display());
    let output = run(&mut tool("hvstress", &["-c", &uri, "-p", "4", "-i", "24", "-l", "1M", "--seed", "42"]));
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("24 connections") && stdout.contains("0 mismatches, 0 errors"), "{stdout}");
    assert!(stdout.contains("seed 42"), "{stdout}");
}

#[test]
fn stress_without_half_close_reads_back_exactly_what_it_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo");
    let _server = server("hvstress", &path);
    let uri = format!("unix://{}", path.display());
    let args = ["-c", &uri, "-p", "2", "-i", "10", "-l", "300K", "--no-half-close"];
    let output = run(&mut tool("hvstress", &args));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("10 connections")
            && text(&output.stdout).contains("0 mismatches, 0 errors")
    );
}

#[test]
fn stress_catches_a_corrupting_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad");
    let listener = UnixListener::bind(&path).unwrap();
    // Echoes everything but flips one bit of the 1000th byte of each connection.
    thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            thread::spawn(move || {
                let mut all = Vec::new();
                conn.read_to_end(&mut all).unwrap();
                if let Some(b) = all.get_mut(999) {
                    *b ^= 1;
                }
                conn.write_all(&all).unwrap();
                conn.shutdown(Shutdown::Write).unwrap();
            });
        }
    });
    let uri = format!("unix://{}", path.display());
    let output = run(&mut tool("hvstress", &["-c", &uri, "-i", "5", "-l", "64K", "--seed", "7"]));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("sha256"), "the mismatch is described: {stderr}");
    assert!(stderr.contains("failed the check"), "{stderr}");
}

#[test]
fn stress_reports_connection_errors() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("unix://{}", dir.path().join("nothing").display());
    let output = run(&mut tool("hvstress", &["-c", &uri, "-i", "3"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains("3 errors"), "{}", text(&output.stdout));
    assert!(text(&output.stderr).contains("no socket at"), "{}", text(&output.stderr));
}

#[test]
fn bench_prints_table_json_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench");
    let _server = server("hvbench", &path);
    let uri = format!("unix://{}", path.display());
    let svg = dir.path().join("plot.svg");
    let args =
        ["--sizes", "4K,64K", "--bytes", "2M", "--latency", "50", "--json", "--svg", svg.to_str().unwrap()];
    let output = run(tool("hvbench", &args).arg(&uri));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json = text(&output.stdout);
    assert_eq!(json.matches("\"direction\"").count(), 4, "{json}");
    assert!(json.contains("\"write_size\":65536") && json.contains("\"bytes\":2097152"), "{json}");
    assert!(json.contains("\"latency\":{\"count\":50,"), "{json}");
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(plot.matches("<circle").count(), 4);

    let table = run(tool("hvbench", &["--sizes", "1K", "--bytes", "1M", "--latency", "10"]).arg(&uri));
    assert!(table.status.success());
    let table = text(&table.stdout);
    assert!(table.contains("1.0 KiB   send") && table.contains("p99"), "{table}");

    let only = run(tool("hvbench", &["--latency-only", "--latency", "20", "--json"]).arg(&uri));
    assert!(only.status.success(), "{}", text(&only.stderr));
    let json = text(&only.stdout);
    assert!(json.contains("\"throughput\":[]") && json.contains("\"latency\":{\"count\":20,"), "{json}");
}

#[test]
fn bad_usage_exits_2() {
    for (name, args) in [
        ("hvstress", vec![]),
        ("hvstress", vec!["-c", "vsock://x:1"]),
        ("hvstress", vec!["-c", "unix:///x", "-l", "lots"]),
        ("hvbench", vec![]),
        ("hvbench", vec!["unix:///x", "--sizes", "0"]),
        ("hvbench", vec!["unix:///x", "--direction", "sideways"]),
    ] {
        let output = run(&mut tool(name, &args));
        assert_eq!(output.status.code(), Some(2), "{name} {args:?}");
        assert!(text(&output.stderr).starts_with(&format!("{name}: ")), "{}", text(&output.stderr));
    }
}

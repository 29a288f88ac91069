//! The test kit of the tools' end-to-end tests: starting them, waiting for them, and
//! clients that hold a connection.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // each test binary uses its own part
pub use hvsock_testkit::{answer_ok, jammed_listener, payload, wait_for, FakeDevice};

/// One of the package's binaries (`hvcat`, `hvstress`, `hvbench`) with `args`, its
/// standard streams piped.
pub fn tool(name: &str, args: &[&str]) -> Command {
    let path = match name {
        "hvcat" => env!("CARGO_BIN_EXE_hvcat"),
        "hvstress" => env!("CARGO_BIN_EXE_hvstress"),
        "hvbench" => env!("CARGO_BIN_EXE_hvbench"),
        other => panic!("no tool {other}"),
    };
    let mut command = Command::new(path);
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

pub fn hvcat(args: &[&str]) -> Command {
    tool("hvcat", args)
}

/// Waits for `child` at most `limit`; returns its exit status, stderr and the time taken.
pub fn finish_within(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, stderr_of(&mut child), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: {}", stderr_of(&mut child));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Stops `child` (SIGKILL) and returns what it wrote on standard error.
pub fn stop(mut child: Child) -> String {
    let _ = child.kill();
    let _ = child.wait();
    stderr_of(&mut child)
}

/// What a finished run wrote on standard error.
pub fn output_stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

/// What became of a client connection within `wait`.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    /// Still open: nothing arrived, no end-of-file.
    Held,
    /// These bytes arrived.
    Answered(Vec<u8>),
    /// End-of-file or a reset: the server closed it.
    Closed,
}

/// Connects to the Unix socket at `path`, sends `send` (if any) and says what happens
/// within `wait`.
pub fn client(path: &Path, send: &[u8], wait: Duration) -> (UnixStream, Fate) {
    let stream = UnixStream::connect(path).unwrap();
    if !send.is_empty() {
        let _ = (&stream).write_all(send);
    }
    let fate = fate(&stream, wait);
    (stream, fate)
}

/// What arrives on `stream` within `wait`.
pub fn fate(stream: &UnixStream, wait: Duration) -> Fate {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    let mut reader = stream;
    match reader.read(&mut buf) {
        Ok(0) => Fate::Closed,
        Ok(n) => Fate::Answered(buf[..n].to_vec()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Fate::Held,
        Err(_) => Fate::Closed,
    }
}

/// Open descriptors of process `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// CPU time (user + system) process `pid` has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

//! hvraw: the plainest possible sender and receiver over any hvsock address, the
//! yardstick for hvcat's throughput in `cargo xtask bench lab`.
//!
//! hvsock only sets the connection up (socket and connect, or the hybrid / hyperkit
//! handshake; or bind, listen and accept). The bytes then move with one `send(2)` per
//! MiB from a buffer filled once (or from standard input, one `read(2)` of a MiB before
//! each), or one `recv(2)` of up to a MiB into a buffer that is thrown away: no
//! threads, no copies in user space beyond that one read.
//!
//! ```text
//! hvraw send URI BYTES       connect, send BYTES, close
//! hvraw send URI -           connect, send standard input (1 MiB `read(2)`s), close
//! hvraw recv URI [BYTES]     listen on URI, accept one connection, receive until
//!                            end-of-file (or until BYTES have arrived), close
//! hvraw read -               read standard input (1 MiB `read(2)`s) to its end and
//!                            nothing else: what `send URI -` spends on its input
//! ```
//!
//! On standard error: `hvraw: listening on ADDR` once a receiver listens, and one line
//! with the byte count, time and rate at the end. Exit status 0, 1 on an I/O error or a
//! short transfer, 2 on bad usage.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use hvsock::{Addr, Listener, Stream};

/// The size of every `send(2)` and `recv(2)`.
const CHUNK: usize = 1 << 20;

const USAGE: &str = "usage: hvraw send URI BYTES|- | hvraw recv URI [BYTES] | hvraw read -";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["read", "-"] {
        return report("read", "standard input", Instant::now(), read_input(|_| Ok(())));
    }
    let parsed = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["send", uri, "-"] => parse(uri, None).map(|(a, n)| (true, a, n)),
        ["send", uri, bytes] => parse(uri, Some(bytes)).map(|(a, n)| (true, a, n)),
        ["recv", uri] => parse(uri, None).map(|(a, n)| (false, a, n)),
        ["recv", uri, bytes] => parse(uri, Some(bytes)).map(|(a, n)| (false, a, n)),
        _ => Err(USAGE.to_string()),
    };
    let (send, addr, bytes) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("hvraw: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let result = match (send, bytes) {
        (true, Some(bytes)) => sender(&addr, bytes),
        (true, None) => stdin_sender(&addr),
        (false, want) => receiver(&addr, want),
    };
    report(if send { "sent" } else { "received" }, &addr.to_string(), started, result)
}

/// Prints the byte count, time and rate since `started`, or the error naming `what`.
fn report(done: &str, what: &str, started: Instant, result: io::Result<u64>) -> ExitCode {
    match result {
        Ok(n) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!("hvraw: {done} {n} bytes in {secs:.3} s ({:.1} MB/s)", n as f64 / 1e6 / secs.max(1e-9));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hvraw: {what}: {e}");
            ExitCode::from(1)
        }
    }
}

fn parse(uri: &str, bytes: Option<&str>) -> Result<(Addr, Option<u64>), String> {
    let addr = uri.parse::<Addr>().map_err(|e| e.to_string())?;
    let bytes = match bytes {
        Some(b) => Some(b.parse::<u64>().map_err(|_| format!("`{b}` is not a byte count\n{USAGE}"))?),
        None => None,
    };
    Ok((addr, bytes))
}

/// Connects and sends `bytes` bytes; closing the connection is the end-of-file.
fn sender(addr: &Addr, bytes: u64) -> io::Result<u64> {
    let buf: Vec<u8> = (0..CHUNK).map(|i| (i * 131 % 251) as u8).collect();
    let mut stream = Stream::connect(addr)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        stream.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(bytes)
}

/// Connects and sends standard input, read a MiB at a time, to its end.
fn stdin_sender(addr: &Addr) -> io::Result<u64> {
    let mut stream = Stream::connect(addr)?;
    read_input(|chunk| stream.write_all(chunk))
}

/// Reads standard input a MiB at a time (`read(2)`, no buffering) to its end, handing
/// each piece to `each`; returns the byte count.
fn read_input(mut each: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut stdin = io::stdin().lock();
    let mut total = 0;
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                each(&buf[..n])?;
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Accepts one connection and reads it to end-of-file (or `want` bytes).
fn receiver(addr: &Addr, want: Option<u64>) -> io::Result<u64> {
    let listener = Listener::bind(addr)?;
    eprintln!("hvraw: listening on {}", listener.local_addr());
    let (mut stream, _) = listener.accept()?;
    drop(listener);
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let room = want.map_or(CHUNK as u64, |w| (w - total).min(CHUNK as u64)) as usize;
        if room == 0 {
            return Ok(total);
        }
        match stream.read(&mut buf[..room]) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    match want {
        Some(w) if total < w => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("end-of-file after {total} of {w} bytes"),
        )),
        _ => Ok(total),
    }
}

//! spawn-latency: how long a client program, started afresh, takes to connect, send one
//! byte and bring the server's one-byte answer back: the connect latency of a tool used
//! as a netcat is used (`cargo xtask bench latency`, docs/performance.md).
//!
//! ```text
//! spawn-latency [--warmup K] [--reset-ok] N CMD [ARGS...] [-- CMD [ARGS...]]...
//! ```
//!
//! For each sample of each command: the clock (monotonic) starts, the command is
//! spawned with standard input and output pipes, `P` is written to its standard input
//! (which stays open), and the clock is read when the first byte arrives on its standard
//! output (`first`). That byte must be `P`. Then its standard input is closed, its
//! output read to the end (nothing more may come), and the clock is read again when it
//! has exited (`exit`), which must be with status 0. Its standard error goes to a file,
//! shown if it fails. With `--reset-ok`, an exit status other than 0 is taken too when
//! standard error says "Transport endpoint is not connected" (ENOTCONN): through
//! vhost-device-vsock a guest's side of a connection the host closes is often reset
//! rather than closed (docs/lab.md), and the answer has arrived by then.
//!
//! The commands take turns, one sample each, so that a slow patch of the machine hits
//! them alike; K rounds (default 3) go first and are not reported. Output, on standard
//! output: one line per sample, `INDEX FIRST_NS EXIT_NS RESET` (INDEX: the command's
//! position, from 0; RESET: 1 if it was a reset taken by `--reset-ok`, else 0); on
//! failure a message on standard error and exit status 1.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const USAGE: &str = "usage: spawn-latency [--warmup K] [--reset-ok] N CMD [ARGS...] [-- CMD [ARGS...]]...";

/// The byte sent, and the byte the server must answer.
const PING: u8 = b'P';

/// What standard error says when the connection was reset under a reader.
const RESET: &str = "Transport endpoint is not connected";

/// The command line.
#[derive(Debug, PartialEq)]
struct Options {
    warmup: usize,
    reset_ok: bool,
    samples: usize,
    commands: Vec<Vec<String>>,
}

/// One sample.
#[derive(Debug)]
struct Sample {
    first_ns: u128,
    exit_ns: u128,
    reset: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(options) = parse(&args) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let err = std::env::temp_dir().join(format!("spawn-latency.{}.err", std::process::id()));
    let code = run(&options, &err);
    let _ = std::fs::remove_file(&err);
    code
}

fn run(options: &Options, err: &Path) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for round in 0..options.warmup + options.samples {
        for (index, command) in options.commands.iter().enumerate() {
            match sample(command, err, options.reset_ok) {
                Ok(s) if round >= options.warmup => {
                    let _ = writeln!(out, "{index} {} {} {}", s.first_ns, s.exit_ns, u8::from(s.reset));
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("spawn-latency: {}: {e}", command.join(" "));
                    return ExitCode::from(1);
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// The options, or `None` for bad usage.
fn parse(mut args: &[String]) -> Option<Options> {
    let (mut warmup, mut reset_ok) = (3, false);
    loop {
        match args {
            [flag, k, rest @ ..] if flag == "--warmup" => (warmup, args) = (k.parse().ok()?, rest),
            [flag, rest @ ..] if flag == "--reset-ok" => (reset_ok, args) = (true, rest),
            _ => break,
        }
    }
    let (n, rest) = args.split_first()?;
    let commands: Vec<Vec<String>> = rest.split(|a| a == "--").map(<[String]>::to_vec).collect();
    if commands.iter().any(Vec::is_empty) {
        return None;
    }
    Some(Options { warmup, reset_ok, samples: n.parse().ok().filter(|&n| n > 0)?, commands })
}

/// One run of `command`, its standard error into the file `err`.
fn sample(command: &[String], err: &Path, reset_ok: bool) -> Result<Sample, String> {
    let stderr = File::create(err).map_err(|e| format!("{}: {e}", err.display()))?;
    let started = Instant::now();
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no standard input pipe")?;
    let mut stdout = child.stdout.take().ok_or("no standard output pipe")?;
    let sent = stdin.write_all(&[PING]);
    let mut byte = [0u8; 1];
    let got = stdout.read(&mut byte);
    let first_ns = started.elapsed().as_nanos();
    drop(stdin);
    let mut rest = Vec::new();
    let drained = stdout.read_to_end(&mut rest);
    let status = child.wait().map_err(|e| format!("waiting: {e}"))?;
    let exit_ns = started.elapsed().as_nanos();
    let said = std::fs::read_to_string(err).unwrap_or_default();
    let said = said.trim_end();
    match got {
        Ok(1) if byte[0] == PING => {}
        Ok(1) => return Err(format!("answered {:#04x}, not {PING:#04x} ({status}) {said}", byte[0])),
        Ok(_) => return Err(format!("ended its output without an answer ({status}) {said}")),
        Err(e) => return Err(format!("reading its output: {e}")),
    }
    sent.map_err(|e| format!("writing its standard input: {e}"))?;
    drained.map_err(|e| format!("reading its output: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} more bytes after the answer", rest.len()));
    }
    let reset = !status.success() && reset_ok && said.contains(RESET);
    if !status.success() && !reset {
        return Err(format!("exited with {status}: {said}"));
    }
    Ok(Sample { first_ns, exit_ns, reset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("spawn-latency-test.{}.{name}", std::process::id()))
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_commands_and_options() {
        let o = parse(&words("5 hvcat unix:///s -- socat - UNIX-CONNECT:/s")).unwrap();
        assert_eq!((o.warmup, o.reset_ok, o.samples), (3, false, 5));
        assert_eq!(o.commands, vec![words("hvcat unix:///s"), words("socat - UNIX-CONNECT:/s")]);
        let o = parse(&words("--reset-ok --warmup 0 2 cat")).unwrap();
        assert_eq!((o.warmup, o.reset_ok, o.samples, o.commands.len()), (0, true, 2, 1));
        assert!(parse(&words("0 cat")).is_none());
        assert!(parse(&words("2 cat --")).is_none());
        assert!(parse(&words("2")).is_none());
        assert!(parse(&words("--warmup x 2 cat")).is_none());
    }

    #[test]
    fn times_an_answer_and_checks_it() {
        let err = scratch("err");
        let run = |cmd: &[String], reset_ok| sample(cmd, &err, reset_ok);
        let sh = |script: &str| vec!["sh".to_string(), "-c".into(), script.into()];
        // `cat` answers with what it is sent: the ping itself.
        let s = run(&words("cat"), false).unwrap();
        assert!(s.first_ns > 0 && s.first_ns <= s.exit_ns && !s.reset);
        assert!(run(&words("printf Q"), false).unwrap_err().contains("not 0x50"));
        assert!(run(&words("true"), false).unwrap_err().contains("without an answer"));
        let failed = run(&sh("cat; echo broken >&2; exit 3"), false).unwrap_err();
        assert!(failed.contains("exited with") && failed.contains("broken"), "{failed}");
        assert!(run(&sh("cat; echo more"), false).unwrap_err().contains("more bytes"));
        assert!(run(&words("/nonexistent/client"), false).unwrap_err().contains("cannot start"));

        let reset = sh(&format!("cat; echo 'x: {RESET} (os error 107)' >&2; exit 1"));
        assert!(run(&reset, false).is_err());
        assert!(run(&reset, true).unwrap().reset);
        assert!(run(&sh("cat; exit 1"), true).is_err(), "only that error is taken");
        let _ = std::fs::remove_file(&err);
    }
}

//! Integrity under parallel load: every connection sends a random payload of random
//! length, half-closes, and checks that the echo has the same SHA-256.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use hvsock::{Addr, ConnectOptions};
use sha2::{Digest, Sha256};

use crate::conn::Conn;
use crate::payload::Rng;
use crate::progress::Progress;

mod messages;

/// What a stress run does.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The echo server.
    pub addr: Addr,
    /// Connections at the same time.
    pub parallel: usize,
    /// Connections in all.
    pub connections: u64,
    /// The largest payload of one connection.
    pub max_len: u64,
    /// Seeds the payload lengths and contents.
    pub seed: u64,
    /// How to connect (timeouts, retries).
    pub connect: ConnectOptions,
    /// Report each connection on standard error.
    pub verbose: bool,
    /// Half-close after sending and read the echo to end-of-file (the default); without
    /// it, read back exactly as many bytes as were sent, then close: for backends that
    /// turn a half-close into a full close (vhost-device-vsock, Firecracker).
    pub half_close: bool,
    /// Speak the framed protocol (half-close and close in-band).
    pub framed: bool,
    /// Message mode: each connection sends messages (`max_len` is then the largest
    /// message), and checks that each comes back whole, alone, and in order.
    pub messages: Option<MessagePlan>,
}

/// The messages of each connection, in message mode.
#[derive(Clone, Copy, Debug)]
pub struct MessagePlan {
    /// How many each connection sends.
    pub count: u64,
    /// Every message exactly `max_len` bytes, instead of 0 to `max_len` at random.
    pub fixed_size: bool,
}

/// What a stress run saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// Connections that completed.
    pub connections: u64,
    /// Bytes sent (and so expected back).
    pub bytes: u64,
    /// Messages sent (and so expected back), in message mode.
    pub messages: u64,
    /// Connections whose echo differed.
    pub mismatches: u64,
    /// Connections that failed, with the first few reasons.
    pub errors: u64,
    /// The first few failure messages.
    pub first_failures: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Summary {
    /// Whether every connection came back intact.
    pub fn ok(&self) -> bool {
        self.mismatches == 0 && self.errors == 0
    }
}

/// One connection's result.
enum Outcome {
    /// Bytes and messages, each way.
    Intact(u64, u64),
    Mismatch(String),
    Failed(String),
}

/// Runs `plan` and returns what happened; progress on standard error.
pub fn run(plan: &Plan) -> Summary {
    let next = AtomicU64::new(0);
    let summary = Mutex::new(Summary::default());
    let progress = Mutex::new(Progress::new("hvstress", plan.connections, true));
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..plan.parallel.max(1) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= plan.connections {
                    return;
                }
                let outcome = match &plan.messages {
                    Some(each) => messages::one(plan, each, index),
                    None => one(plan, index),
                };
                let mut s = summary.lock().unwrap();
                s.connections += 1;
                match outcome {
                    Outcome::Intact(bytes, messages) => {
                        s.bytes += bytes;
                        s.messages += messages;
                    }
                    Outcome::Mismatch(why) => record(&mut s, why, true),
                    Outcome::Failed(why) => record(&mut s, why, false),
                }
                let note = format!("{} mismatches, {} errors", s.mismatches, s.errors);
                progress.lock().unwrap().update(s.connections, &note);
            });
        }
    });
    progress.lock().unwrap().finish();
    let mut summary = summary.into_inner().unwrap();
    summary.elapsed = started.elapsed();
    summary
}

fn record(summary: &mut Summary, why: String, mismatch: bool) {
    if mismatch {
        summary.mismatches += 1;
    } else {
        summary.errors += 1;
    }
    if summary.first_failures.len() < 10 {
        summary.first_failures.push(why);
    }
}

/// Connection number `index`: its payload comes from the seed and the index alone, so a
/// failure can be reproduced.
fn one(plan: &Plan, index: u64) -> Outcome {
    let mut rng = rng_of(plan, index);
    let len = rng.up_to(plan.max_len);
    let started = Instant::now();
    let stream = match Conn::connect(&plan.addr, &plan.connect, plan.framed) {
        Ok(stream) => stream,
        Err(e) => return Outcome::Failed(format!("connection {index}: {e}")),
    };
    let result = thread::scope(|scope| {
        let sender = scope.spawn(|| send(&stream, rng, len, plan.half_close));
        let mut received = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let limit = if plan.half_close { u64::MAX } else { len };
        let got = crate::drain_up_to(&stream, &mut buf, limit, |data| received.update(data));
        let sent = sender.join().unwrap_or_else(|_| Err(io::Error::other("the sender panicked")));
        (sent, got, received.finalize())
    });
    let outcome = match result {
        (Err(e), _, _) => Outcome::Failed(format!("connection {index}: sending {len} bytes: {e}")),
        (_, Err(e), _) => Outcome::Failed(format!("connection {index}: receiving: {e}")),
        (Ok(sent), Ok(got), received) if got == len && sent == received => Outcome::Intact(len, 0),
        (Ok(sent), Ok(got), received) => Outcome::Mismatch(format!(
            "connection {index}: sent {len} bytes (sha256 {}), got {got} back (sha256 {})",
            hex(&sent),
            hex(&received)
        )),
    };
    let outcome = match (outcome, stream.finish()) {
        (Outcome::Intact(..), Err(e)) => Outcome::Failed(format!("connection {index}: closing: {e}")),
        (outcome, _) => outcome,
    };
    report(plan, index, &format!("{len} bytes"), started, &outcome);
    outcome
}

/// With `-v`, one line for connection `index`, which moved `what` each way.
fn report(plan: &Plan, index: u64, what: &str, started: Instant, outcome: &Outcome) {
    if plan.verbose {
        let status = match outcome {
            Outcome::Intact(..) => "ok",
            Outcome::Mismatch(_) => "MISMATCH",
            Outcome::Failed(_) => "FAILED",
        };
        eprintln!(
            "hvstress: connection {index}: {what} each way in {:.3} s: {status}",
            started.elapsed().as_secs_f64()
        );
    }
}

/// The generator of connection `index`'s payload: from the seed and the index alone,
/// so that a failure can be reproduced.
fn rng_of(plan: &Plan, index: u64) -> Rng {
    Rng::new(plan.seed ^ index.wrapping_mul(0x2545_f491_4f6c_dd1d))
}

/// Sends `len` bytes from `rng` in randomly sized writes, then half-closes if
/// `half_close`; returns the SHA-256 of what it sent.
fn send(stream: &Conn, mut rng: Rng, len: u64, half_close: bool) -> io::Result<sha2::digest::Output<Sha256>> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    let mut out = stream;
    while left > 0 {
        let size = (rng.up_to(buf.len() as u64 - 1) + 1).min(left) as usize;
        rng.fill(&mut buf[..size]);
        hash.update(&buf[..size]);
        out.write_all(&buf[..size])?;
        left -= size as u64;
    }
    if half_close {
        stream.shutdown_write()?;
    }
    Ok(hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

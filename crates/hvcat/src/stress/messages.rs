//! Message mode of the stress run: each connection sends messages of random size, 0 to
//! the largest (1 to it over vsock, which carries no empty message), or all of one
//! size, then shuts down for writing; every echoed message must come back
//! alone (its boundary where it was sent), whole, in order, and no more of them.

use std::io;
use std::net::Shutdown;
use std::thread;
use std::time::Instant;

use hvsock::Seqpacket;

use super::{report, rng_of, MessagePlan, Outcome, Plan};
use crate::payload::Rng;

/// The messages of one connection, from its generator: the same sequence for the sender
/// and for the checker.
struct Messages {
    rng: Rng,
    /// 1 over vsock, which cannot carry an empty message (hvsock refuses one); else 0.
    min_len: u64,
    max_len: u64,
    fixed_size: bool,
}

impl Messages {
    fn next(&mut self, buf: &mut Vec<u8>) {
        let len = match self.fixed_size {
            true => self.max_len,
            false => self.min_len + self.rng.up_to(self.max_len.saturating_sub(self.min_len)),
        };
        buf.resize(len as usize, 0);
        self.rng.fill(buf);
    }
}

/// Connection number `index`, in message mode.
pub(super) fn one(plan: &Plan, messages: &MessagePlan, index: u64) -> Outcome {
    let started = Instant::now();
    let min_len = u64::from(matches!(plan.addr, hvsock::Addr::Vsock(_)));
    let sequence = || Messages {
        rng: rng_of(plan, index),
        min_len,
        max_len: plan.max_len.max(min_len),
        fixed_size: messages.fixed_size,
    };
    let conn = match Seqpacket::connect_with(&plan.addr, &plan.connect) {
        Ok(conn) => conn,
        Err(e) => return Outcome::Failed(format!("connection {index}: {e}")),
    };
    let outcome = thread::scope(|scope| {
        let sender = scope.spawn(|| send(&conn, sequence(), messages.count));
        let checked = check(&conn, sequence(), messages.count);
        let sent = sender.join().unwrap_or_else(|_| Err(io::Error::other("the sender panicked")));
        match (sent, checked) {
            (Err(e), _) => Outcome::Failed(format!("connection {index}: sending: {e}")),
            (_, Err(e)) => Outcome::Failed(format!("connection {index}: receiving: {e}")),
            (Ok(bytes), Ok(Ok(()))) => Outcome::Intact(bytes, messages.count),
            (Ok(_), Ok(Err(why))) => Outcome::Mismatch(format!("connection {index}: {why}")),
        }
    });
    report(plan, index, &format!("{} messages", messages.count), started, &outcome);
    outcome
}

/// Sends `count` messages, then shuts down for writing; the bytes sent.
fn send(conn: &Seqpacket, mut messages: Messages, count: u64) -> io::Result<u64> {
    let (mut buf, mut bytes) = (Vec::new(), 0);
    for _ in 0..count {
        messages.next(&mut buf);
        conn.send(&buf)?;
        bytes += buf.len() as u64;
    }
    conn.shutdown(Shutdown::Write)?;
    Ok(bytes)
}

/// Receives the echo to its end: `Ok(Err(why))` for the first message out of place.
fn check(conn: &Seqpacket, mut messages: Messages, count: u64) -> io::Result<Result<(), String>> {
    let (mut expected, mut got, mut n) = (Vec::new(), Vec::new(), 0u64);
    while conn.recv_vec(&mut got)?.is_some() {
        if n == count {
            return Ok(Err(format!("a message came back beyond the {count} sent ({} bytes)", got.len())));
        }
        messages.next(&mut expected);
        if got.len() != expected.len() {
            return Ok(Err(format!(
                "message {n}: sent {} bytes, got back a message of {}: a boundary moved",
                expected.len(),
                got.len()
            )));
        }
        if got != expected {
            let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(0);
            return Ok(Err(format!("message {n} ({} bytes): contents differ from byte {at}", got.len())));
        }
        n += 1;
    }
    if n < count {
        return Ok(Err(format!("the echo ended after {n} of the {count} messages sent")));
    }
    Ok(Ok(()))
}

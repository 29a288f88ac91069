//! What the tests of `hvsock` and `hvcat` share (a dev-only crate, never published):
//! one payload generator, two-way transfers with half-close, a fake hybrid-vsock
//! device, a jammed listener, and waits. Unix-only parts are marked.

use std::io::{Read, Write};
use std::net::Shutdown;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::{answer_ok, assert_silent, jammed_listener, jammed_listener_of, read_request, FakeDevice};

/// The sizes of the seed's transfer matrix: around 4 KiB pages, the 8 KiB message size,
/// and 1 MiB (larger than a socket buffer).
pub const SEED_SIZES: [usize; 14] =
    [0, 1, 4, 4095, 4096, 4097, 4098, 4099, 5000, 5001, 5002, 1048575, 1048576, 1048577];

/// A few sizes for transports whose framing is already covered by the full matrix.
pub const FEW_SIZES: [usize; 5] = [0, 1, 4097, 65536, 1048577];

/// `len` deterministic pseudo-random bytes (xorshift64*), different for each `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// One end of a connection, whatever its type.
pub trait End: Read + Write + Send + Sized + 'static {
    fn another(&self) -> Self;
    fn close_write(&self);
}

impl End for hvsock::Stream {
    fn another(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

#[cfg(unix)]
impl End for UnixStream {
    fn another(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn close_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

/// Sends `a_to_b` bytes from `a` to `b` and `b_to_a` bytes back at the same time; each
/// side shuts down for writing when done and reads to end-of-file. Asserts that every
/// byte arrived, in order.
pub fn exchange(a: impl End, b: impl End, a_to_b: usize, b_to_a: usize) {
    let sent_ab = payload(a_to_b as u64, a_to_b);
    let sent_ba = payload(!(b_to_a as u64), b_to_a);
    let wa = send_and_close(a.another(), sent_ab.clone());
    let wb = send_and_close(b.another(), sent_ba.clone());
    let rb = thread::spawn(move || read_all(b));
    let got_ba = read_all(a);
    let got_ab = rb.join().unwrap();
    wa.join().unwrap();
    wb.join().unwrap();
    assert_eq!(got_ab.len(), a_to_b, "bytes a -> b");
    assert_eq!(got_ba.len(), b_to_a, "bytes b -> a");
    assert!(got_ab == sent_ab, "a -> b content differs ({a_to_b} bytes)");
    assert!(got_ba == sent_ba, "b -> a content differs ({b_to_a} bytes)");
}

/// Writes `data` to `end` and shuts it down for writing, on a thread of its own.
fn send_and_close(mut end: impl End, data: Vec<u8>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        end.write_all(&data).unwrap();
        end.close_write();
    })
}

pub fn read_all(mut end: impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    end.read_to_end(&mut got).unwrap();
    got
}

/// Asserts that `err` is a timeout, that its message names `addr`, and that it came
/// `took` after the start: within `expected`, give or take 10% (and 100 ms).
pub fn assert_timed_out_after(err: &std::io::Error, addr: &hvsock::Addr, took: Duration, expected: Duration) {
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{addr}: {err}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("connect {addr}: ")) && text.contains("timed out"), "{text}");
    let (low, high) = (expected.mul_f64(0.98), expected.mul_f64(1.1) + Duration::from_millis(100));
    assert!(took >= low && took <= high, "{addr}: timed out after {took:?}, expected about {expected:?}");
}

/// Waits (at most 10 s) for `path` to appear.
pub fn wait_for(path: &Path) {
    let started = Instant::now();
    while std::fs::symlink_metadata(path).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "{} never appeared", path.display());
        thread::sleep(Duration::from_millis(10));
    }
}

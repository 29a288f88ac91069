//! Throughput by write size and connect latency, against `hvbench -s`.
//!
//! The protocol: the client's first byte picks the test.
//! - `W` + count (8 bytes LE): the client writes that many bytes; the server reads them
//!   and answers with the byte count it got (8 bytes LE). No half-close is needed, so
//!   this works through backends that turn a half-close into a full close
//!   (vhost-device-vsock, Firecracker).
//! - `R` + count (8 bytes LE) + write size (4 bytes LE): the server writes that many
//!   bytes in writes of that size, then closes.
//! - `P`: the server answers one byte `P` at once (connect latency).
//!
//! With `--framed` on both ends the same requests travel in the framed protocol, and
//! each end closes with a framed close once done (not timed).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use hvsock::{Addr, ConnectOptions, Stream};

use crate::conn::Conn;

use crate::payload::Rng;

/// The direction of a throughput run, seen from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Send,
    /// Server to client.
    Recv,
}

impl Direction {
    /// `send` or `recv`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Recv => "recv",
        }
    }
}

/// One throughput measurement.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Which way the bytes went.
    pub direction: Direction,
    /// The size of each write.
    pub write_size: usize,
    /// Bytes moved.
    pub bytes: u64,
    /// How long it took, from the first byte to the last acknowledged.
    pub elapsed: Duration,
}

impl Sample {
    /// 10^6 bytes per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Serves one benchmark connection.
pub fn serve(stream: Stream) -> io::Result<()> {
    serve_conn(&Conn::Plain(stream))
}

/// Serves one benchmark connection spoken framed.
pub fn serve_framed(stream: Stream) -> io::Result<()> {
    let conn = Conn::new(stream, true);
    serve_conn(&conn)?;
    conn.finish()
}

fn serve_conn(stream: &Conn) -> io::Result<()> {
    let mut op = [0u8; 1];
    (&*stream).read_exact(&mut op)?;
    match op[0] {
        b'W' => {
            let mut count = [0u8; 8];
            (&*stream).read_exact(&mut count)?;
            let mut buf = vec![0u8; 1 << 20];
            let total = crate::drain_up_to(stream, &mut buf, u64::from_le_bytes(count), |_| {})?;
            (&*stream).write_all(&total.to_le_bytes())
        }
        b'R' => {
            let mut header = [0u8; 12];
            (&*stream).read_exact(&mut header)?;
            let total = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
            let size =
                u32::from_le_bytes(header[8..].try_into().unwrap_or_default()).clamp(1, 64 << 20) as usize;
            write_n(stream, total, size)?;
            stream.shutdown_write()
        }
        b'P' => (&*stream).write_all(b"P"),
        other => {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("unknown benchmark request {other:#04x}")))
        }
    }
}

/// Writes `total` bytes in writes of `size`.
fn write_n(stream: &Conn, total: u64, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    Rng::new(size as u64).fill(&mut buf);
    let mut out = stream;
    let mut left = total;
    while left > 0 {
        let n = left.min(size as u64) as usize;
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Moves `bytes` in `direction` with writes of `write_size` over a new connection,
/// framed or not.
pub fn throughput(
    addr: &Addr,
    options: &ConnectOptions,
    framed: bool,
    direction: Direction,
    write_size: usize,
    bytes: u64,
) -> io::Result<Sample> {
    let conn = Conn::connect(addr, options, framed)?;
    let stream = &conn;
    let started;
    match direction {
        Direction::Send => {
            let mut request = vec![b'W'];
            request.extend_from_slice(&bytes.to_le_bytes());
            (&*stream).write_all(&request)?;
            started = Instant::now();
            write_n(stream, bytes, write_size)?;
            let mut count = [0u8; 8];
            (&*stream).read_exact(&mut count)?;
            check_count(u64::from_le_bytes(count), bytes)?;
        }
        Direction::Recv => {
            let mut request = vec![b'R'];
            request.extend_from_slice(&bytes.to_le_bytes());
            request.extend_from_slice(&(write_size as u32).to_le_bytes());
            (&*stream).write_all(&request)?;
            started = Instant::now();
            let mut buf = vec![0u8; 1 << 20];
            check_count(crate::drain(stream, &mut buf, |_| {})?, bytes)?;
        }
    }
    let elapsed = started.elapsed();
    conn.finish()?;
    Ok(Sample { direction, write_size, bytes, elapsed })
}

fn check_count(got: u64, want: u64) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("{got} of {want} bytes arrived")))
    }
}

/// How long connect + handshake + the first byte back take, once.
pub fn ping(addr: &Addr, options: &ConnectOptions, framed: bool) -> io::Result<Duration> {
    let started = Instant::now();
    let conn = Conn::connect(addr, options, framed)?;
    (&conn).write_all(b"P")?;
    let mut pong = [0u8; 1];
    (&conn).read_exact(&mut pong)?;
    let elapsed = started.elapsed();
    conn.finish()?;
    Ok(elapsed)
}

/// Percentiles of a set of latencies.
#[derive(Clone, Debug, PartialEq)]
pub struct Latency {
    /// How many were measured.
    pub count: usize,
    /// The fastest.
    pub min: Duration,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Latency {
    /// Percentiles (nearest rank) of `samples`; `None` if there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        samples.sort();
        let rank = |p: f64| {
            samples[((p / 100.0 * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Some(Latency {
            count: samples.len(),
            min: *samples.first()?,
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: *samples.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<_> = (1..=100).map(Duration::from_micros).collect();
        let l = Latency::of(samples).unwrap();
        assert_eq!((l.count, l.min, l.max), (100, Duration::from_micros(1), Duration::from_micros(100)));
        assert_eq!(
            (l.p50, l.p90, l.p99),
            (Duration::from_micros(50), Duration::from_micros(90), Duration::from_micros(99))
        );
        assert_eq!(Latency::of(vec![Duration::from_millis(3)]).unwrap().p99, Duration::from_millis(3));
        assert!(Latency::of(vec![]).is_none());
    }
}

//! What the tools share: the engines behind `hvstress` (integrity under parallel load)
//! and `hvbench` (throughput by write size, connect latency), over any hvsock address;
//! reports; logging; the command-line conventions (messages and exit codes); the accept
//! loop. What is one tool's own lives beside its `main.rs`, in `src/bin/NAME/`.

pub mod bench;
pub mod conn;
pub mod conventions;
pub mod framing;
pub mod log;
pub mod messages;
pub mod payload;
pub mod progress;
pub mod release;
pub mod report;
pub mod serve;
pub mod signals;
pub mod stress;

use std::io::{self, Read, Write};

/// Reads `stream` to end-of-file into `sink`, in `buf`-sized reads; returns the count.
pub fn drain(stream: impl Read, buf: &mut [u8], sink: impl FnMut(&[u8])) -> io::Result<u64> {
    drain_up_to(stream, buf, u64::MAX, sink)
}

/// Reads `stream` into `sink` until `limit` bytes or end-of-file, whichever comes first;
/// returns the count. Reads never go past `limit`.
pub fn drain_up_to(
    mut stream: impl Read,
    buf: &mut [u8],
    limit: u64,
    mut sink: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let mut total = 0;
    while total < limit {
        let want = buf.len().min(usize::try_from(limit - total).unwrap_or(usize::MAX));
        match stream.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                sink(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

/// The size of one read: large enough that a bulk transfer costs few system calls.
pub const CHUNK: usize = 256 * 1024;

/// Copies `from` to `to` until end-of-file; returns the byte count. Errors say which
/// side failed, by the names given.
pub fn pipe(mut from: impl Read, from_name: &str, mut to: impl Write, to_name: &str) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(named(e, "reading", from_name)),
        };
        to.write_all(&buf[..n]).map_err(|e| named(e, "writing", to_name))?;
        total += n as u64;
    }
}

/// An I/O error that says what was being done to what.
pub fn named(err: io::Error, doing: &str, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {what}: {err}"))
}

/// Sends a connection back everything it sends, then shuts down for writing; returns
/// the byte count: the server of `hvcat --echo` and `hvstress -s`. Every read and write
/// is recorded in `activity` (for an idle timeout).
pub fn echo(stream: &hvsock::Stream, activity: &hvsock::idle::Activity) -> io::Result<u64> {
    let peer = serve::peer_name(stream);
    let n = pipe(activity.count(stream), &peer, activity.count(stream), &peer)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    Ok(n)
}

/// [`echo`] in the framed protocol, closing with a framed close: the server of
/// `hvstress -s --framed`.
pub fn echo_framed(stream: hvsock::Stream) -> io::Result<u64> {
    let peer = serve::peer_name(&stream);
    let conn = conn::Conn::new(stream, true);
    let n = pipe(&conn, &peer, &conn, &peer)?;
    conn.shutdown_write()?;
    conn.finish().map_err(|e| named(e, "closing", &peer))?;
    Ok(n)
}

/// Serves `listener` forever, each connection on a thread of its own, for `hvstress -s`
/// and `hvbench -s`; a connection's error is logged and never stops the others.
pub fn serve_each(listener: &hvsock::Listener, handler: fn(hvsock::Stream) -> io::Result<()>) -> ! {
    serve::serve(listener, &serve::Limits::default(), serve::Dispatch::Thread, false, move |stream| {
        if let Err(e) = handler(stream) {
            tracing::warn!("{e}");
        }
    })
}

/// Parses sizes like `4096`, `64K`, `1M`, `2G` (binary multiples).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size (e.g. 4096, 64K, 10M)"))
}

/// `1.5 MiB`-style rendering of a byte count.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("").is_err() && parse_size("K").is_err() && parse_size("1T").is_err());
        assert!(parse_size("99999999999G").is_err());
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 << 20), "10.0 MiB");
    }
}

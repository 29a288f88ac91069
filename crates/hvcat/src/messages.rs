//! Message mode (`+seqpacket` addresses) for the tools: messages read from and written
//! to a byte stream (standard input and output), the message echo, and the relay of
//! messages between two message-mode connections.
//!
//! On a byte stream a message is a line (its bytes without the `\n`; a last line
//! without one is a message too), or with [`Format::LengthPrefixed`] a 4-byte
//! big-endian length and that many bytes, for messages that hold newlines or binary
//! data.

use std::io::{self, BufRead, Write};
use std::net::Shutdown;
use std::thread;

use crate::named;
use crate::serve::{admits, Accepting, Dispatch, Limits};
use hvsock::{Addr, PeerFilter, Seqpacket, SeqpacketListener};

/// How messages are written on a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One message per line.
    Lines,
    /// A 4-byte big-endian length, then the message.
    LengthPrefixed,
}

/// The longest message read from a byte stream: no connection carries more at once
/// (Unix sockets up to their send buffer, vsock up to 256 KiB by default).
pub const LONGEST: usize = 16 << 20;

/// Reads the next message from `input` into `buf`: `false` at the end of `input`.
pub fn read_message(input: &mut impl BufRead, format: Format, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    match format {
        Format::Lines => {
            if input.read_until(b'\n', buf)? == 0 {
                return Ok(false);
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Ok(true)
        }
        Format::LengthPrefixed => {
            let mut prefix = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match input.read(&mut prefix[got..])? {
                    0 if got == 0 => return Ok(false),
                    0 => return Err(cut("a length prefix")),
                    n => got += n,
                }
            }
            let len = u32::from_be_bytes(prefix) as usize;
            if len > LONGEST {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a length prefix says {len} bytes, more than any connection carries in one message ({LONGEST} at most)"),
                ));
            }
            buf.resize(len, 0);
            input.read_exact(buf).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => cut(&format!("a message of {len} bytes")),
                _ => e,
            })?;
            Ok(true)
        }
    }
}

fn cut(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, format!("the input ended in the middle of {what}"))
}

/// Writes `msg` to `out` in `format`.
pub fn write_message(out: &mut impl Write, format: Format, msg: &[u8]) -> io::Result<()> {
    match format {
        Format::Lines => {
            out.write_all(msg)?;
            out.write_all(b"\n")
        }
        Format::LengthPrefixed => {
            let len =
                u32::try_from(msg.len()).map_err(|_| io::Error::other("a message longer than 4 GiB"))?;
            out.write_all(&len.to_be_bytes())?;
            out.write_all(msg)
        }
    }
}

/// Sends a connection back every message it sends, each as it came, then shuts down
/// for writing; returns the count: the server of `hvcat --echo` and `hvstress -s` in
/// message mode.
pub fn echo(conn: &Seqpacket) -> io::Result<u64> {
    let peer = peer_name(conn);
    let mut buf = Vec::new();
    let mut count = 0;
    while conn.recv_vec(&mut buf).map_err(|e| named(e, "receiving from", &peer))?.is_some() {
        conn.send(&buf).map_err(|e| named(e, "sending to", &peer))?;
        count += 1;
    }
    conn.shutdown(Shutdown::Write)?;
    Ok(count)
}

/// Moves every message from `from` to `to`, each as it came, then shuts `to` down for
/// writing; returns the count.
pub fn forward(from: &Seqpacket, to: &Seqpacket) -> io::Result<u64> {
    let mut buf = Vec::new();
    let mut count = 0;
    while from.recv_vec(&mut buf).map_err(|e| named(e, "receiving from", &peer_name(from)))?.is_some() {
        to.send(&buf).map_err(|e| named(e, "sending to", &peer_name(to)))?;
        count += 1;
    }
    to.shutdown(Shutdown::Write)?;
    Ok(count)
}

/// Relays messages both ways between `a` and `b` until both directions have ended
/// (an end passed on as a shutdown); returns the counts (a to b, b to a).
pub fn relay(a: &Seqpacket, b: &Seqpacket) -> io::Result<(u64, u64)> {
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    let back = thread::Builder::new().spawn(move || forward(&b2, &a2))?;
    let there = forward(a, b);
    if there.is_err() {
        // Nothing more can cross: end the other direction too.
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    }
    let back = back.join().unwrap_or_else(|_| Err(io::Error::other("the relaying thread panicked")));
    Ok((there?, back?))
}

/// Accepts the next connection that `filter` admits; refused ones are closed and logged.
pub fn accept_admitted(listener: &SeqpacketListener, filter: Option<&PeerFilter>) -> io::Result<Seqpacket> {
    loop {
        let (conn, _) = listener.accept()?;
        if admits(filter.map_or(Ok(()), |f| f.check_seqpacket(&conn))) {
            return Ok(conn);
        }
    }
}

/// "connection from PEER" (or the address it came in on): what `-v` says of each.
pub fn describe(conn: &Seqpacket) -> String {
    match conn.peer_addr() {
        Addr::Unnamed => format!("accepted a connection on {}", conn.local_addr()),
        peer => format!("connection from {peer}"),
    }
}

/// Serves message-mode connections on `listener` forever, each on a thread of its own
/// with `handler`, within `limits` (each connection logged if `announce`): the accept
/// loop of `hvcat -l --echo`, `--relay` and `hvstress -s` in message mode.
pub fn serve<H>(listener: &SeqpacketListener, limits: &Limits, announce: bool, handler: H) -> !
where
    H: Fn(Seqpacket) + Send + Sync + 'static,
{
    crate::serve::serve(listener, limits, Dispatch::Thread, announce, handler)
}

impl Accepting for SeqpacketListener {
    type Conn = Seqpacket;

    fn accept_admitted(&self, filter: Option<&PeerFilter>) -> io::Result<Seqpacket> {
        accept_admitted(self, filter)
    }

    fn describe(conn: &Seqpacket) -> String {
        describe(conn)
    }

    fn peer_name(conn: &Seqpacket) -> String {
        peer_name(conn)
    }
}

/// The peer of a connection for messages: its address, or the listening address.
pub fn peer_name(conn: &Seqpacket) -> String {
    crate::serve::name_peer(conn.peer_addr(), conn.local_addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], format: Format) -> io::Result<Vec<Vec<u8>>> {
        let mut reader = io::BufReader::new(input);
        let (mut out, mut buf) = (Vec::new(), Vec::new());
        while read_message(&mut reader, format, &mut buf)? {
            out.push(buf.clone());
        }
        Ok(out)
    }

    #[test]
    fn lines_are_messages_and_an_empty_line_is_an_empty_message() {
        let got = read_all(b"one\n\ntwo words\nlast", Format::Lines).unwrap();
        assert_eq!(got, [&b"one"[..], b"", b"two words", b"last"]);
        assert!(read_all(b"", Format::Lines).unwrap().is_empty());
        let mut out = Vec::new();
        for msg in &got {
            write_message(&mut out, Format::Lines, msg).unwrap();
        }
        assert_eq!(out, b"one\n\ntwo words\nlast\n");
    }

    #[test]
    fn length_prefixed_messages_round_trip_and_a_cut_one_is_an_error() {
        let messages = [&b"a\nb"[..], b"", &[0u8, 255, 10][..]];
        let mut out = Vec::new();
        for msg in messages {
            write_message(&mut out, Format::LengthPrefixed, msg).unwrap();
        }
        assert_eq!(&out[..7], b"\0\0\0\x03a\nb");
        assert_eq!(read_all(&out, Format::LengthPrefixed).unwrap(), messages);
        let err = read_all(&out[..out.len() - 1], Format::LengthPrefixed).unwrap_err();
        assert_eq!(err.to_string(), "the input ended in the middle of a message of 3 bytes");
        let err = read_all(&out[..2], Format::LengthPrefixed).unwrap_err();
        assert_eq!(err.to_string(), "the input ended in the middle of a length prefix");
        let err = read_all(&[0xff, 0, 0, 0], Format::LengthPrefixed).unwrap_err();
        assert!(err.to_string().starts_with("a length prefix says 4278190080 bytes"), "{err}");
    }
}

//! The hybrid-vsock handshake (Firecracker, Cloud Hypervisor, vhost-device-vsock), as
//! pure code: the request line and an incremental reader for the reply.
//!
//! The host connects to the device's Unix socket, writes `CONNECT <port>\n` and reads
//! one line. `OK <n>\n` means the guest accepted; `n` is a port number whose meaning
//! differs between devices (Firecracker and Cloud Hypervisor: the host-side port;
//! vhost-device-vsock: the guest port), so it is reported but not checked. A device
//! closes the connection without a word when nothing listens on the guest port.

use std::fmt;

/// The longest reply line accepted, newline included (Firecracker's own bound).
pub const MAX_REPLY_LEN: usize = 32;

/// The request that opens a connection to guest port `port`.
///
/// ```
/// assert_eq!(hvsock::hybrid_proto::connect_request(52), "CONNECT 52\n");
/// ```
pub fn connect_request(port: u32) -> String {
    format!("CONNECT {port}\n")
}

/// What is wrong with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The line is not `OK` or `OK <number>`.
    Garbage(String),
    /// No newline within [`MAX_REPLY_LEN`] bytes.
    TooLong(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Garbage(line) => write!(f, "unexpected reply {line:?} (expected \"OK <port>\")"),
            ReplyError::TooLong(start) => {
                write!(f, "reply longer than {MAX_REPLY_LEN} bytes without a newline: {start:?}...")
            }
        }
    }
}

impl std::error::Error for ReplyError {}

/// Reads a reply one byte at a time, so that no byte after the newline is consumed.
#[derive(Debug, Default)]
pub struct ReplyReader {
    line: Vec<u8>,
}

impl ReplyReader {
    /// A reader that has seen nothing yet.
    pub fn new() -> Self {
        ReplyReader { line: Vec::with_capacity(MAX_REPLY_LEN) }
    }

    /// Feeds the next byte. `None` while the line is incomplete; then the port from
    /// `OK <port>` (`None` for a bare `OK`), or the error.
    pub fn push(&mut self, byte: u8) -> Option<Result<Option<u32>, ReplyError>> {
        if byte == b'\n' {
            return Some(parse_reply(&self.line));
        }
        self.line.push(byte);
        if self.line.len() >= MAX_REPLY_LEN {
            return Some(Err(ReplyError::TooLong(self.partial())));
        }
        None
    }

    /// The bytes received so far, for messages about a reply cut short.
    pub fn partial(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }

    /// Whether no byte has arrived yet (a close now means "refused").
    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }
}

/// Parses a reply line without its `\n`: `OK`, or `OK` and a decimal port, separated by
/// one space; a trailing `\r` is tolerated.
pub fn parse_reply(line: &[u8]) -> Result<Option<u32>, ReplyError> {
    let text = line.strip_suffix(b"\r").unwrap_or(line);
    let garbage = || ReplyError::Garbage(String::from_utf8_lossy(line).into_owned());
    match text.strip_prefix(b"OK") {
        Some([]) => Ok(None),
        Some([b' ', digits @ ..]) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).map(Some).ok_or_else(garbage)
        }
        _ => Err(garbage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(bytes: &[u8]) -> Option<Result<Option<u32>, ReplyError>> {
        let mut reader = ReplyReader::new();
        bytes.iter().find_map(|b| reader.push(*b))
    }

    #[test]
    fn accepts_ok_with_any_port() {
        assert_eq!(feed(b"OK 1073741824\n"), Some(Ok(Some(1_073_741_824))));
        assert_eq!(feed(b"OK 5001\n"), Some(Ok(Some(5001))));
        assert_eq!(feed(b"OK\n"), Some(Ok(None)));
        assert_eq!(feed(b"OK 7\r\n"), Some(Ok(Some(7))));
    }

    #[test]
    fn stops_at_the_newline() {
        let mut reader = ReplyReader::new();
        let data = b"OK 1\nhello";
        let at = data.iter().position(|b| reader.push(*b).is_some()).unwrap();
        assert_eq!(at, 4, "nothing after the newline is consumed");
    }

    #[test]
    fn rejects_garbage_and_long_lines() {
        for bad in [
            &b"ok 1\n"[..],
            b"OK  1\n",
            b"OK 1 2\n",
            b"OK x\n",
            b"NO\n",
            b"\n",
            b"OK 99999999999\n",
            b"OK -1\n",
        ] {
            assert!(matches!(feed(bad), Some(Err(ReplyError::Garbage(_)))), "{bad:?}");
        }
        let long = [b'O'; 40];
        assert!(matches!(feed(&long), Some(Err(ReplyError::TooLong(_)))));
        assert_eq!(feed(b"OK 12"), None, "incomplete");
    }

    #[test]
    fn request_line() {
        assert_eq!(connect_request(0), "CONNECT 0\n");
        assert_eq!(connect_request(u32::MAX), "CONNECT 4294967295\n");
    }
}

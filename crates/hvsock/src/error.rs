//! I/O errors that say which operation failed on which address, and why.

use std::fmt;
use std::io;
use std::path::Path;

use crate::Addr;

/// The payload of every `io::Error` this crate returns from a socket operation:
/// the operation, the address, and the underlying error.
///
/// `err.kind()` on the outer `io::Error` is the kind of the underlying error, so
/// `ErrorKind::ConnectionRefused` and friends can be matched as usual; the OS error
/// code, if any, is on [`AddrError::source_error`].
#[derive(Debug)]
pub struct AddrError {
    op: &'static str,
    addr: String,
    source: io::Error,
}

impl AddrError {
    /// The operation that failed: `connect`, `bind`, `accept`, ...
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// The address it failed on, as a URI.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The underlying error (with `raw_os_error()` where the OS gave one).
    pub fn source_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.addr, self.source)
    }
}

impl std::error::Error for AddrError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.get_ref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Wraps `err` so that its message names `op` and `addr`; the error kind is kept.
pub(crate) fn context(err: io::Error, op: &'static str, addr: &Addr) -> io::Error {
    let kind = err.kind();
    io::Error::new(kind, AddrError { op, addr: addr.to_string(), source: err })
}

/// As [`context`], naming the address as `uri` shows it (a message-mode
/// `vsock+seqpacket://...`, say).
pub(crate) fn context_uri(err: io::Error, op: &'static str, uri: impl fmt::Display) -> io::Error {
    let kind = err.kind();
    io::Error::new(kind, AddrError { op, addr: uri.to_string(), source: err })
}

/// An error of `kind` with a message of our own.
pub(crate) fn error(kind: io::ErrorKind, message: impl Into<String>) -> io::Error {
    io::Error::new(kind, message.into())
}

/// `path` as a message shows it: as `Path::display` does, with control characters
/// escaped (`\n`, `\t`, `\u{1b}`), so that a message stays on one line and shows what
/// is there.
#[cfg_attr(not(unix), allow(dead_code))] // paths go into messages of Unix-socket transports
pub(crate) fn show_path(path: &Path) -> String {
    escape_controls(&path.to_string_lossy())
}

/// `text` with its control characters escaped as Rust writes them (`\n`, `\0`,
/// `\u{1b}`); everything else, non-ASCII included, as it is.
pub(crate) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// The error for a transport that this platform does not have.
pub(crate) fn unsupported(what: &str) -> io::Error {
    error(io::ErrorKind::Unsupported, format!("{what} is not supported on this platform"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_kind_and_names_address() {
        let addr: Addr = "vsock://2:80".parse().unwrap();
        let err = context(io::Error::from_raw_os_error(111), "connect", &addr);
        assert_eq!(err.kind(), io::Error::from_raw_os_error(111).kind());
        assert!(err.to_string().starts_with("connect vsock://2:80: "), "{err}");
        let inner = err.get_ref().unwrap().downcast_ref::<AddrError>().unwrap();
        assert_eq!(inner.source_error().raw_os_error(), Some(111));
        assert_eq!((inner.op(), inner.addr()), ("connect", "vsock://2:80"));
    }

    #[test]
    fn paths_in_messages_show_control_characters_escaped() {
        assert_eq!(show_path(Path::new("/run/vm a/ünï.sock")), "/run/vm a/ünï.sock");
        assert_eq!(show_path(Path::new("/tmp/a\nb\r\t\x1b\0\u{85}")), "/tmp/a\\nb\\r\\t\\u{1b}\\0\\u{85}");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = std::ffi::OsStr::from_bytes(b"/tmp/\xff\n");
            assert_eq!(show_path(Path::new(raw)), "/tmp/\u{fffd}\\n");
        }
    }
}

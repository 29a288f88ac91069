//! What one receive on a sequenced-packet socket means, and the errors of message mode:
//! pure logic, no system calls (`sys.rs` makes them).

use std::io;

use crate::error::error;
use crate::Addr;

/// The socket families that carry messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// Linux `AF_VSOCK`, `SOCK_SEQPACKET` (Linux 5.14 and later).
    Vsock,
    /// `AF_UNIX`, `SOCK_SEQPACKET`.
    Unix,
}

impl Family {
    /// The family of `addr`'s transport, or why it has no message mode.
    pub(crate) fn of(addr: &Addr) -> io::Result<Family> {
        match addr {
            Addr::Vsock(_) => Ok(Family::Vsock),
            Addr::Unix(_) => Ok(Family::Unix),
            other => Err(unsupported_transport(other)),
        }
    }
}

/// What one `recvmsg(2)` with `MSG_TRUNC` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Raw {
    /// Its return value: with `MSG_TRUNC`, the whole message's length.
    pub len: usize,
    /// `MSG_TRUNC` in `msg_flags`: the message did not fit.
    pub truncated: bool,
    /// A control message came with it. On Unix sockets with `SO_PASSCRED` every message
    /// brings its sender's `SCM_CREDENTIALS`, and end-of-file brings none: the one way
    /// to tell an empty message from the end, both of which return 0.
    pub ancillary: bool,
}

/// A message too long for the buffer it was received into. It has been taken off the
/// socket and discarded: never handed back cut short.
///
/// The payload of the `ErrorKind::InvalidData` error of [`crate::Seqpacket::recv`]
/// (reach it with `err.get_ref()` and `downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a message of {} is larger than the {capacity}-byte buffer given to receive it: it was discarded, not returned cut short (learn the next message's size with next_message_len, or receive with recv_vec, which grows its buffer)",
    len.map_or_else(|| "unknown length".to_owned(), |n| format!("{n} bytes"))
)]
pub struct MessageTooLong {
    /// The message's length, where the system said.
    pub len: Option<usize>,
    /// The buffer's.
    pub capacity: usize,
}

/// What `raw`, a receive into `capacity` bytes on a `family` socket, gave: `Some(len)`
/// for a message of `len` bytes, `None` at end-of-file, or the error of a message that
/// did not fit.
pub(crate) fn received(raw: Raw, family: Family, capacity: usize) -> io::Result<Option<usize>> {
    if raw.truncated || raw.len > capacity {
        let len = (raw.len > capacity).then_some(raw.len);
        return Err(io::Error::new(io::ErrorKind::InvalidData, MessageTooLong { len, capacity }));
    }
    Ok(match (raw.len, family) {
        (0, Family::Unix) if raw.ancillary => Some(0),
        (0, _) => None,
        (len, _) => Some(len),
    })
}

/// The length of the next message as a peek (`MSG_PEEK | MSG_TRUNC` into no buffer)
/// said it: `None` at end-of-file.
pub(crate) fn peeked(raw: Raw, family: Family) -> Option<usize> {
    match (raw.len, family) {
        (0, Family::Unix) if raw.ancillary => Some(0),
        (0, _) => None,
        (len, _) => Some(len),
    }
}

/// Checks, before sending, that a `len`-byte message can be carried by `family`: vsock
/// sends nothing for an empty message (measured on Linux 6.1: `send(2)` returns 0 and
/// the peer receives nothing), so one is refused rather than lost.
pub(crate) fn sendable(len: usize, family: Family) -> io::Result<()> {
    match (len, family) {
        (0, Family::Vsock) => Err(error(
            io::ErrorKind::InvalidInput,
            "vsock cannot carry an empty message: Linux sends nothing for a 0-byte SOCK_SEQPACKET send, so the peer would never see it",
        )),
        _ => Ok(()),
    }
}

/// Checks that a `send(2)` of a `len`-byte message sent it whole.
pub(crate) fn sent_whole(sent: usize, len: usize) -> io::Result<()> {
    if sent == len {
        Ok(())
    } else {
        Err(error(io::ErrorKind::WriteZero, format!("sent {sent} of the {len} bytes of a message")))
    }
}

/// Says what a failed `send(2)` of a `len`-byte message means.
pub(crate) fn explain_send(err: io::Error, len: usize) -> io::Error {
    if err.raw_os_error() == Some(libc_emsgsize()) {
        return error(
            err.kind(),
            format!("a message of {len} bytes is larger than this connection carries in one (EMSGSIZE): Unix sockets take up to their send buffer (SO_SNDBUF), vsock up to the receiver's buffer (SO_VM_SOCKETS_BUFFER_SIZE, 256 KiB by default)"),
        );
    }
    err
}

#[cfg(unix)]
fn libc_emsgsize() -> i32 {
    libc::EMSGSIZE
}

#[cfg(not(unix))]
fn libc_emsgsize() -> i32 {
    10040 // WSAEMSGSIZE
}

/// The error of message mode asked of a transport that has none.
pub(crate) fn unsupported_transport(addr: &Addr) -> io::Error {
    let why = match addr {
        Addr::Hybrid(_) => "hybrid vsock is a byte stream through the VMM's Unix socket (CONNECT/OK), with no message boundaries",
        Addr::Hyperkit(_) => "hyperkit carries a byte stream through its Unix sockets, with no message boundaries",
        Addr::HyperV(_) => "Hyper-V sockets (AF_HYPERV) have stream sockets only",
        Addr::Tcp(_) => "TCP is a byte stream",
        _ => "an unnamed address cannot be connected to or listened on",
    };
    error(
        io::ErrorKind::Unsupported,
        format!("message mode (SOCK_SEQPACKET) is not supported by this transport: {why}; use vsock+seqpacket:// or unix+seqpacket://"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(len: usize, truncated: bool, ancillary: bool) -> Raw {
        Raw { len, truncated, ancillary }
    }

    #[test]
    fn an_empty_unix_message_is_told_from_the_end_by_its_credentials() {
        assert_eq!(received(raw(0, false, true), Family::Unix, 10).unwrap(), Some(0));
        assert_eq!(received(raw(0, false, false), Family::Unix, 10).unwrap(), None);
        assert_eq!(received(raw(0, false, false), Family::Vsock, 10).unwrap(), None);
        assert_eq!(received(raw(7, false, true), Family::Unix, 10).unwrap(), Some(7));
        assert_eq!(received(raw(10, false, false), Family::Vsock, 10).unwrap(), Some(10));
        assert_eq!(peeked(raw(0, false, true), Family::Unix), Some(0));
        assert_eq!(peeked(raw(0, false, false), Family::Unix), None);
        assert_eq!(peeked(raw(70_000, true, true), Family::Unix), Some(70_000));
    }

    #[test]
    fn a_message_too_long_is_an_error_that_says_so() {
        let err = received(raw(70_000, true, true), Family::Unix, 65_536).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let inner = err.get_ref().unwrap().downcast_ref::<MessageTooLong>().unwrap();
        assert_eq!(*inner, MessageTooLong { len: Some(70_000), capacity: 65_536 });
        assert!(err.to_string().starts_with(
            "a message of 70000 bytes is larger than the 65536-byte buffer given to receive it: it was discarded, not returned cut short"
        ), "{err}");
        // A kernel that flags the truncation without the whole length.
        let err = received(raw(4, true, false), Family::Vsock, 4).unwrap_err();
        assert!(
            err.to_string().starts_with("a message of unknown length is larger than the 4-byte"),
            "{err}"
        );
    }

    #[test]
    fn transports_without_messages_say_so() {
        for uri in
            ["hybrid://:5/run/v.sock", "hyperkit://:5/var/vm", "hvsock://parent/5", "tcp://127.0.0.1:5"]
        {
            let err = Family::of(&uri.parse().unwrap()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            assert!(
                err.to_string()
                    .starts_with("message mode (SOCK_SEQPACKET) is not supported by this transport: "),
                "{uri}: {err}"
            );
        }
        assert_eq!(Family::of(&"vsock://1:5".parse().unwrap()).unwrap(), Family::Vsock);
        assert_eq!(Family::of(&"unix:///tmp/s".parse().unwrap()).unwrap(), Family::Unix);
    }

    #[test]
    fn vsock_refuses_an_empty_message_it_would_lose() {
        let err = sendable(0, Family::Vsock).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("vsock cannot carry an empty message"), "{err}");
        assert!(sendable(0, Family::Unix).is_ok() && sendable(1, Family::Vsock).is_ok());
    }

    #[test]
    fn sends_are_whole_or_an_error() {
        assert!(sent_whole(5, 5).is_ok());
        assert_eq!(sent_whole(3, 5).unwrap_err().to_string(), "sent 3 of the 5 bytes of a message");
        let err = explain_send(io::Error::from_raw_os_error(libc_emsgsize()), 1 << 20);
        assert!(err
            .to_string()
            .starts_with("a message of 1048576 bytes is larger than this connection carries"));
    }
}

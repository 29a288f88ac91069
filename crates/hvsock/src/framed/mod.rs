//! The framed protocol: half-close and a lossless close carried in-band, for the
//! backends that lose them.
//!
//! vhost-device-vsock, Firecracker's and older Cloud Hypervisor's Unix backends and
//! propolis turn a half-close (`shutdown(SHUT_WR)`) into a full close, so a request
//! cannot be ended and then answered; old Windows builds drop data in flight at `close`.
//! Over such a connection, both ends can speak this protocol instead, and then
//!
//! - [`Framed::shutdown`]`(Write)` sends a `ShutdownWrite` frame: the peer reads
//!   end-of-file and can still answer;
//! - [`Framed::close`] sends `Close` and waits, for a bounded time, for the peer's `Close`
//!   in answer, so nothing in flight is lost;
//! - a connection that ends with neither a `ShutdownWrite` nor a `Close` first is an
//!   error ([`FrameError::Unfinished`]), not end-of-file: a killed sender is told apart
//!   from a finished one without knowing the length in advance.
//!
//! Both ends must speak it: it is not a socket option but bytes on the stream.
//!
//! # Wire format
//!
//! It is the `Flow_shutdown` protocol of ocaml-hvsock and of the early linuxkit/virtsock:
//! each frame starts with a 4-byte little-endian header,
//!
//! | header | frame |
//! |---|---|
//! | `0xdeadbeef` | `ShutdownRead` |
//! | `0xbeefdead` | `ShutdownWrite` |
//! | `0xdeaddead` | `Close` (answered by a `Close`) |
//! | `n` ≤ 4096 | `Data`: `n` payload bytes follow |
//!
//! Stricter than the original: any other header (a length over 4096, or a word with the
//! top bit set) is a protocol error before anything is allocated; frames after `Close`,
//! or `Data` after `ShutdownWrite`, are errors; read and write errors are reported, never
//! turned into end-of-file; the close waits only for a `Close` (not a stray
//! `ShutdownRead`), never while another thread reads, and never for ever.
//!
//! [`Framed`] is the blocking stream; [`crate::tokio::Framed`] the async one; the
//! [`Decoder`] and [`Header`] are the protocol alone, with no I/O.

mod blocking;
mod codec;
#[cfg(unix)]
mod plain;
pub(crate) mod reader;
#[cfg(all(test, unix))]
mod tests;
mod transport;

use std::io;
use std::time::Duration;

pub use blocking::Framed;
pub use codec::{
    data_headers, Decoder, Header, Item, CLOSE, HEADER_LEN, MAX_DATA, SHUTDOWN_READ, SHUTDOWN_WRITE,
};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use plain::Translator;
pub use transport::Transport;

/// How long [`Framed::close`] waits for the peer's `Close` unless told otherwise.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes one write puts on the wire in one system call: 256 KiB, four whole
/// vsock packets (Linux carries at most 64 KiB of payload in one).
pub const BATCH_WIRE: usize = 256 * 1024;

/// The frames of a full batch (128 slices for `sendmsg(2)`).
pub const BATCH_FRAMES: usize = 64;

/// The payload bytes one write packs into one system call: 261,888, in 64 frames whose
/// headers and payload fill [`BATCH_WIRE`] exactly. A batch of 64 × 4096 payload bytes
/// would be 256 bytes over, and cost a fifth vsock packet for those alone.
pub const BATCH: usize = BATCH_WIRE - BATCH_FRAMES * HEADER_LEN;

/// A broken rule of the protocol, or a peer that did not finish. Carried inside the
/// `io::Error`s of [`Framed`] (`err.get_ref()` downcasts to it); the error kind is
/// `InvalidData` for a malformed stream, `UnexpectedEof` for one that ended early and
/// `TimedOut` for a close never answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A header word that is neither a magic value nor a length, with its top bit set.
    #[error("framed protocol error: unknown frame header {0:#010x}")]
    UnknownHeader(u32),
    /// A `Data` length over [`MAX_DATA`].
    #[error("framed protocol error: a Data frame of {0} bytes (at most 4096 allowed)")]
    TooLong(u32),
    /// The stream ended inside a frame.
    #[error("the peer went away in the middle of a frame ({missing} bytes of its {of} missing)")]
    CutShort {
        /// How many bytes did not come.
        missing: usize,
        /// Of what: the header or the payload.
        of: &'static str,
    },
    /// The stream ended with neither `ShutdownWrite` nor `Close` before it.
    #[error("the peer went away without finishing (the connection ended with no framed ShutdownWrite or Close: the sender was killed or cut off)")]
    Unfinished,
    /// Bytes after the peer's `Close`.
    #[error("framed protocol error: data after the peer's Close")]
    AfterClose,
    /// A `Data` frame after the peer's `ShutdownWrite`.
    #[error("framed protocol error: a Data frame after the peer's ShutdownWrite")]
    AfterShutdownWrite,
    /// The peer did not answer our `Close` in time.
    #[error("the peer did not acknowledge the framed Close within {0:?}: what was in flight may be lost")]
    CloseNotAcknowledged(Duration),
    /// The connection ended before the peer answered our `Close`.
    #[error("the peer went away without acknowledging the framed Close: what was in flight may be lost")]
    CloseCutOff,
}

impl From<FrameError> for io::Error {
    fn from(err: FrameError) -> io::Error {
        let kind = match err {
            FrameError::UnknownHeader(_)
            | FrameError::TooLong(_)
            | FrameError::AfterClose
            | FrameError::AfterShutdownWrite => io::ErrorKind::InvalidData,
            FrameError::CutShort { .. } | FrameError::Unfinished | FrameError::CloseCutOff => {
                io::ErrorKind::UnexpectedEof
            }
            FrameError::CloseNotAcknowledged(_) => io::ErrorKind::TimedOut,
        };
        io::Error::new(kind, err)
    }
}

/// A copy of a stored error, to return it again (the stream stays failed).
pub(crate) fn again(err: &io::Error) -> io::Error {
    match err.get_ref().and_then(|e| e.downcast_ref::<FrameError>()) {
        Some(frame) => frame.clone().into(),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}

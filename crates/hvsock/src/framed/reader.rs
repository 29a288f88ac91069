//! The receiving half shared by the blocking and the async stream: the buffer that
//! frames arrive in, and what it gives out.

use std::io;

use super::codec::{Decoder, Header, Item};
use super::{again, BATCH_WIRE};

/// The read buffer's size: a full batch of frames with their headers.
const READ_BUF: usize = BATCH_WIRE;

/// Received bytes not yet decoded, the decoder, and the stream's failure, once failed
/// (it stays failed).
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    pub(crate) buf: Box<[u8]>,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) decoder: Decoder,
    pub(crate) failed: Option<io::Error>,
}

impl ReadBuffer {
    pub(crate) fn new() -> ReadBuffer {
        ReadBuffer {
            buf: vec![0; READ_BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            decoder: Decoder::new(),
            failed: None,
        }
    }

    /// The failure, again, if the stream has failed.
    pub(crate) fn check(&self) -> io::Result<()> {
        self.failed.as_ref().map_or(Ok(()), |e| Err(again(e)))
    }

    /// Decodes what the buffer holds into `out`, handing each control frame to
    /// `on_control`; returns the payload bytes copied (0: the buffer is used up). A
    /// protocol error is kept, and returned once the bytes before it are taken.
    pub(crate) fn pump(&mut self, out: &mut [u8], mut on_control: impl FnMut(Header)) -> io::Result<usize> {
        let mut copied = 0;
        while copied < out.len() {
            let (used, item) =
                match self.decoder.decode_up_to(&self.buf[self.start..self.end], out.len() - copied) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        let e = io::Error::from(e);
                        self.failed = Some(again(&e));
                        return if copied > 0 { Ok(copied) } else { Err(e) };
                    }
                };
            match item {
                Item::Data(payload) => {
                    out[copied..copied + payload.len()].copy_from_slice(payload);
                    copied += payload.len();
                }
                Item::Control(header) => on_control(header),
                Item::NeedMore => {}
            }
            self.start += used;
            if self.start >= self.end {
                break;
            }
        }
        Ok(copied)
    }

    /// The buffer to receive into, emptied first (everything in it has been decoded).
    pub(crate) fn space(&mut self) -> &mut [u8] {
        self.start = 0;
        self.end = 0;
        &mut self.buf
    }

    /// After a receive of `n` bytes into [`ReadBuffer::space`]: 0 is the end of the
    /// stream, an error unless the peer finished first (then it is kept).
    pub(crate) fn received(&mut self, n: usize) -> io::Result<usize> {
        self.end = n;
        if n == 0 {
            if let Err(e) = self.decoder.end_of_input() {
                let e = io::Error::from(e);
                self.failed = Some(again(&e));
                return Err(e);
            }
        }
        Ok(n)
    }

    /// A receive failed: keep the error unless it was only a timeout. A reset is a raw
    /// end of stream (a peer that closes with bytes of ours unread resets the connection
    /// on Unix sockets and TCP): judged as one, so a peer that had finished is a clean
    /// end, and one that had not "went away without finishing".
    pub(crate) fn receive_failed(&mut self, err: io::Error) -> io::Result<usize> {
        if matches!(err.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) {
            return self.received(0);
        }
        if !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
        ) {
            self.failed = Some(again(&err));
        }
        Err(err)
    }
}

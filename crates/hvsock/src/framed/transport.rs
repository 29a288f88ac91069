//! What the blocking framed stream needs of the connection under it.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use crate::Stream;

/// What [`super::Framed`] needs of the connection under it: reads and vectored writes through
/// a shared reference (so one thread can read while another writes), a read timeout for
/// the bounded close, and `shutdown`. Implemented for [`crate::Stream`] and for
/// `std`'s `TcpStream` and `UnixStream`.
pub trait Transport: Send + Sync {
    /// `recv(2)`: 0 at end of stream.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// `sendmsg(2)`.
    fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// `SO_RCVTIMEO`.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// `shutdown(2)`.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

macro_rules! impl_transport {
    ($type:ty) => {
        impl Transport for $type {
            fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&mut &*self).read(buf)
            }
            fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                (&mut &*self).write_vectored(bufs)
            }
            fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
                <$type>::set_read_timeout(self, timeout)
            }
            fn shutdown(&self, how: Shutdown) -> io::Result<()> {
                <$type>::shutdown(self, how)
            }
        }
    };
}

impl_transport!(Stream);
impl_transport!(std::net::TcpStream);
#[cfg(unix)]
impl_transport!(std::os::unix::net::UnixStream);

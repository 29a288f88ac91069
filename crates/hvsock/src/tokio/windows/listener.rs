//! An async listening hypervisor socket on Windows: a blocking socket driven by an
//! accept thread.

use std::io;
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, RawSocket};
use std::task::{ready, Context, Poll};

use super::stream::Stream;
use crate::error::context;
use crate::tokio::emulated::Acceptor;
use crate::Addr;

/// A listening hypervisor socket for tokio; see [`crate::Listener`] for what binding
/// does on each transport.
///
/// On Windows the socket stays blocking and a thread of its own accepts, one connection
/// ahead of [`Listener::accept`]. Dropping the listener never waits: the thread is
/// interrupted and the socket closed once it has gone (with any connection accepted and
/// not taken).
///
/// ```no_run
/// use tokio::io::AsyncWriteExt;
///
/// # async fn demo() -> std::io::Result<()> {
/// let listener = hvsock::tokio::Listener::bind(&"hvsock://wildcard/1234".parse().unwrap())?;
/// loop {
///     let (mut stream, peer) = listener.accept().await?;
///     tokio::spawn(async move {
///         let _ = stream.write_all(format!("hello {peer}\n").as_bytes()).await;
///     });
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    io: Acceptor<crate::Listener>,
    pub(in crate::tokio) local: Addr,
}

impl Listener {
    /// Wraps a blocking listener, starting its accept thread.
    pub fn from_std(listener: crate::Listener) -> io::Result<Listener> {
        listener.set_nonblocking(false)?;
        let local = listener.local_addr().clone();
        Ok(Listener { io: Acceptor::new(listener)?, local })
    }

    /// The blocking listener again, once the accept thread has stopped (a pending
    /// `accept` is cancelled). Fails, closing the listener, if a connection was accepted
    /// and not taken.
    pub fn into_std(self) -> io::Result<crate::Listener> {
        self.io.into_inner()
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, Addr)>> {
        let (stream, peer) =
            ready!(self.io.poll_accept(cx)).map_err(|e| context(e, "accept on", &self.local))?;
        Poll::Ready(Ok((Stream::from_std(stream)?, peer)))
    }
}

#[cfg_attr(docsrs, doc(cfg(windows)))]
impl AsRawSocket for Listener {
    fn as_raw_socket(&self) -> RawSocket {
        self.io.get_ref().as_raw_socket()
    }
}

#[cfg_attr(docsrs, doc(cfg(windows)))]
impl AsSocket for Listener {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        AsSocket::as_socket(self.io.get_ref())
    }
}

//! An async listening hypervisor socket.

use std::io;
use std::task::{ready, Context, Poll};

use socket2::Socket;
use tokio::io::unix::AsyncFd;

use super::stream::Stream;
use crate::error::context;
use crate::transport::{self, SocketFile};
use crate::Addr;

/// A listening hypervisor socket for tokio; see [`crate::Listener`] for what binding
/// does on each transport (socket files with mode 0600, stale-file rules, cleanup).
///
/// ```no_run
/// use tokio::io::AsyncWriteExt;
///
/// # async fn demo() -> std::io::Result<()> {
/// let listener = hvsock::tokio::Listener::bind(&"vsock://:1234".parse().unwrap())?;
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
    io: AsyncFd<Socket>,
    pub(in crate::tokio) local: Addr,
    _file: Option<SocketFile>,
}

impl Listener {
    /// Wraps a blocking listener, making it non-blocking.
    pub fn from_std(listener: crate::Listener) -> io::Result<Listener> {
        let (socket, local, file) = listener.into_parts();
        socket.set_nonblocking(true)?;
        Ok(Listener { io: super::register(socket)?, local, _file: file })
    }

    /// The blocking listener again.
    pub fn into_std(self) -> io::Result<crate::Listener> {
        let socket = self.io.into_inner();
        socket.set_nonblocking(false)?;
        Ok(crate::Listener::from_parts(socket, self.local, self._file))
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, Addr)>> {
        loop {
            let mut guard = ready!(self.io.poll_read_ready(cx))?;
            match guard.try_io(|io| io.get_ref().accept()) {
                Ok(Ok((socket, raw))) => {
                    let peer = transport::peer_addr(&self.local, &raw);
                    let stream = Stream::from_parts(socket, self.local.clone(), peer.clone())?;
                    return Poll::Ready(Ok((stream, peer)));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(context(e, "accept on", &self.local))),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg_attr(docsrs, doc(cfg(unix)))]
impl std::os::fd::AsRawFd for Listener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.as_raw_fd()
    }
}

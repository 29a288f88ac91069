//! hyperkit's host side of virtio-vsock (macOS), over Unix sockets.
//!
//! hyperkit never answers a connection request: if nothing listens on the guest port,
//! it simply closes the Unix socket, so a refused connection shows up as end-of-file
//! (or `ECONNRESET`) on the first read, not as an error from `connect`.

use std::io;
use std::mem::MaybeUninit;
use std::time::Duration;

use socket2::Socket;

use super::Bound;
use crate::{Addr, HyperkitAddr, ListenOptions};

/// Waits up to `wait` for hyperkit's verdict on a connection whose header has gone
/// out: `recv(MSG_PEEK)` with a receive timeout, so nothing is consumed (see
/// [`super::plan::hyperkit_verdict`]).
pub(crate) fn confirm(socket: &Socket, port: u32, wait: Duration) -> io::Result<()> {
    socket.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
    let mut byte = [MaybeUninit::uninit()];
    let peeked = loop {
        match socket.peek(&mut byte) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break None,
            other => break Some(other),
        }
    };
    socket.set_read_timeout(None)?;
    super::plan::hyperkit_verdict(peeked, port, wait)
}

/// Listens on `<dir>/00000002.%08x`, where hyperkit connects when the guest connects to
/// the host's port.
pub(crate) fn bind(addr: &HyperkitAddr, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = super::socket_file::listen(&addr.listen_path(), options, socket2::Type::STREAM)?;
    Ok(Bound { socket, local: Addr::Hyperkit(addr.clone()), file: Some(file) })
}

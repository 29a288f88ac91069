//! hyperkit's host side of virtio-vsock (macOS), over Unix sockets.
//!
//! hyperkit never answers a connection request: if nothing listens on the guest port,
//! it simply closes the Unix socket, so a refused connection shows up as end-of-file
//! (or `ECONNRESET`) on the first read, not as an error from `connect`.

use std::io;

use super::{unix, Bound, Connected};
use crate::error::error;
use crate::{Addr, ConnectOptions, HyperkitAddr, ListenOptions};

/// Connects to `<dir>/connect` and sends the 18-byte header `%08x.%08x\n` in one write.
pub(crate) fn connect(addr: &HyperkitAddr, options: &ConnectOptions) -> io::Result<Connected> {
    let socket = unix::connect_path(&addr.connect_path(), super::deadline(options))?;
    let header = addr.connect_header();
    let sent = super::send(&socket, &header)?;
    if sent != header.len() {
        return Err(error(
            io::ErrorKind::WriteZero,
            format!("hyperkit took {sent} of the {} header bytes; it needs all in one write", header.len()),
        ));
    }
    Ok(Connected { socket, local: Addr::Unnamed })
}

/// Listens on `<dir>/00000002.%08x`, where hyperkit connects when the guest connects to
/// the host's port.
pub(crate) fn bind(addr: &HyperkitAddr, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = super::socket_file::listen(&addr.listen_path(), options)?;
    Ok(Bound { socket, local: Addr::Hyperkit(addr.clone()), file: Some(file) })
}

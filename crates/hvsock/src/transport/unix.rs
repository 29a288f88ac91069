//! Plain Unix sockets. (How every transport listens on a socket file — hyperkit, hybrid,
//! Unix — is in [`super::socket_file`].)

use std::io;
use std::path::Path;

use super::Bound;
use crate::error::error;
use crate::{Addr, ListenOptions};

/// Listens on the Unix socket at `path`.
pub(crate) fn bind(path: &Path, options: &ListenOptions) -> io::Result<Bound> {
    bind_as(socket2::Type::STREAM, path, options)
}

/// [`bind`] with a socket of type `ty` (`SOCK_SEQPACKET` for message mode).
pub(crate) fn bind_as(ty: socket2::Type, path: &Path, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = super::socket_file::listen(path, options, ty)?;
    Ok(Bound { socket, local: Addr::Unix(path.to_path_buf()), file: Some(file) })
}

/// Says what a failed `connect(2)` to the socket at `path` means (control characters
/// in the path shown escaped).
pub(crate) fn explain(err: io::Error, path: &Path) -> io::Error {
    match err.kind() {
        io::ErrorKind::NotFound => error(
            err.kind(),
            format!("no socket at {} (is the VM or service running?)", crate::error::show_path(path)),
        ),
        io::ErrorKind::ConnectionRefused => error(
            err.kind(),
            format!("connection refused: nothing listens on {}", crate::error::show_path(path)),
        ),
        _ => err,
    }
}

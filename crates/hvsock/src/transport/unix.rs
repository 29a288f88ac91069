//! Plain Unix sockets, and the filesystem rules shared by every transport that listens
//! on a socket file (hyperkit, hybrid, Unix).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use super::{deadline, Bound, Connected};
use crate::error::error;
use crate::{Addr, ConnectOptions, ListenOptions};

/// Connects to the Unix socket at `path`.
pub(crate) fn connect(path: &Path, options: &ConnectOptions) -> io::Result<Connected> {
    let socket = connect_path(path, super::deadline(options))?;
    Ok(Connected { socket, local: Addr::Unnamed })
}

/// Listens on the Unix socket at `path`.
pub(crate) fn bind(path: &Path, options: &ListenOptions) -> io::Result<Bound> {
    let (socket, file) = listen_path(path, options)?;
    Ok(Bound { socket, local: Addr::Unix(path.to_path_buf()), file: Some(file) })
}

/// `socket(AF_UNIX, SOCK_STREAM)` and `connect(2)` to `path`, by `deadline`.
pub(crate) fn connect_path(path: &Path, deadline: Option<std::time::Instant>) -> io::Result<Socket> {
    let socket = super::socket(Domain::UNIX, Type::STREAM)?;
    deadline::connect(&socket, &SockAddr::unix(path)?, deadline).map_err(|e| explain(e, path))?;
    Ok(socket)
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

/// Binds and listens on a socket file at `path` with `options.mode`.
///
/// A socket file left there by a listener that has gone away is removed first; a live
/// listener's socket, a regular file, a directory or a symlink never is. The mode is
/// set between `bind(2)` and `listen(2)`, while connections are still refused.
pub(crate) fn listen_path(path: &Path, options: &ListenOptions) -> io::Result<(Socket, SocketFile)> {
    remove_stale(path)?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    let file = SocketFile::new(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(options.mode))?;
    socket.listen(options.backlog)?;
    Ok((socket, file))
}

/// Removes `path` if it is a socket that nothing listens on.
fn remove_stale(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(meta) => meta,
    };
    let kind = meta.file_type();
    if !kind.is_socket() {
        let what = if kind.is_symlink() {
            "a symlink"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a socket"
        };
        return Err(error(
            io::ErrorKind::AddrInUse,
            format!("{} exists and is {what}; refusing to replace it", path.display()),
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(error(
            io::ErrorKind::AddrInUse,
            format!("another process is listening on {}", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// A socket file a listener created; dropping it removes the file, unless something
/// else has replaced it since.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn new(path: &Path) -> io::Result<Self> {
        let meta = fs::symlink_metadata(path)?;
        Ok(SocketFile { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

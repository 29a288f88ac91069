//! The doctor's checks of socket files (hybrid, hyperkit and Unix URIs).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use hvsock::Addr;

use super::Report;

/// The socket a hybrid, hyperkit or Unix URI connects to.
fn socket_path(addr: &Addr) -> Option<PathBuf> {
    match addr {
        Addr::Hybrid(h) => Some(h.uds.clone()),
        Addr::Hyperkit(k) => Some(k.dir.join("connect")),
        Addr::Unix(path) => Some(path.clone()),
        _ => None,
    }
}

/// Exists, is a socket, its owner and mode, may be connected to, something listens.
pub(super) fn socket_file(addr: &Addr, report: &mut Report) -> bool {
    let Some(path) = socket_path(addr) else { return true };
    let shown = path.display();
    let meta = match fs::metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report.fail(
                format!("no socket at {shown}"),
                "is the VM running? its VMM makes the socket when it starts (Firecracker: vsock uds_path; Cloud Hypervisor: --vsock socket=); check the path",
            );
            return false;
        }
        Err(e) => {
            report.fail(format!("cannot look at {shown}: {e}"), "run as the VMM's user, or root");
            return false;
        }
    };
    if !meta.file_type().is_socket() {
        report.fail(format!("{shown} is not a socket"), "point the URI at the VMM's socket");
        return false;
    }
    let (uid, mode) = (meta.uid(), meta.mode() & 0o7777);
    report.ok(format!("{shown}: a socket, owner uid {uid} gid {}, mode {mode:04o}", meta.gid()));
    if !writable(&path) {
        report.fail(
            format!(
                "this user (uid {}) may not connect to {shown} (owner uid {uid}, mode {mode:04o})",
                current_uid()
            ),
            format!("run as uid {uid} or root, or have the VMM make the socket group-writable"),
        );
        return false;
    }
    match UnixStream::connect(&path) {
        Ok(_) => {
            report.ok(format!("something listens on {shown}"));
            true
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            report.fail(
                format!("nothing listens on {shown}: a socket left behind by a VMM that has exited"),
                "start the VM (its VMM replaces the stale socket)",
            );
            false
        }
        Err(e) => {
            report.fail(format!("cannot connect to {shown}: {e}"), "see the message");
            false
        }
    }
}

/// `access(2)` with `W_OK`: connecting to a Unix socket needs write permission on it.
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK) == 0 }
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

//! Listening on a socket file in a directory that others may write to (a VMM's jail, a
//! shared `/run` or `/tmp`), without ever acting on a file other than our own socket.
//!
//! The sequence, every step relative to a directory held open by descriptor:
//!
//! 1. `flock(2)` the parent directory for the duration of the sequence, so that
//!    listeners of this crate starting at the same time take turns;
//! 2. if the name is taken by a socket that nothing listens on (asked of the kernel by
//!    inode, never by connecting to it; see [`listening`]), remove it; anything else
//!    there — a live listener, a regular file, a directory, a symlink — is left alone
//!    and the bind fails;
//! 3. create a private directory (mode 0700, ours) beside the target, bind the socket
//!    inside it (through `/proc/self/fd/N/` on Linux, so that the path cannot be
//!    redirected), set its mode there, and `listen(2)`;
//! 4. `linkat(2)` it into place — which fails rather than replace anything that appeared
//!    meanwhile — and remove the private directory.
//!
//! No step changes a mode or removes a file through a path that another user could
//! redirect with a symlink.

#[cfg(target_os = "linux")]
mod diag;
mod dir;
mod registry;
#[cfg(test)]
mod tests;

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{error, show_path as shown};
use crate::ListenOptions;
use dir::{Dir, FileId};
pub(crate) use registry::remove_all;

/// The name of the socket inside the private directory.
const SOCKET: &str = "socket";

/// How long to wait for another listener's turn in the directory (each takes
/// microseconds); past it, go on without the lock.
const LOCK_PATIENCE: Duration = Duration::from_secs(1);

/// Binds and listens on a socket file at `path` with `options`' mode and backlog, a
/// socket of type `ty` (`SOCK_STREAM`, or `SOCK_SEQPACKET` for message mode).
pub(crate) fn listen(path: &Path, options: &ListenOptions, ty: Type) -> io::Result<(Socket, SocketFile)> {
    SockAddr::unix(path)?; // clients must be able to name it
    let name = path
        .file_name()
        .ok_or_else(|| error(io::ErrorKind::InvalidInput, format!("{} names no file", shown(path))))?;
    let parent = Dir::open(parent_of(path))?;
    let lock = parent.lock(LOCK_PATIENCE)?;
    if lock.is_none() {
        tracing::debug!("{}: the directory stayed locked; binding without the lock", shown(path));
    }
    hook::call(Step::Locked, None);
    remove_stale(&parent, name, path, ty)?;
    hook::call(Step::Checked, None);
    let private = PrivateDir::create(&parent, path)?;
    hook::call(Step::PrivateDir, Some(&private.name));
    let socket = super::socket(Domain::UNIX, ty)?; // accepted sockets inherit its options
    private.bind(&socket, path)?;
    hook::call(Step::Bound, Some(&private.name));
    private.dir.chmod_at(OsStr::new(SOCKET), options.mode)?;
    hook::call(Step::ModeSet, Some(&private.name));
    socket.listen(options.listen_backlog())?;
    hook::call(Step::Listening, Some(&private.name));
    let id = private.socket_id()?;
    let file =
        registry::File { parent: parent.try_clone()?, name: name.to_owned(), path: PathBuf::from(path), id };
    let registration = registry::add_linked(file, |file| {
        private.dir.link_at(OsStr::new(SOCKET), &file.parent, name).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => in_use(path),
            _ => e,
        })
    })?;
    hook::call(Step::Linked, Some(&private.name));
    drop(private);
    drop(lock);
    Ok((socket, SocketFile { registration }))
}

/// The points of [`listen`] at which a test can play the attacker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Locked,
    Checked,
    PrivateDir,
    Bound,
    ModeSet,
    Listening,
    Linked,
}

#[cfg(test)]
pub(crate) mod hook {
    use super::Step;
    use std::cell::RefCell;
    use std::ffi::OsStr;

    type Hook = Box<dyn FnMut(Step, Option<&OsStr>)>;

    thread_local!(static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) });

    /// Runs `hook` at every step of the listens of this thread until the next `set`.
    pub fn set(hook: Option<Hook>) {
        HOOK.with(|h| *h.borrow_mut() = hook);
    }

    pub fn call(step: Step, private: Option<&OsStr>) {
        HOOK.with(|h| {
            if let Some(hook) = h.borrow_mut().as_mut() {
                hook(step, private)
            }
        });
    }
}

#[cfg(not(test))]
mod hook {
    #[inline(always)]
    pub fn call(_: super::Step, _: Option<&std::ffi::OsStr>) {}
}

/// The directory `path` is in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn in_use(path: &Path) -> io::Error {
    error(io::ErrorKind::AddrInUse, format!("another process is listening on {}", shown(path)))
}

/// Removes the entry `name` of `parent` if it is a socket that nothing listens on.
fn remove_stale(parent: &Dir, name: &OsStr, path: &Path, ty: Type) -> io::Result<()> {
    let Some(entry) = parent.stat_at(name)? else { return Ok(()) };
    if !entry.is_socket() {
        let what = if entry.is_symlink() {
            "a symlink"
        } else if entry.is_dir() {
            "a directory"
        } else {
            "not a socket"
        };
        return Err(error(
            io::ErrorKind::AddrInUse,
            format!("{} exists and is {what}; refusing to replace it", shown(path)),
        ));
    }
    if listening(entry.id, path, ty)? {
        return Err(in_use(path));
    }
    tracing::debug!("{}: removing a stale socket file", shown(path));
    match parent.unlink_at(name) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether something listens on the socket file `id` at `path`. On Linux the kernel is
/// asked by inode (`unix_diag`); where it cannot tell (no `unix_diag`, other systems), a
/// non-blocking `connect(2)` decides: refused means stale, connected or a full backlog
/// (`EAGAIN`) means live. That connection is the one thing a live listener could see.
fn listening(id: FileId, path: &Path, ty: Type) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    match diag::is_listening(id) {
        Ok(live) => return Ok(live),
        Err(e) => tracing::debug!("unix_diag: {e}; checking {} by connecting", shown(path)),
    }
    let _ = id;
    let probe = Socket::new(Domain::UNIX, ty, None)?;
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A directory of our own (mode 0700) beside the target, where the socket is bound and
/// given its mode before it is linked into place; removed when dropped.
struct PrivateDir<'a> {
    parent: &'a Dir,
    name: OsString,
    dir: Dir,
}

impl<'a> PrivateDir<'a> {
    fn create(parent: &'a Dir, path: &Path) -> io::Result<PrivateDir<'a>> {
        static SEQUENCE: AtomicU32 = AtomicU32::new(0);
        for _ in 0..64 {
            let name = OsString::from(format!(
                ".hvsock-{:x}-{:x}",
                std::process::id(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed)
            ));
            match parent.mkdir_at(&name, 0o700) {
                Ok(()) => return Self::open(parent, name, path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(error(
            io::ErrorKind::AlreadyExists,
            format!("cannot create a private directory beside {}", shown(path)),
        ))
    }

    /// Opens the directory just made, and checks that it is still ours and private.
    fn open(parent: &'a Dir, name: OsString, path: &Path) -> io::Result<PrivateDir<'a>> {
        let opened = parent.open_at(&name);
        let dir = match opened {
            Ok(dir) => dir,
            Err(e) => {
                let _ = parent.rmdir_at(&name);
                return Err(e);
            }
        };
        let private = PrivateDir { parent, name, dir };
        let meta = private.dir.stat()?;
        // SAFETY: geteuid has no preconditions.
        if meta.uid != unsafe { libc::geteuid() } || meta.mode & 0o777 != 0o700 {
            return Err(replaced(path));
        }
        Ok(private)
    }

    /// `bind(2)`s `socket` inside the directory: through `/proc/self/fd/N/` where there
    /// is one, so that no rename or symlink can send the bind elsewhere; otherwise by
    /// path, checking afterwards that the socket is where it should be.
    fn bind(&self, socket: &Socket, path: &Path) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        match socket.bind(&SockAddr::unix(self.dir.proc_path().join(SOCKET))?) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // no /proc
            result => return result,
        }
        socket.bind(&SockAddr::unix(parent_of(path).join(&self.name).join(SOCKET))?)?;
        self.socket_id().map(|_| ()).map_err(|_| replaced(path))
    }

    /// The device and inode of the socket bound here.
    fn socket_id(&self) -> io::Result<FileId> {
        match self.dir.stat_at(OsStr::new(SOCKET))? {
            Some(entry) if entry.is_socket() => Ok(entry.id),
            _ => Err(error(io::ErrorKind::NotFound, "the socket vanished from its private directory")),
        }
    }
}

fn replaced(path: &Path) -> io::Error {
    error(
        io::ErrorKind::PermissionDenied,
        format!("the private directory made beside {} was replaced while binding", shown(path)),
    )
}

impl Drop for PrivateDir<'_> {
    fn drop(&mut self) {
        let _ = self.dir.unlink_at(OsStr::new(SOCKET));
        let _ = self.parent.rmdir_at(&self.name);
    }
}

/// A socket file a listener created; dropping it removes the file, unless something
/// else has replaced it since.
#[derive(Debug)]
pub(crate) struct SocketFile {
    registration: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Some(file) = registry::take(self.registration) {
            file.remove();
        }
    }
}

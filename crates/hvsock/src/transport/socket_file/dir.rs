//! An open directory, and the `*at(2)` calls that act on one name inside it without
//! following a symlink that someone else may have put anywhere along the path since.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::error;

/// A directory, held open by a descriptor: every call below names an entry relative to
/// it, so renaming or replacing the directory's path afterwards changes nothing.
#[derive(Debug)]
pub(crate) struct Dir {
    fd: OwnedFd,
}

/// The identity of a file: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// What `fstatat(2)` says of an entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub id: FileId,
    /// `st_mode`: the type and permission bits.
    pub mode: u32,
    pub uid: u32,
}

#[allow(clippy::unnecessary_cast)] // mode_t is u32 on Linux, u16 on macOS
impl Entry {
    pub fn is_socket(&self) -> bool {
        self.mode & libc::S_IFMT as u32 == libc::S_IFSOCK as u32
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT as u32 == libc::S_IFLNK as u32
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT as u32 == libc::S_IFDIR as u32
    }
}

/// A `flock(2)` held on a directory's descriptor; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock<'a> {
    dir: &'a Dir,
}

impl Drop for DirLock<'_> {
    fn drop(&mut self) {
        // SAFETY: the fd is open (the lock borrows its directory).
        unsafe { libc::flock(self.dir.fd.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl Dir {
    /// `open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)`.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let path = c_name(path.as_os_str())?;
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        owned(fd).map(|fd| Dir { fd })
    }

    /// Another handle on the same directory (`dup(2)`: no path is looked up again).
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir { fd: self.fd.try_clone()? })
    }

    /// `openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`.
    pub fn open_at(&self, name: &OsStr) -> io::Result<Dir> {
        let name = c_name(name)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the fd is open.
        let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags) };
        owned(fd).map(|fd| Dir { fd })
    }

    /// `fstat(2)` of the directory itself.
    pub fn stat(&self) -> io::Result<Entry> {
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is open and `st` is valid for writes.
        check(unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) })?;
        Ok(entry(&st))
    }

    /// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` if there is no such entry.
    pub fn stat_at(&self, name: &OsStr) -> io::Result<Option<Entry>> {
        let name = c_name(name)?;
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the fd is open, `name` is NUL-terminated and `st` is valid for writes.
        let rc =
            unsafe { libc::fstatat(self.fd.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        match check(rc) {
            Ok(()) => Ok(Some(entry(&st))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `mkdirat(dir, name, mode)`.
    pub fn mkdir_at(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: the fd is open and `name` is NUL-terminated.
        check(unsafe { libc::mkdirat(self.fd.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })
    }

    /// `fchmodat(dir, name, mode, 0)`. Follows a symlink: call it only on entries of a
    /// directory that nobody else can write to.
    pub fn chmod_at(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: the fd is open and `name` is NUL-terminated.
        check(unsafe { libc::fchmodat(self.fd.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })
    }

    /// `linkat(dir, name, to, to_name, 0)`: a second name for the file, which fails with
    /// `EEXIST` (`ErrorKind::AlreadyExists`) rather than replace anything.
    pub fn link_at(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        let (name, to_name) = (c_name(name)?, c_name(to_name)?);
        // SAFETY: both fds are open and both names are NUL-terminated.
        check(unsafe {
            libc::linkat(self.fd.as_raw_fd(), name.as_ptr(), to.fd.as_raw_fd(), to_name.as_ptr(), 0)
        })
    }

    /// `unlinkat(dir, name, 0)`.
    pub fn unlink_at(&self, name: &OsStr) -> io::Result<()> {
        self.unlink(name, 0)
    }

    /// `unlinkat(dir, name, AT_REMOVEDIR)`.
    pub fn rmdir_at(&self, name: &OsStr) -> io::Result<()> {
        self.unlink(name, libc::AT_REMOVEDIR)
    }

    fn unlink(&self, name: &OsStr, flags: libc::c_int) -> io::Result<()> {
        let name = c_name(name)?;
        // SAFETY: the fd is open and `name` is NUL-terminated.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), flags) })
    }

    /// `flock(LOCK_EX)` on this directory's descriptor, tried without blocking until
    /// `patience` runs out; `None` then (somebody holds it for longer than any listener
    /// of ours would). Dropping the lock unlocks (`flock(LOCK_UN)`).
    pub fn lock(&self, patience: Duration) -> io::Result<Option<DirLock<'_>>> {
        let started = Instant::now();
        loop {
            // SAFETY: the fd is open.
            match check(unsafe { libc::flock(self.fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
                Ok(()) => return Ok(Some(DirLock { dir: self })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && started.elapsed() < patience => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `/proc/self/fd/N`, the path by which the kernel finds this very directory (Linux).
    #[cfg(target_os = "linux")]
    pub fn proc_path(&self) -> std::path::PathBuf {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd()).into()
    }
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn entry(st: &libc::stat) -> Entry {
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Entry {
        id: FileId { dev: st.st_dev as u64, ino: st.st_ino as u64 },
        mode: st.st_mode as u32,
        uid: st.st_uid,
    }
}

/// A name for a system call: no NUL inside.
pub(crate) fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| error(io::ErrorKind::InvalidInput, "a path with a NUL byte in it cannot be used"))
}

fn owned(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by a successful open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

//! `setsockopt(2)` and `getsockopt(2)` of one plain C value: the options `socket2` does
//! not cover (vsock's, `SO_PASSCRED`, `SO_PEERCRED`).

use std::io;
use std::os::fd::AsRawFd;

/// `setsockopt(fd, level, name, &value, sizeof value)`. `T` is the C type the option
/// takes (`c_int`, `u64`, `timeval`, ...).
pub(crate) fn set<T: Copy>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: `value` lives across the call and we pass its exact size; the kernel only
    // reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(fd, level, name)` into a `T` that starts as `init` (the C type the
/// option gives: `u64`, `ucred`, ...).
pub(crate) fn get<T: Copy>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    init: T,
) -> io::Result<T> {
    let mut value = init;
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is valid for writes of `len` bytes, its size, and `len` for one
    // socklen_t; the kernel writes at most `len` bytes.
    let rc =
        unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&mut value as *mut T).cast(), &mut len) };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

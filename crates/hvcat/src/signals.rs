//! Ending well: a tool stopped by `SIGINT`, `SIGTERM` or `SIGHUP` (Ctrl-C, systemd,
//! a closed terminal), or whose standard output was closed under it, removes its
//! listeners' socket files first and then ends as the signal would have ended it.
//! Only a tool that listens needs this ([`crate::conventions::main`] installs it then): a
//! client has no socket file to remove, and the default actions end it the same way.

/// The signals that end a tool with its socket files removed.
#[cfg(unix)]
const ENDING: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Blocks `SIGINT`, `SIGTERM` and `SIGHUP` in this thread and every thread started after
/// it (`pthread_sigmask(2)`), and starts a thread that waits for them (`sigwait(3)`) and
/// then calls [`die_of`]. Call it first thing, before any other thread starts. Child
/// processes start with no signal blocked (the standard library resets the mask).
#[cfg(unix)]
pub fn install() -> std::io::Result<()> {
    let set = signal_set(&ENDING);
    // SAFETY: `set` is an initialised sigset_t; the old mask is not asked for.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        let mut signal = 0;
        // SAFETY: `set` is initialised and `signal` is valid for writes.
        if unsafe { libc::sigwait(&set, &mut signal) } == 0 {
            die_of(signal);
        }
    })?;
    Ok(())
}

/// Removes the socket files of this process's listeners, then ends the process by
/// `signal` with its default action (`signal(2)`, unblocked, `raise(3)`), so that its
/// parent sees the usual status: killed by `signal`.
#[cfg(unix)]
pub fn die_of(signal: libc::c_int) -> ! {
    let removed = hvsock::remove_listener_files();
    tracing::debug!("signal {signal}: removed {removed} socket file(s)");
    let set = signal_set(&[signal]);
    // SAFETY: SIG_DFL is a valid disposition; `set` is initialised; raise sends the
    // signal to this thread, in which it is now unblocked.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
    std::process::exit(128 + signal) // not reached: the default action of these is to end
}

/// Standard output is gone (`EPIPE`: a reader such as `head` has had enough): end
/// quietly, as `cat` does, by `SIGPIPE`.
pub fn stdout_closed() -> ! {
    #[cfg(unix)]
    die_of(libc::SIGPIPE);
    #[cfg(not(unix))]
    {
        hvsock::remove_listener_files();
        std::process::exit(0)
    }
}

#[cfg(unix)]
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset adds to it.
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Where there are no such signals, nothing to install.
#[cfg(not(unix))]
pub fn install() -> std::io::Result<()> {
    Ok(())
}

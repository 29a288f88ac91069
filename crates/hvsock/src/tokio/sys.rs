//! The platform backend of the async API, chosen here: `tokio/unix` or `tokio/windows`
//! (see `backend.rs` for what each provides), and a check that the chosen one has
//! every public method the shared code and callers use, with the same signature.

use std::io;
use std::net::Shutdown;
use std::task::{Context, Poll};

#[cfg(unix)]
pub use super::unix::{listener::Listener, stream::Stream};
#[cfg(windows)]
pub use super::windows::{listener::Listener, stream::Stream};
use crate::Addr;

/// The public inherent methods that are not `async`, with the signatures every backend
/// gives them.
const _: () = {
    let _: fn(crate::Stream) -> io::Result<Stream> = Stream::from_std;
    let _: fn(Stream) -> io::Result<crate::Stream> = Stream::into_std;
    let _: fn(&Stream, Shutdown) -> io::Result<()> = Stream::shutdown_now;
    let _: fn(&Stream, &mut [u8]) -> io::Result<usize> = Stream::try_read;
    let _: fn(&Stream, &[u8]) -> io::Result<usize> = Stream::try_write;
    let _: fn(crate::Listener) -> io::Result<Listener> = Listener::from_std;
    let _: fn(Listener) -> io::Result<crate::Listener> = Listener::into_std;
    type Accepted = io::Result<(Stream, Addr)>;
    let _: fn(&Listener, &mut Context<'_>) -> Poll<Accepted> = Listener::poll_accept;
};

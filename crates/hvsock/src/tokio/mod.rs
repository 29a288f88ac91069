//! The async API for tokio (feature `tokio`): [`Stream`] and [`Listener`] mirror the
//! blocking types, for every transport, with the same names and signatures on Unix and
//! Windows.
//!
//! On Unix every transport is readiness-driven through [`tokio::io::unix::AsyncFd`]:
//! no thread per connection, and the hybrid handshake runs on the reactor with its
//! deadline. Dropping a pending `connect`, `accept` or read leaves nothing behind.
//!
//! On Windows, Hyper-V sockets report no readiness on older builds, so the blocking
//! calls run on threads of their own: per connection a reader thread, which reads ahead
//! into a buffer of 256 KiB, and a writer thread, which sends what the writes queued (at
//! most 256 KiB); per listener an accept thread. `connect` runs the blocking connect
//! (bounded by its time limit) on tokio's blocking pool. What this means for writes,
//! half-close and closing is in [`Stream`]'s documentation and in `docs/windows.md`.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let addr: hvsock::Addr = "hybrid://:52/run/vm/v.sock".parse().unwrap();
//! let mut stream = hvsock::tokio::Stream::connect(&addr).await?;
//! stream.write_all(b"status\n").await?;
//! stream.shutdown().await?; // half-close: the guest sees end-of-file
//! let mut reply = String::new();
//! stream.read_to_string(&mut reply).await?;
//! # Ok(())
//! # }
//! ```

// The code shared by every platform: written once against the backend `sys` picks,
// whose contract `sys.rs` states.
mod backend;
mod bridge;
#[cfg(feature = "hyper")]
mod connector;
mod framed;
mod listener;
mod retry;
#[cfg(feature = "axum")]
mod serve_axum;
#[cfg(feature = "tonic")]
mod serve_tonic;
#[cfg(target_os = "linux")]
mod splice;
mod split;
mod stream;
mod sys;

// The backends, and the Windows one's async emulation over blocking sockets (its tests
// run on Unix sockets too).
#[cfg(any(windows, test))]
mod emulated;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

pub use bridge::{bridge, bridge_with_idle_timeout, Crossed};
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use connector::{Connecting, Connector};
pub use framed::Framed;
#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub use serve_tonic::{ConnectInfo, Incoming};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
pub use sys::{Listener, Stream};
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use unix::seqpacket::{Seqpacket, SeqpacketListener};

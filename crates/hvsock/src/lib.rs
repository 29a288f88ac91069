//! Hypervisor sockets: byte streams between a host and its virtual machines, on every
//! hypervisor, behind one address type and one URI grammar.
//!
//! | transport | URI | where |
//! |---|---|---|
//! | Linux `AF_VSOCK` | `vsock://CID:PORT`, `vsock://:PORT` | Linux hosts and guests (KVM, QEMU, Firecracker guests, Hyper-V guests) |
//! | Hyper-V sockets | `hvsock://VM/SERVICE` | Windows hosts and guests |
//! | hyperkit | `hyperkit://:PORT/DIR` | macOS hosts of hyperkit VMs (Docker Desktop, LinuxKit) |
//! | hybrid vsock | `hybrid://:PORT/UDS` | hosts of Firecracker, Cloud Hypervisor, vhost-device-vsock VMs |
//! | Unix, TCP | `unix:///PATH`, `tcp://HOST:PORT` | vfkit / krunkit per-port sockets, relays |
//!
//! [`Stream`] and [`Listener`] work like `std::net`'s `TcpStream` and `TcpListener`:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//!
//! // From a Firecracker host to port 52 in the guest:
//! let mut stream = hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?;
//! stream.write_all(b"hello")?;
//! stream.shutdown(Shutdown::Write)?;
//! let mut reply = Vec::new();
//! stream.read_to_end(&mut reply)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
mod error;
pub mod framed;
mod handle;
pub mod hybrid_proto;
mod listener;
mod options;
mod peer;
pub mod sockaddr;
mod stream;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod transport;
pub mod uri;
pub mod windows;

pub use addr::{Addr, HvAddr, HybridAddr, HyperkitAddr, TcpAddr, VmId, VsockAddr};
pub use error::AddrError;
pub use listener::{Incoming, Listener};
pub use options::{ConnectOptions, ListenOptions, Retry};
pub use peer::{PeerCredentials, PeerFilter};
pub use stream::Stream;
pub use uri::{ParseError, Reason};

/// This machine's vsock context id (CID), from `IOCTL_VM_SOCKETS_GET_LOCAL_CID` on
/// `/dev/vsock`. Fails with a clear message where there is no vsock (and on every
/// platform but Linux).
///
/// ```no_run
/// println!("this guest is vsock://{}:PORT", hvsock::local_cid()?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn local_cid() -> std::io::Result<u32> {
    transport::local_cid()
}

/// Removes the socket file of every listener still open in this process (hyperkit,
/// hybrid and Unix listeners), as dropping them would; returns how many there were.
/// A file that something else has put in a listener's place is left alone.
///
/// For a thread that handles `SIGTERM`, `SIGINT` or `SIGHUP` and then ends the process:
/// a process that a signal ends runs no destructors, and would leave its socket files
/// behind. The listeners go on listening, but can no longer be reached by path.
///
/// ```
/// assert_eq!(hvsock::remove_listener_files(), 0);
/// ```
pub fn remove_listener_files() -> usize {
    #[cfg(unix)]
    return transport::socket_file::remove_all();
    #[cfg(not(unix))]
    return 0;
}

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
//! | message mode (`SOCK_SEQPACKET`) | `vsock+seqpacket://CID:PORT`, `unix+seqpacket:///PATH` | Linux vsock and Unix sockets: [`Seqpacket`] |
//!
//! [`Stream`] and [`Listener`] work like `std::net`'s `TcpStream` and `TcpListener`:
//! parse a URI into an [`Addr`], then `connect` or `bind`. The shortest working example
//! for each transport:
//!
//! **Linux `AF_VSOCK`**, in a guest: reach port 5000 of the host (CID 2), and serve
//! port 5001 to it.
//!
//! ```no_run
//! use std::io::Write;
//!
//! hvsock::Stream::connect(&"vsock://2:5000".parse()?)?.write_all(b"hello from the guest")?;
//! let (conn, peer) = hvsock::Listener::bind(&"vsock://:5001".parse()?)?.accept()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Hybrid vsock** (Firecracker, Cloud Hypervisor, vhost-device-vsock), on the host:
//! reach guest port 52 through the VM's Unix socket; a listener on the same URI takes
//! the guest's connections to the host's port 52 (it binds `v.sock_52`).
//!
//! ```no_run
//! use std::io::Write;
//!
//! hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?.write_all(b"hello, guest")?;
//! let (conn, _) = hvsock::Listener::bind(&"hybrid://:52/run/vm/v.sock".parse()?)?.accept()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Hyper-V sockets**, on a Windows host: reach vsock port 22 of the Linux VM named
//! `MyVM` (port 22 is the service `00000016-facb-11e6-bd58-64006a7986d3`).
//!
//! ```no_run
//! use std::io::Write;
//!
//! hvsock::Stream::connect(&"hvsock://MyVM/22".parse()?)?.write_all(b"hello, VM")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **hyperkit**, on a macOS host: guest port 80 behind the VM's state directory.
//!
//! ```no_run
//! use std::io::Write;
//!
//! let vm = "hyperkit://:80/Users/me/Library/Containers/com.docker.docker/Data/vms/0";
//! hvsock::Stream::connect(&vm.parse()?)?.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Unix sockets and TCP**, for per-port sockets (vfkit, krunkit) and relays:
//!
//! ```no_run
//! use std::io::Write;
//!
//! hvsock::Stream::connect(&"unix:///run/vm/port-22.sock".parse()?)?.write_all(b"hi")?;
//! hvsock::Stream::connect(&"tcp://127.0.0.1:8080".parse()?)?.write_all(b"hi")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A whole request and reply, with a half-close so the peer sees end-of-file:
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//!
//! let mut stream = hvsock::Stream::connect(&"hybrid://:52/run/vm/v.sock".parse()?)?;
//! stream.write_all(b"hello")?;
//! stream.shutdown(Shutdown::Write)?;
//! let mut reply = Vec::new();
//! stream.read_to_end(&mut reply)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Message mode** (`SOCK_SEQPACKET`, Linux vsock and Unix sockets): [`Seqpacket`]
//! and [`SeqpacketListener`] keep the boundary of every message, on the same
//! addresses. On a command line it is asked for with a `+seqpacket` scheme suffix,
//! parsed as an [`Endpoint`]; other transports are refused as not supporting it.
//!
//! ```no_run
//! let endpoint: hvsock::Endpoint = "vsock+seqpacket://2:5000".parse()?;
//! let conn = hvsock::Seqpacket::connect(&endpoint.addr)?;
//! conn.send(b"one message")?;
//! let mut reply = Vec::new();
//! if let Some(len) = conn.recv_vec(&mut reply)? {
//!     println!("a reply of {len} bytes");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `tokio` feature, `hvsock::tokio::{Stream, Listener}` do the
//! same asynchronously. Every error is an `io::Error` whose message names the operation,
//! the address and the reason.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod addr;
mod error;
pub mod framed;
mod handle;
pub mod hybrid_proto;
pub mod idle;
mod listener;
mod options;
mod peer;
pub mod seqpacket;
pub mod sockaddr;
#[cfg(target_os = "linux")]
mod sockopt;
mod stream;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod transport;
pub mod uri;
pub mod windows;

pub use addr::{Addr, Endpoint, HvAddr, HybridAddr, HyperkitAddr, SocketKind, TcpAddr, VmId, VsockAddr};
pub use error::AddrError;
pub use listener::{Incoming, Listener};
pub use options::{ConnectOptions, ListenOptions, Retry};
pub use peer::{PeerCredentials, PeerFilter};
pub use seqpacket::{MessageTooLong, Seqpacket, SeqpacketListener};
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
    transport::local_cid(std::path::Path::new("/dev/vsock"))
}

/// [`local_cid`] asked of another device file than `/dev/vsock`: a container's or a
/// chroot's, or a test's stand-in. `IOCTL_VM_SOCKETS_GET_LOCAL_CID` is asked of any file
/// given; one that is not a vsock device fails with `ENOTTY` ("Inappropriate ioctl").
///
/// ```
/// let not_vsock = hvsock::local_cid_at(std::path::Path::new("/dev/null"));
/// # #[cfg(target_os = "linux")]
/// assert!(not_vsock.is_err());
/// ```
pub fn local_cid_at(device: &std::path::Path) -> std::io::Result<u32> {
    transport::local_cid(device)
}

/// Removes the socket file of every listener still open in this process (hyperkit,
/// hybrid and Unix listeners), as dropping them would; returns how many there were.
/// A file that something else has put in a listener's place is left alone.
///
/// For a thread that handles `SIGTERM`, `SIGINT` or `SIGHUP` and then ends the process:
/// a process that a signal ends runs no destructors, and would leave its socket files
/// behind. The listeners go on listening, but can no longer be reached by path, and a
/// listener on a socket file bound afterwards (by a thread racing the signal) fails
/// rather than leave its file behind.
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

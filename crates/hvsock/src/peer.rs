//! Who is on the other end, and who may be: peer credentials of Unix-socket transports
//! and a filter of allowed peers for listeners.

use std::io;
use std::net::IpAddr;

use uuid::Uuid;

use crate::error::error;
use crate::{Addr, VmId, VsockAddr};

/// The process at the other end of a Unix-socket connection, as the kernel recorded it
/// when the connection was made (`SO_PEERCRED` on Linux, `getpeereid(3)` on macOS).
///
/// On hybrid and hyperkit sockets this is the VMM (Firecracker, Cloud Hypervisor,
/// vhost-device-vsock, hyperkit) — these transports carry no identity of the guest
/// program beyond "the VM behind this socket".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
    /// The peer's process id, where the system says (Linux).
    pub pid: Option<u32>,
}

/// Which peers a listener admits: vsock CIDs, Hyper-V VMs and TCP addresses by the
/// peer's address; on Unix-socket transports (unix, hybrid, hyperkit) the user id of the
/// connecting process. A filter with nothing allowed of a kind does not judge that kind.
///
/// ```
/// use hvsock::{Addr, PeerFilter};
///
/// let listening: Addr = "vsock://:1234".parse()?;
/// let mut filter = PeerFilter::new(&listening);
/// filter.allow("3")?;
/// filter.allow("host")?;
/// assert!(filter.check_addr(&"vsock://3:50000".parse()?).is_ok());
/// assert!(filter.check_addr(&"vsock://4:50000".parse()?).is_err());
/// // A Unix socket's peers are processes: they are allowed by user id.
/// assert!(PeerFilter::new(&"unix:///run/s".parse()?).allow("3").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct PeerFilter {
    listening: Addr,
    cids: Vec<u32>,
    vms: Vec<Uuid>,
    ips: Vec<IpAddr>,
    uids: Vec<u32>,
}

impl PeerFilter {
    /// A filter for a listener on `listening`, allowing nothing yet (and so judging
    /// nothing: every peer passes until something is allowed).
    pub fn new(listening: &Addr) -> PeerFilter {
        PeerFilter { listening: listening.clone(), cids: vec![], vms: vec![], ips: vec![], uids: vec![] }
    }

    /// Allows the peer `peer`, written as the listener's transport names peers: a vsock
    /// CID (`3`, `host`, `local`, `hypervisor`); a Hyper-V VM (a GUID, a well-known word
    /// such as `parent`, or a VM name, resolved now, on Windows); an IP address for TCP.
    /// Unix-socket transports name no peers: for them, see [`PeerFilter::allow_uid`].
    pub fn allow(&mut self, peer: &str) -> io::Result<()> {
        let invalid = |why: String| error(io::ErrorKind::InvalidInput, why);
        match &self.listening {
            Addr::Vsock(_) => {
                let cid = peer.parse().ok().or_else(|| VsockAddr::cid_from_name(peer));
                self.cids.push(cid.ok_or_else(|| {
                    invalid(format!("`{peer}` is not a vsock CID (a number, or host, local, hypervisor)"))
                })?);
            }
            Addr::HyperV(_) => self.vms.push(vm_guid(peer)?),
            Addr::Tcp(_) => self.ips.push(
                peer.parse().map_err(|_| invalid(format!("`{peer}` is not an IP address (a TCP peer)")))?,
            ),
            Addr::Hybrid(_) | Addr::Hyperkit(_) => {
                return Err(invalid(format!(
                    "{} carries no peer identity beyond the VM behind the socket: every connection comes from the VMM process; allow its user id instead, or restrict the socket file's mode",
                    self.listening
                )))
            }
            Addr::Unix(_) => {
                return Err(invalid(format!(
                    "the peers of {} are processes, not VMs: allow them by user id",
                    self.listening
                )))
            }
            Addr::Unnamed => return Err(invalid("an unnamed address has no peers".into())),
        }
        Ok(())
    }

    /// Allows processes of user `uid` to connect (unix, hybrid and hyperkit listeners).
    pub fn allow_uid(&mut self, uid: u32) -> io::Result<()> {
        match &self.listening {
            Addr::Unix(_) | Addr::Hybrid(_) | Addr::Hyperkit(_) => {
                self.uids.push(uid);
                Ok(())
            }
            other => Err(error(
                io::ErrorKind::InvalidInput,
                format!("{other} is not a Unix socket: its peers have no user id to allow"),
            )),
        }
    }

    /// Whether the filter allows anything (and so refuses the rest).
    pub fn is_active(&self) -> bool {
        !(self.cids.is_empty() && self.vms.is_empty() && self.ips.is_empty() && self.uids.is_empty())
    }

    /// Checks an accepted connection: its address, and on Unix-socket transports its
    /// credentials. Refusals are `PermissionDenied` errors that name the peer.
    pub fn check(&self, stream: &crate::Stream) -> io::Result<()> {
        self.check_addr(stream.peer_addr())?;
        self.check_credentials(stream.peer_addr(), || stream.peer_credentials())
    }

    /// As [`PeerFilter::check`], for an async stream.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn check_async(&self, stream: &crate::tokio::Stream) -> io::Result<()> {
        self.check_addr(stream.peer_addr())?;
        self.check_credentials(stream.peer_addr(), || stream.peer_credentials())
    }

    /// As [`PeerFilter::check`], for a message-mode connection.
    pub fn check_seqpacket(&self, conn: &crate::Seqpacket) -> io::Result<()> {
        self.check_addr(conn.peer_addr())?;
        self.check_credentials(conn.peer_addr(), || conn.peer_credentials())
    }

    /// Checks a peer by its address alone (vsock CIDs, Hyper-V VMs, TCP addresses).
    pub fn check_addr(&self, peer: &Addr) -> io::Result<()> {
        let allowed = match peer {
            Addr::Vsock(a) if !self.cids.is_empty() => self.cids.contains(&a.cid),
            Addr::HyperV(a) if !self.vms.is_empty() => matches!(&a.vm, VmId::Guid(g) if self.vms.contains(g)),
            Addr::Tcp(a) if !self.ips.is_empty() => a.host.parse().is_ok_and(|ip| self.ips.contains(&ip)),
            _ => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(refused(format!("refused a connection from {peer}: not an allowed peer")))
        }
    }

    fn check_credentials(
        &self,
        peer: &Addr,
        credentials: impl FnOnce() -> io::Result<PeerCredentials>,
    ) -> io::Result<()> {
        if self.uids.is_empty() {
            return Ok(());
        }
        let on = match peer {
            Addr::Unnamed => self.listening.to_string(),
            named => named.to_string(),
        };
        let who = credentials()
            .map_err(|e| refused(format!("refused a connection on {on}: its user id is unknown ({e})")))?;
        if self.uids.contains(&who.uid) {
            return Ok(());
        }
        let pid = who.pid.map(|pid| format!(", pid {pid}")).unwrap_or_default();
        Err(refused(format!("refused a connection on {on} from uid {}{pid}: not an allowed user", who.uid)))
    }
}

fn refused(message: String) -> io::Error {
    error(io::ErrorKind::PermissionDenied, message)
}

/// A Hyper-V VM's GUID from a GUID, a well-known word or (on Windows) a VM name.
fn vm_guid(text: &str) -> io::Result<Uuid> {
    if let Ok(guid) = Uuid::parse_str(text.trim_start_matches('{').trim_end_matches('}')) {
        return Ok(guid);
    }
    if let Some(VmId::Guid(guid)) = VmId::from_word(text) {
        return Ok(guid);
    }
    #[cfg(windows)]
    return crate::windows::resolve_vm(&VmId::Name(text.to_owned()));
    #[cfg(not(windows))]
    Err(error(
        io::ErrorKind::Unsupported,
        format!("`{text}` is not a VM GUID; VM names are looked up only on Windows"),
    ))
}

/// The peer credentials of a connected socket: see [`credentials_of`].
#[cfg(unix)]
pub(crate) fn credentials(socket: &impl std::os::fd::AsFd) -> io::Result<PeerCredentials> {
    credentials_of(socket.as_fd())
}

/// Peer credentials need Unix sockets.
#[cfg(not(unix))]
pub(crate) fn credentials<T>(_: &T) -> io::Result<PeerCredentials> {
    Err(crate::error::unsupported("peer credentials (Unix sockets)"))
}

/// `getsockopt(SO_PEERCRED)` (Linux) or `getpeereid(3)` (macOS) on a connected Unix socket.
#[cfg(unix)]
pub(crate) fn credentials_of(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<PeerCredentials> {
    #[cfg(target_os = "linux")]
    {
        let cred = crate::sockopt::get(
            &fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            libc::ucred { pid: 0, uid: 0, gid: 0 },
        )?;
        Ok(PeerCredentials {
            uid: cred.uid,
            gid: cred.gid,
            pid: u32::try_from(cred.pid).ok().filter(|p| *p != 0),
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::os::fd::AsRawFd;
        let (mut uid, mut gid) = (0, 0);
        // SAFETY: `uid` and `gid` are valid for writes.
        if unsafe { libc::getpeereid(fd.as_raw_fd(), &mut uid, &mut gid) } == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(PeerCredentials { uid, gid, pid: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(uri: &str) -> Addr {
        uri.parse().unwrap()
    }

    #[test]
    fn vsock_peers_by_cid() {
        let mut filter = PeerFilter::new(&addr("vsock://:80"));
        assert!(!filter.is_active() && filter.check_addr(&addr("vsock://9:1")).is_ok());
        filter.allow("3").unwrap();
        filter.allow("LOCAL").unwrap();
        assert!(
            filter.check_addr(&addr("vsock://3:1")).is_ok()
                && filter.check_addr(&addr("vsock://1:9")).is_ok()
        );
        let err = filter.check_addr(&addr("vsock://4:1")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(err.to_string(), "refused a connection from vsock://4:1: not an allowed peer");
        assert!(filter.allow("guest").unwrap_err().to_string().contains("not a vsock CID"));
        assert!(filter.allow_uid(0).is_err());
    }

    #[test]
    fn hyperv_peers_by_guid_and_tcp_peers_by_ip() {
        let mut filter = PeerFilter::new(&addr("hvsock://wildcard/1"));
        filter.allow("{3049197C-9A4E-4FBF-9367-97F792F16994}").unwrap();
        assert!(filter.check_addr(&addr("hvsock://3049197c-9a4e-4fbf-9367-97f792f16994/1")).is_ok());
        assert!(filter.check_addr(&addr("hvsock://parent/1")).is_err());
        let mut tcp = PeerFilter::new(&addr("tcp://127.0.0.1:80"));
        tcp.allow("::1").unwrap();
        assert!(
            tcp.check_addr(&addr("tcp://[::1]:5")).is_ok()
                && tcp.check_addr(&addr("tcp://10.0.0.1:5")).is_err()
        );
    }

    #[test]
    fn unix_socket_peers_by_uid_only() {
        for uri in ["unix:///s", "hybrid://:5/v.sock", "hyperkit://:5/dir"] {
            let mut filter = PeerFilter::new(&addr(uri));
            let err = filter.allow("3").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{uri}");
            filter.allow_uid(1000).unwrap();
            let me = || Ok(PeerCredentials { uid: 0, gid: 0, pid: Some(7) });
            let err = filter.check_credentials(&Addr::Unnamed, me).unwrap_err();
            assert!(err.to_string().contains("from uid 0, pid 7: not an allowed user"), "{err}");
            assert!(err.to_string().contains(uri), "names the listener: {err}");
            let them = || Ok(PeerCredentials { uid: 1000, gid: 0, pid: None });
            assert!(filter.check_credentials(&Addr::Unnamed, them).is_ok());
        }
    }
}

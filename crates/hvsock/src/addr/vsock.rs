//! `AF_VSOCK` addresses: a context id (CID) and a port, both `u32`.

use crate::sockaddr::{AF_VSOCK, SOCKADDR_VM_LEN};

/// An `AF_VSOCK` address: a context id (CID) naming a machine and a port on it.
///
/// ```
/// use hvsock::VsockAddr;
///
/// let host = VsockAddr::new(VsockAddr::CID_HOST, 80);
/// assert_eq!(host.to_string(), "vsock://2:80");
/// assert_eq!(VsockAddr::new(VsockAddr::CID_ANY, 80).to_string(), "vsock://:80");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VsockAddr {
    /// The context id of the machine.
    pub cid: u32,
    /// The port on that machine.
    pub port: u32,
}

impl VsockAddr {
    /// `VMADDR_CID_ANY`: bind on any CID of this machine.
    pub const CID_ANY: u32 = 0xFFFF_FFFF;
    /// `VMADDR_CID_HYPERVISOR`: the hypervisor.
    pub const CID_HYPERVISOR: u32 = 0;
    /// `VMADDR_CID_LOCAL`: this machine, through the `vsock_loopback` transport (Linux >= 5.6).
    pub const CID_LOCAL: u32 = 1;
    /// `VMADDR_CID_HOST`: the host, seen from a guest.
    pub const CID_HOST: u32 = 2;
    /// `VMADDR_PORT_ANY`: let the kernel choose a port when binding.
    pub const PORT_ANY: u32 = 0xFFFF_FFFF;

    /// An address from a CID and a port.
    pub const fn new(cid: u32, port: u32) -> Self {
        VsockAddr { cid, port }
    }

    /// The CID's well-known name (`any`, `hypervisor`, `local`, `host`), if it has one.
    pub fn cid_name(cid: u32) -> Option<&'static str> {
        CID_NAMES.iter().find(|(_, c)| *c == cid).map(|(n, _)| *n)
    }

    /// The CID a well-known name stands for; the match ignores ASCII case.
    pub fn cid_from_name(name: &str) -> Option<u32> {
        CID_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
    }

    /// The 16 bytes of the Linux `struct sockaddr_vm` for this address, in native byte
    /// order: family (`AF_VSOCK` = 40), reserved, port, CID, flags (0), padding.
    pub fn to_sockaddr_vm(self) -> [u8; SOCKADDR_VM_LEN] {
        let mut raw = [0u8; SOCKADDR_VM_LEN];
        raw[0..2].copy_from_slice(&AF_VSOCK.to_ne_bytes());
        raw[4..8].copy_from_slice(&self.port.to_ne_bytes());
        raw[8..12].copy_from_slice(&self.cid.to_ne_bytes());
        raw
    }

    /// Decodes a `struct sockaddr_vm` as the kernel returns it from `accept(2)`,
    /// `getsockname(2)` or `getpeername(2)`. `None` if it is too short or not `AF_VSOCK`.
    pub fn from_sockaddr_vm(raw: &[u8]) -> Option<Self> {
        if raw.len() < 12 || u16::from_ne_bytes([raw[0], raw[1]]) != AF_VSOCK {
            return None;
        }
        let word = |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        Some(VsockAddr::new(word(8), word(4)))
    }
}

const CID_NAMES: [(&str, u32); 4] = [
    ("any", VsockAddr::CID_ANY),
    ("hypervisor", VsockAddr::CID_HYPERVISOR),
    ("local", VsockAddr::CID_LOCAL),
    ("host", VsockAddr::CID_HOST),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_vm_layout_is_byte_exact() {
        let raw = VsockAddr::new(0x0102_0304, 0x0A0B_0C0D).to_sockaddr_vm();
        let mut want = [0u8; 16];
        want[0..2].copy_from_slice(&40u16.to_ne_bytes());
        want[4..8].copy_from_slice(&0x0A0B_0C0Du32.to_ne_bytes());
        want[8..12].copy_from_slice(&0x0102_0304u32.to_ne_bytes());
        assert_eq!(raw, want);
        assert_eq!(raw[12], 0, "svm_flags must be zero");
    }

    #[test]
    fn sockaddr_vm_round_trips_and_rejects_other_families() {
        for addr in [VsockAddr::new(3, 80), VsockAddr::new(u32::MAX, u32::MAX), VsockAddr::new(0, 0)] {
            assert_eq!(VsockAddr::from_sockaddr_vm(&addr.to_sockaddr_vm()), Some(addr));
        }
        let mut raw = VsockAddr::new(3, 80).to_sockaddr_vm();
        raw[0..2].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(VsockAddr::from_sockaddr_vm(&raw), None);
        assert_eq!(VsockAddr::from_sockaddr_vm(&[40, 0, 0]), None);
    }

    #[test]
    fn cid_names_both_ways() {
        assert_eq!(VsockAddr::cid_from_name("HOST"), Some(2));
        assert_eq!(VsockAddr::cid_from_name("any"), Some(u32::MAX));
        assert_eq!(VsockAddr::cid_from_name("guest"), None);
        assert_eq!(VsockAddr::cid_name(1), Some("local"));
        assert_eq!(VsockAddr::cid_name(0), Some("hypervisor"));
        assert_eq!(VsockAddr::cid_name(4), None);
    }
}

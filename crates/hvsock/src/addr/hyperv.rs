//! Hyper-V socket addresses: a VM id and a service id, both GUIDs.
//!
//! Everything here is pure data handling, so it is tested on every platform; the
//! sockets themselves exist only on Windows.

use std::fmt;

use uuid::Uuid;

use crate::uri::percent_encode;

/// Which virtual machine (partition) a Hyper-V socket address names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VmId {
    /// A VM GUID, as `(Get-VM name).Id` prints it, or one of the well-known ids.
    Guid(Uuid),
    /// A VM name, resolved to its GUID only when the address is used (Windows only).
    Name(String),
}

impl VmId {
    /// `HV_GUID_WILDCARD` (all zeros): listen for connections from any partition.
    pub const WILDCARD: VmId = VmId::Guid(Uuid::nil());
    /// `HV_GUID_BROADCAST` (all ones).
    pub const BROADCAST: VmId = VmId::Guid(Uuid::max());
    /// `HV_GUID_CHILDREN`: listen for connections from the host's child partitions.
    pub const CHILDREN: VmId = VmId::Guid(Uuid::from_u128(0x90db8b89_0d35_4f79_8ce9_49ea0ac8b7cd));
    /// `HV_GUID_LOOPBACK`: the same partition.
    pub const LOOPBACK: VmId = VmId::Guid(Uuid::from_u128(0xe0e16197_dd56_4a10_9195_5ee7a155a838));
    /// `HV_GUID_PARENT`: the parent partition (the host, seen from a guest).
    pub const PARENT: VmId = VmId::Guid(Uuid::from_u128(0xa42e7cda_d03f_480c_9cc2_a4de20abb878));
    /// `HV_GUID_SILOHOST`: the host of a Windows Server silo (container).
    pub const SILOHOST: VmId = VmId::Guid(Uuid::from_u128(0x36bd0c5c_7276_4223_88ba_7d03b654c568));

    /// The well-known id called `word` (`wildcard`, `broadcast`, `children`, `loopback`,
    /// `parent`, `silohost`; ASCII case ignored).
    pub fn from_word(word: &str) -> Option<VmId> {
        WELL_KNOWN.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)).map(|(_, id)| VmId::Guid(*id))
    }

    /// The word for a well-known id, if this is one.
    pub fn word(&self) -> Option<&'static str> {
        match self {
            VmId::Guid(guid) => WELL_KNOWN.iter().find(|(_, id)| id == guid).map(|(n, _)| *n),
            VmId::Name(_) => None,
        }
    }
}

const WELL_KNOWN: [(&str, Uuid); 6] = [
    ("wildcard", Uuid::nil()),
    ("broadcast", Uuid::max()),
    ("children", Uuid::from_u128(0x90db8b89_0d35_4f79_8ce9_49ea0ac8b7cd)),
    ("loopback", Uuid::from_u128(0xe0e16197_dd56_4a10_9195_5ee7a155a838)),
    ("parent", Uuid::from_u128(0xa42e7cda_d03f_480c_9cc2_a4de20abb878)),
    ("silohost", Uuid::from_u128(0x36bd0c5c_7276_4223_88ba_7d03b654c568)),
];

impl fmt::Display for VmId {
    /// A well-known id prints as its word, another GUID in lowercase, a name
    /// percent-encoded so that it reads back from a URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.word(), self) {
            (Some(word), _) => f.write_str(word),
            (None, VmId::Guid(guid)) => write!(f, "{}", guid.hyphenated()),
            (None, VmId::Name(name)) => f.write_str(&percent_encode(name, false)),
        }
    }
}

/// The low 96 bits shared by every service GUID that stands for a vsock port:
/// `xxxxxxxx-FACB-11E6-BD58-64006A7986D3`, where `xxxxxxxx` is the port.
const VSOCK_TEMPLATE_TAIL: u128 = 0x0000_0000_facb_11e6_bd58_6400_6a79_86d3;

/// The Hyper-V service GUID that Linux's Hyper-V vsock transport uses for `port`.
///
/// ```
/// let guid = hvsock::service_from_port(80);
/// assert_eq!(guid.to_string(), "00000050-facb-11e6-bd58-64006a7986d3");
/// ```
pub const fn service_from_port(port: u32) -> Uuid {
    Uuid::from_u128(((port as u128) << 96) | VSOCK_TEMPLATE_TAIL)
}

/// The vsock port a service GUID stands for, if it follows the template
/// `%08x-FACB-11E6-BD58-64006A7986D3`. GUIDs compare as numbers, so case does not matter.
///
/// ```
/// let guid: uuid::Uuid = "000000FF-facb-11E6-BD58-64006A7986D3".parse().unwrap();
/// assert_eq!(hvsock::port_from_service(&guid), Some(255));
/// ```
pub const fn port_from_service(service: &Uuid) -> Option<u32> {
    let value = service.as_u128();
    if value & ((1u128 << 96) - 1) == VSOCK_TEMPLATE_TAIL {
        Some((value >> 96) as u32)
    } else {
        None
    }
}

/// A Hyper-V socket address: a VM and a service on it.
///
/// ```
/// use hvsock::{HvAddr, VmId};
///
/// let addr = HvAddr::new(VmId::PARENT, hvsock::service_from_port(5000));
/// assert_eq!(addr.to_string(), "hvsock://parent/00001388-facb-11e6-bd58-64006a7986d3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HvAddr {
    /// The VM (partition).
    pub vm: VmId,
    /// The service GUID; see [`service_from_port`] for vsock ports.
    pub service: Uuid,
}

impl HvAddr {
    /// An address from a VM id and a service GUID.
    pub fn new(vm: VmId, service: Uuid) -> Self {
        HvAddr { vm, service }
    }
}

impl fmt::Display for HvAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hvsock://{}/{}", self.vm, self.service.hyphenated())
    }
}

/// The Windows address family number of `AF_HYPERV`.
pub const AF_HYPERV: u16 = 34;
/// The size of `SOCKADDR_HV`.
pub const SOCKADDR_HV_LEN: usize = 36;

/// The 36 bytes of a Windows `SOCKADDR_HV`: family 34 and reserved 0 (both `u16`,
/// little-endian), then the VM id and the service id as Windows `GUID`s, whose first
/// three fields are little-endian ("mixed-endian").
pub fn to_sockaddr_hv(vm: &Uuid, service: &Uuid) -> [u8; SOCKADDR_HV_LEN] {
    let mut raw = [0u8; SOCKADDR_HV_LEN];
    raw[0..2].copy_from_slice(&AF_HYPERV.to_le_bytes());
    raw[4..20].copy_from_slice(&vm.to_bytes_le());
    raw[20..36].copy_from_slice(&service.to_bytes_le());
    raw
}

/// Decodes a `SOCKADDR_HV` into (VM id, service id). `None` if it is shorter than 36
/// bytes or its family is not `AF_HYPERV`.
pub fn from_sockaddr_hv(raw: &[u8]) -> Option<(Uuid, Uuid)> {
    if raw.len() < SOCKADDR_HV_LEN || u16::from_le_bytes([raw[0], raw[1]]) != AF_HYPERV {
        return None;
    }
    let guid = |at: usize| {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&raw[at..at + 16]);
        Uuid::from_bytes_le(bytes)
    };
    Some((guid(4), guid(20)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_maps_ports_both_ways() {
        assert_eq!(service_from_port(0x50).to_string(), "00000050-facb-11e6-bd58-64006a7986d3");
        assert_eq!(service_from_port(u32::MAX).to_string(), "ffffffff-facb-11e6-bd58-64006a7986d3");
        for port in [0, 1, 80, 0x5653, 0x3049197c, u32::MAX] {
            assert_eq!(port_from_service(&service_from_port(port)), Some(port));
        }
        let upper: Uuid = "0000ABCD-FACB-11E6-BD58-64006A7986D3".parse().unwrap();
        assert_eq!(port_from_service(&upper), Some(0xabcd));
        let other: Uuid = "3049197C-9A4E-4FBF-9367-97F792F16994".parse().unwrap();
        assert_eq!(port_from_service(&other), None);
        let near_miss: Uuid = "00000050-facb-11e6-bd58-64006a7986d4".parse().unwrap();
        assert_eq!(port_from_service(&near_miss), None);
    }

    #[test]
    fn sockaddr_hv_is_byte_exact() {
        let vm: Uuid = "aabbccdd-eeff-1122-3344-556677889900".parse().unwrap();
        let raw = to_sockaddr_hv(&vm, &service_from_port(0x50));
        let want: [u8; 36] = [
            34, 0, 0, 0, // family, reserved
            0xdd, 0xcc, 0xbb, 0xaa, 0xff, 0xee, 0x22, 0x11, // Data1, Data2, Data3 little-endian
            0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0x00, // Data4 in order
            0x50, 0, 0, 0, 0xcb, 0xfa, 0xe6, 0x11, //
            0xbd, 0x58, 0x64, 0x00, 0x6a, 0x79, 0x86, 0xd3,
        ];
        assert_eq!(raw, want);
        assert_eq!(from_sockaddr_hv(&raw), Some((vm, service_from_port(0x50))));
    }

    #[test]
    fn sockaddr_hv_rejects_short_or_foreign() {
        let raw = to_sockaddr_hv(&Uuid::nil(), &Uuid::nil());
        assert_eq!(from_sockaddr_hv(&raw[..35]), None);
        let mut foreign = raw;
        foreign[0] = 40;
        assert_eq!(from_sockaddr_hv(&foreign), None);
    }

    #[test]
    fn well_known_ids_match_hvsocket_h() {
        assert_eq!(VmId::CHILDREN.to_string(), "children");
        assert_eq!(VmId::from_word("PARENT"), Some(VmId::PARENT));
        assert_eq!(VmId::from_word("silohost"), Some(VmId::SILOHOST));
        assert_eq!(VmId::from_word("wsl"), None);
        let VmId::Guid(loopback) = VmId::LOOPBACK else { unreachable!() };
        assert_eq!(loopback.to_string(), "e0e16197-dd56-4a10-9195-5ee7a155a838");
        let VmId::Guid(silo) = VmId::SILOHOST else { unreachable!() };
        assert_eq!(silo.to_string(), "36bd0c5c-7276-4223-88ba-7d03b654c568");
        assert_eq!(VmId::Name("My VM".into()).to_string(), "My%20VM");
    }
}

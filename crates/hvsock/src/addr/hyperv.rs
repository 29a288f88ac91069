//! Hyper-V socket addresses: a VM id and a service id, both GUIDs.
//!
//! Everything here is pure data handling, so it is tested on every platform; the
//! sockets themselves exist only on Windows.

use uuid::Uuid;

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

/// A Hyper-V socket address: a VM and a service on it.
///
/// ```
/// use hvsock::{HvAddr, VmId};
///
/// let addr = HvAddr::new(VmId::PARENT, hvsock::sockaddr::service_from_port(5000));
/// assert_eq!(addr.to_string(), "hvsock://parent/00001388-facb-11e6-bd58-64006a7986d3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HvAddr {
    /// The VM (partition).
    pub vm: VmId,
    /// The service GUID; see [`service_from_port`](crate::sockaddr::service_from_port)
    /// for vsock ports.
    pub service: Uuid,
}

impl HvAddr {
    /// An address from a VM id and a service GUID.
    pub fn new(vm: VmId, service: Uuid) -> Self {
        HvAddr { vm, service }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

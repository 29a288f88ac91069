//! The socket addresses as the kernels take them, byte for byte, and the mapping between
//! vsock ports and Hyper-V service GUIDs.
//!
//! Everything here is pure data handling, so it is tested (and fuzzed) on every
//! platform, whichever sockets the platform has. A Linux `struct sockaddr_vm` is encoded
//! and decoded by [`VsockAddr::to_sockaddr_vm`](crate::VsockAddr::to_sockaddr_vm) and
//! [`VsockAddr::from_sockaddr_vm`](crate::VsockAddr::from_sockaddr_vm); a Windows
//! `SOCKADDR_HV` by [`to_sockaddr_hv`] and [`from_sockaddr_hv`].
//!
//! ```
//! use hvsock::sockaddr::{from_sockaddr_hv, service_from_port, to_sockaddr_hv};
//!
//! let vm = uuid::Uuid::nil();
//! let raw = to_sockaddr_hv(&vm, &service_from_port(80));
//! assert_eq!(from_sockaddr_hv(&raw), Some((vm, service_from_port(80))));
//! ```

use uuid::Uuid;

/// The Linux address family number of `AF_VSOCK`.
pub const AF_VSOCK: u16 = 40;
/// The size of `struct sockaddr_vm`.
pub const SOCKADDR_VM_LEN: usize = 16;

/// The Windows address family number of `AF_HYPERV`.
pub const AF_HYPERV: u16 = 34;
/// The size of `SOCKADDR_HV`.
pub const SOCKADDR_HV_LEN: usize = 36;

/// The low 96 bits shared by every service GUID that stands for a vsock port:
/// `xxxxxxxx-FACB-11E6-BD58-64006A7986D3`, where `xxxxxxxx` is the port.
const VSOCK_TEMPLATE_TAIL: u128 = 0x0000_0000_facb_11e6_bd58_6400_6a79_86d3;

/// The Hyper-V service GUID that Linux's Hyper-V vsock transport uses for `port`.
///
/// ```
/// let guid = hvsock::sockaddr::service_from_port(80);
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
/// assert_eq!(hvsock::sockaddr::port_from_service(&guid), Some(255));
/// ```
pub const fn port_from_service(service: &Uuid) -> Option<u32> {
    let value = service.as_u128();
    if value & ((1u128 << 96) - 1) == VSOCK_TEMPLATE_TAIL {
        Some((value >> 96) as u32)
    } else {
        None
    }
}

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
}

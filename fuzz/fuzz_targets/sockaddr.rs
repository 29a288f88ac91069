//! Any bytes as a `SOCKADDR_HV` or a `sockaddr_vm`: decoding never panics, and what
//! decodes encodes back to the same bytes (reserved fields zero).
#![no_main]

use hvsock::sockaddr::{from_sockaddr_hv, to_sockaddr_hv, SOCKADDR_HV_LEN, SOCKADDR_VM_LEN};
use hvsock::VsockAddr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((vm, service)) = from_sockaddr_hv(data) {
        let raw = to_sockaddr_hv(&vm, &service);
        assert_eq!(raw[..2], data[..2]);
        assert_eq!(raw[4..], data[4..SOCKADDR_HV_LEN]);
    }
    if let Some(addr) = VsockAddr::from_sockaddr_vm(data) {
        let raw = addr.to_sockaddr_vm();
        assert_eq!(raw[..2], data[..2]);
        assert_eq!(raw[4..12], data[4..12]);
        assert_eq!(raw.len(), SOCKADDR_VM_LEN);
    }
});

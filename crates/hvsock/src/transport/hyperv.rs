//! Windows Hyper-V sockets (AF_HYPERV). Being written (issue #4).
crate::transport::unsupported_transport!("Hyper-V sockets (not yet written)", crate::HvAddr);

pub(crate) fn peer_addr(_: &socket2::SockAddr) -> Option<crate::HvAddr> {
    None
}

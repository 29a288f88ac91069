//! Host-side URIs of the guest's ports through vhost-device-vsock's hybrid socket.

use std::path::PathBuf;

use super::Ctx;
use crate::lab::hybrid;

/// `hybrid://:PORT/<uds>`
pub fn hybrid_uri(ctx: &Ctx, port: u32) -> String {
    format!("hybrid://:{port}{}", ctx.vm.uds_path().display())
}

/// The hybrid listener URI for `port` and the socket path it binds.
pub fn hybrid_listener(ctx: &Ctx, port: u32) -> (String, PathBuf) {
    (hybrid_uri(ctx, port), hybrid::listen_path(&ctx.vm.uds_path(), port))
}

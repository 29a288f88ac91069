//! Faults against the real vsock stack (issue #7): a peer killed in the middle
//! of a transfer (each direction; over vsock_loopback and across the hybrid
//! socket), a peer that stops without closing (`-i`), nobody listening
//! behind a hyperkit socket, connect timeouts through vhost-device-vsock,
//! `--retry` against a guest that is still booting, and an echo listener
//! that outlives bad clients. The same faults
//! over plain Unix sockets are `crates/hvcat/tests/faults.rs`.
//!
//! One file per scenario (or pair of scenarios); what they share is in
//! [`crate::lab::harness::kill`].

mod bad_clients;
mod connect_timeout;
mod idle;
mod killed;
mod no_listener;
mod retry_booting;

use crate::lab::harness::Scenario;

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "faults/peer-killed-loopback", run: killed::killed_loopback },
    Scenario { name: "faults/peer-killed-host-guest", run: killed::killed_host_guest },
    Scenario { name: "faults/idle-timeout", run: idle::idle_timeout },
    Scenario { name: "faults/no-listener-hyperkit", run: no_listener::no_listener_hyperkit },
    Scenario { name: "faults/probe", run: no_listener::probe },
    Scenario { name: "faults/connect-timeout", run: connect_timeout::connect_timeout },
    Scenario { name: "faults/bad-clients", run: bad_clients::bad_clients },
    Scenario { name: "faults/retry-while-booting", run: retry_booting::retry_while_booting },
];

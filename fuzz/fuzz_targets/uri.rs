//! Any string: parsing never panics, and whatever parses prints back to a URI that
//! parses to the same address — as a byte-stream [`hvsock::Addr`], and as an
//! [`hvsock::Endpoint`], which also takes message mode (`vsock+seqpacket://...`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.parse::<hvsock::Addr>() {
        Ok(addr) => {
            let shown = addr.to_string();
            let again: hvsock::Addr = shown.parse().unwrap_or_else(|e| panic!("{text:?} -> {shown:?}: {e}"));
            assert_eq!(again, addr, "{text:?} -> {shown:?}");
            // A byte-stream address is a byte-stream endpoint.
            let endpoint: hvsock::Endpoint =
                text.parse().unwrap_or_else(|e| panic!("{text:?} as an endpoint: {e}"));
            assert_eq!(endpoint, hvsock::Endpoint::from(addr), "{text:?}");
        }
        Err(err) => {
            assert_eq!(err.uri, text);
            let _ = err.to_string();
        }
    }
    match text.parse::<hvsock::Endpoint>() {
        Ok(endpoint) => {
            let shown = endpoint.to_string();
            let again: hvsock::Endpoint =
                shown.parse().unwrap_or_else(|e| panic!("endpoint {text:?} -> {shown:?}: {e}"));
            assert_eq!(again, endpoint, "endpoint {text:?} -> {shown:?}");
            assert!(endpoint.kind.supported_by(&endpoint.addr), "{text:?}: {endpoint:?}");
        }
        Err(err) => {
            assert_eq!(err.uri, text);
            let _ = err.to_string();
        }
    }
});

//! Any string: parsing never panics, and whatever parses prints back to a URI that
//! parses to the same address.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match text.parse::<hvsock::Addr>() {
        Ok(addr) => {
            let shown = addr.to_string();
            let again: hvsock::Addr = shown.parse().unwrap_or_else(|e| panic!("{text:?} -> {shown:?}: {e}"));
            assert_eq!(again, addr, "{text:?} -> {shown:?}");
        }
        Err(err) => {
            assert_eq!(err.uri, text);
            let _ = err.to_string();
        }
    }
});

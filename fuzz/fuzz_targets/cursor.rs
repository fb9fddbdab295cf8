//! Listing cursors and vault ids: decoding never panics, and whatever decodes is a valid vault
//! id that encodes back to a cursor decoding to the same id.
#![no_main]

use blindvault::service::{decode_cursor, encode_cursor};
use blindvault::domain::VaultId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(id) = decode_cursor(text) {
        assert!(VaultId::parse(&id).is_ok(), "{id:?}");
        assert_eq!(decode_cursor(&encode_cursor(&id)).ok().as_deref(), Some(id.as_str()));
    }
    if VaultId::parse(text).is_ok() {
        assert_eq!(decode_cursor(&encode_cursor(text)).ok().as_deref(), Some(text));
    }
});

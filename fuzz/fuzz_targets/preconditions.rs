//! The conditional-request and Range parsers, on arbitrary header values: they never panic,
//! and every range they accept lies inside the object.
#![no_main]

use blindvault::api::preconditions::{byte_range, if_match, not_modified, put_mode};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    if_match: Option<&'a [u8]>,
    if_none_match: Option<&'a [u8]>,
    range: Option<&'a [u8]>,
    if_range: Option<&'a [u8]>,
    size: u64,
    etag: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::IF_MATCH, input.if_match),
        (header::IF_NONE_MATCH, input.if_none_match),
        (header::RANGE, input.range),
        (header::IF_RANGE, input.if_range),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, value);
        }
    }
    let _ = put_mode(&headers);
    let _ = if_match(&headers);
    let _ = not_modified(&headers, input.etag);
    if let Ok(Some(range)) = byte_range(&headers, input.size, input.etag) {
        assert!(range.start < range.end && range.end <= input.size, "{range:?} of {}", input.size);
    }
});

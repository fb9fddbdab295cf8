//! Conditional-request headers (RFC 9110 section 13) and byte ranges (section 14).

use axum::http::{HeaderMap, HeaderValue, header};

use super::error::ApiError;
use crate::domain::{ByteRange, Precondition};
use blindvault_wire::Code;
use blindvault_wire::etag::{EntityTag, TagList, quote};

/// The `ETag` header value of an etag: a strong, quoted entity tag.
pub fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&quote(etag)).unwrap_or(HeaderValue::from_static("\"\""))
}

/// The one value of header `name`, if present; sent twice or not visible ASCII is
/// `invalid_header`.
pub fn single<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(invalid_header(name, "must be sent once"));
    }
    first.to_str().map(|s| Some(s.trim())).map_err(|_| invalid_header(name, "is not visible ASCII"))
}

fn invalid_header(name: &header::HeaderName, why: &str) -> ApiError {
    ApiError::new(Code::InvalidHeader, format!("{name} {why}"))
}

fn tag_list<'a>(name: &header::HeaderName, text: &'a str) -> Result<TagList<'a>, ApiError> {
    TagList::parse(text).ok_or_else(|| invalid_header(name, "is not `*` or a list of quoted entity tags"))
}

/// The write mode a `PUT` asks for: `If-Match` (replace) or `If-None-Match: *` (create-only).
/// Neither is `428 precondition_required`.
pub fn put_mode(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    if let Some(expect) = if_match(headers)? {
        return Ok(expect);
    }
    match single(headers, &header::IF_NONE_MATCH)? {
        Some("*") => Ok(Precondition::Absent),
        Some(_) => Err(invalid_header(&header::IF_NONE_MATCH, "on a write must be `*`")),
        None => Err(ApiError::new(
            Code::PreconditionRequired,
            "send If-Match with the current ETag to replace, or If-None-Match: * to create",
        )),
    }
}

/// What `If-Match` expects, if present. A weak tag never matches (strong comparison), and of a
/// list only a single tag is meaningful for one vault.
pub fn if_match(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let Some(text) = single(headers, &header::IF_MATCH)? else { return Ok(None) };
    match tag_list(&header::IF_MATCH, text)? {
        TagList::Any => Ok(Some(Precondition::Exists)),
        TagList::Tags(tags) if tags.len() == 1 => {
            let EntityTag { weak, opaque } = tags[0];
            Ok(Some(Precondition::Etag(if weak { format!("W/{opaque}") } else { opaque.to_owned() })))
        }
        TagList::Tags(_) => Err(invalid_header(&header::IF_MATCH, "must name one entity tag or `*`")),
    }
}

/// Whether `If-None-Match` on a read matches `etag` (weak comparison), so that the answer is 304.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> Result<bool, ApiError> {
    let Some(text) = single(headers, &header::IF_NONE_MATCH)? else { return Ok(false) };
    Ok(match tag_list(&header::IF_NONE_MATCH, text)? {
        TagList::Any => true,
        TagList::Tags(tags) => tags.iter().any(|t| t.opaque == etag),
    })
}

/// The byte range to serve of an object of `size` with `etag`: `Ok(None)` for the whole
/// object (no `Range`, an unparseable or multi-part one, or an `If-Range` that does not
/// match), `Err(416)` when it cannot be satisfied.
pub fn byte_range(headers: &HeaderMap, size: u64, etag: &str) -> Result<Option<ByteRange>, RangeError> {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return Ok(None) };
    if let Some(cond) = headers.get(header::IF_RANGE) {
        let strong_match = cond
            .to_str()
            .ok()
            .and_then(|c| EntityTag::parse(c.trim()))
            .is_some_and(|t| !t.weak && t.opaque == etag);
        if !strong_match {
            return Ok(None);
        }
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ok(None) };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), parse(first), parse(last)) {
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                return Err(RangeError { size });
            }
            size.saturating_sub(suffix)..size
        }
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if end.is_some_and(|e| e < start) {
                return Ok(None);
            }
            if start >= size {
                return Err(RangeError { size });
            }
            start..end.map_or(size, |e| e.saturating_add(1).min(size))
        }
        _ => return Ok(None),
    };
    Ok(Some(range))
}

/// An unsatisfiable range of an object of this size.
#[derive(Debug, PartialEq, Eq)]
pub struct RangeError {
    /// The object's size.
    pub size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn write_modes() {
        assert_eq!(put_mode(&headers(&[("if-match", "\"abc\"")])).unwrap(), Precondition::Etag("abc".into()));
        assert_eq!(put_mode(&headers(&[("if-match", "*")])).unwrap(), Precondition::Exists);
        assert_eq!(put_mode(&headers(&[("if-none-match", "*")])).unwrap(), Precondition::Absent);
        assert_eq!(put_mode(&headers(&[])).unwrap_err().code(), "precondition_required");
        assert_eq!(put_mode(&headers(&[("if-match", "abc")])).unwrap_err().code(), "invalid_header");
        assert_eq!(put_mode(&headers(&[("if-match", "\"a\", \"b\"")])).unwrap_err().code(), "invalid_header");
        assert_eq!(
            put_mode(&headers(&[("if-match", "W/\"abc\"")])).unwrap(),
            Precondition::Etag("W/abc".into())
        );
    }

    #[test]
    fn if_none_match_on_reads_is_weak() {
        assert!(not_modified(&headers(&[("if-none-match", "W/\"x\", \"abc\"")]), "abc").unwrap());
        assert!(not_modified(&headers(&[("if-none-match", "W/\"abc\"")]), "abc").unwrap());
        assert!(!not_modified(&headers(&[("if-none-match", "\"x\"")]), "abc").unwrap());
        assert!(not_modified(&headers(&[("if-none-match", "\"x\" junk")]), "abc").is_err());
    }

    #[test]
    fn ranges() {
        let r = |v: &'static str| byte_range(&headers(&[("range", v)]), 100, "e");
        assert_eq!(r("bytes=0-9"), Ok(Some(0..10)));
        assert_eq!(r("bytes=90-"), Ok(Some(90..100)));
        assert_eq!(r("bytes=90-500"), Ok(Some(90..100)));
        assert_eq!(r("bytes=-10"), Ok(Some(90..100)));
        assert_eq!(r("bytes=-500"), Ok(Some(0..100)));
        assert_eq!(r("bytes=100-"), Err(RangeError { size: 100 }));
        assert_eq!(r("bytes=-0"), Err(RangeError { size: 100 }));
        assert_eq!(r("bytes=5-1"), Ok(None));
        assert_eq!(r("bytes=0-1,5-6"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        assert_eq!(r("bytes=x-y"), Ok(None));
        let cond =
            |v: &'static str| byte_range(&headers(&[("range", "bytes=0-0"), ("if-range", v)]), 100, "e");
        assert_eq!(cond("\"e\""), Ok(Some(0..1)));
        assert_eq!(cond("\"other\""), Ok(None));
        assert_eq!(cond("W/\"e\""), Ok(None));
        assert_eq!(cond("Wed, 21 Oct 2015 07:28:00 GMT"), Ok(None));
    }
}

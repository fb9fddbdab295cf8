//! Entity tags (RFC 9110 section 8.8.3) and the preconditions of a write: what a client sends
//! in `If-Match`/`If-None-Match`, or in the metadata of a resumable upload.

/// A vault revision's entity tag in its quoted form, as headers and JSON carry it.
pub fn quote(opaque: &str) -> String {
    format!("\"{opaque}\"")
}

/// One entity tag: `"opaque"` or, weak, `W/"opaque"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// `W/` prefixed: never matches in a strong comparison.
    pub weak: bool,
    /// Between the quotes.
    pub opaque: &'a str,
}

impl<'a> EntityTag<'a> {
    /// Parses one entity tag; `None` when `text` is not one.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (weak, rest) = match text.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let opaque = rest.strip_prefix('"')?.strip_suffix('"')?;
        let etagc = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80;
        opaque.bytes().all(etagc).then_some(Self { weak, opaque })
    }
}

/// The value of `If-Match` or `If-None-Match`: `*`, or a comma-separated list of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList<'a> {
    /// `*`: any current representation.
    Any,
    /// At least one tag.
    Tags(Vec<EntityTag<'a>>),
}

impl<'a> TagList<'a> {
    /// Parses a header value; `None` when it is neither `*` nor a non-empty list of tags.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim();
        if text == "*" {
            return Some(Self::Any);
        }
        let tags: Option<Vec<_>> = text.split(',').map(|t| EntityTag::parse(t.trim())).collect();
        tags.filter(|t| !t.is_empty()).map(Self::Tags)
    }
}

/// Header name of a write's "replace this revision" condition.
pub const IF_MATCH: &str = "if-match";
/// Header name of a write's "create only" condition.
pub const IF_NONE_MATCH: &str = "if-none-match";

/// What a write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The vault must not exist (`If-None-Match: *`).
    Absent,
    /// The vault must exist, at any revision (`If-Match: *`).
    Exists,
    /// The vault must be at this revision (`If-Match` with the quoted ETag).
    Etag(String),
}

impl Precondition {
    /// The header that says so: its name (one of [`IF_MATCH`], [`IF_NONE_MATCH`]) and value.
    /// The upload metadata of [`crate::tus`] uses the same names with `_` for `-`.
    pub fn header(&self) -> (&'static str, String) {
        match self {
            Self::Absent => (IF_NONE_MATCH, "*".into()),
            Self::Exists => (IF_MATCH, "*".into()),
            Self::Etag(etag) => (IF_MATCH, etag.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_lists() {
        assert_eq!(EntityTag::parse("\"abc\""), Some(EntityTag { weak: false, opaque: "abc" }));
        assert_eq!(EntityTag::parse("W/\"abc\""), Some(EntityTag { weak: true, opaque: "abc" }));
        for bad in ["abc", "\"a\"b\"", "\"abc", "W/abc", "\"a b\""] {
            assert_eq!(EntityTag::parse(bad), None, "{bad}");
        }
        assert_eq!(TagList::parse(" * "), Some(TagList::Any));
        let list = TagList::parse("\"a\", W/\"b\"").unwrap();
        assert_eq!(
            list,
            TagList::Tags(vec![EntityTag::parse("\"a\"").unwrap(), EntityTag::parse("W/\"b\"").unwrap()])
        );
        assert_eq!(TagList::parse(""), None);
        assert_eq!(TagList::parse("\"a\",,"), None);
        assert_eq!(quote("abc"), "\"abc\"");
    }

    #[test]
    fn preconditions_name_their_header() {
        assert_eq!(Precondition::Absent.header(), (IF_NONE_MATCH, "*".into()));
        assert_eq!(Precondition::Exists.header(), (IF_MATCH, "*".into()));
        assert_eq!(Precondition::Etag("\"e\"".into()).header(), (IF_MATCH, "\"e\"".into()));
    }
}

//! Percent-escapes both ways, and filesystem paths as the path part of a URI.

use std::path::Path;

use super::Reason;

/// Decodes `%XX` escapes; the result must be UTF-8 and hold no NUL (which would cut a
/// path or a name short where the system reads it).
pub(crate) fn percent_decode(text: &str) -> Result<String, Reason> {
    let decoded = decode_escapes(text)?;
    if decoded.contains('\0') {
        return Err(Reason::Nul(text.to_owned()));
    }
    Ok(decoded)
}

fn decode_escapes(text: &str) -> Result<String, Reason> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bad = || Reason::BadEscape(text.to_owned());
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Escapes what would not read back from a URI: `%`, `?`, `#`, white space and control
/// characters, and with `keep_slash == false` also `/`, `:`, `@`, `[` and `]`.
pub(crate) fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let escape = matches!(c, '%' | '?' | '#')
            || c.is_whitespace()
            || c.is_control()
            || (!keep_slash && matches!(c, '/' | ':' | '@' | '[' | ']'));
        if escape {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A filesystem path as the path part of a URI: absolute paths as they are, relative
/// ones behind `/./` (or `/../`).
pub(crate) fn format_path(path: &Path) -> String {
    let text = percent_encode(&path.to_string_lossy(), true);
    if path.has_root() {
        // `/./` and `/../` at the start would read back as relative: escape the dot.
        match text.strip_prefix("/.") {
            Some(rest)
                if rest.is_empty() || rest.starts_with('/') || rest.starts_with("./") || rest == "." =>
            {
                format!("/%2E{rest}")
            }
            _ => text,
        }
    } else if text.starts_with("./") || text.starts_with("../") || text == "." || text == ".." {
        format!("/{text}")
    } else {
        format!("/./{text}")
    }
}

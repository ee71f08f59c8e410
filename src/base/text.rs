//! Text from outside — source cells, server answers, URLs — made safe where it is used: control
//! characters out of mail headers and tables, escaped on a terminal, long values and lists cut
//! short in messages, secrets out of URLs; ids and names in one Unicode form.

use std::borrow::Cow;

/// The longest value quoted in a message, in characters.
pub const MAX_VALUE_CHARS: usize = 120;

/// Characters that must not reach a mail header, a table cell or a terminal as they are: C0 and
/// C1 controls (CR, LF, ESC, …), DEL, and the Unicode line and bidirectional-override marks that
/// reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` in Unicode NFC, the composed form: `Sở` typed with a combining hook above (NFD, from
/// macOS or some Excel exports) becomes the one character most keyboards write. Ids and names are
/// compared in this form. Borrowed when it already is (all ASCII text is).
pub fn nfc(text: &str) -> Cow<'_, str> {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    match is_nfc_quick(text.chars()) {
        IsNormalized::Yes => Cow::Borrowed(text),
        _ => {
            let composed: String = text.nfc().collect();
            if composed == text {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(composed)
            }
        }
    }
}

/// The code points of text that is not plain ASCII (`U+0053 U+01A1 U+0309`), so that a person
/// can see why two ids that look the same differ; None for ASCII text, which shows itself.
pub fn code_points(text: &str) -> Option<String> {
    (!text.is_ascii()).then(|| {
        text.chars()
            .map(|c| format!("U+{:04X}", c as u32))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Whether the text holds a character [`one_line`] would replace.
pub fn has_unsafe(text: &str) -> bool {
    text.chars().any(is_unsafe)
}

/// The text on one line: every unsafe character becomes a space, runs of spaces one, and the
/// ends are trimmed. For names that go into headers, subjects and tables.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !has_unsafe(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if is_unsafe(c) { ' ' } else { c };
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    Cow::Owned(out.trim().to_string())
}

/// The text as a terminal should print it: unsafe characters written as escapes (`\n`, `\x1b`,
/// `\u{202e}`), so that data can neither move the cursor nor recolour the screen. Line breaks stay:
/// the lines are ours, and values from the data in them are escaped where they are made.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escaped(text, true)
}

/// One value from the data, escaped for a terminal, line breaks included.
pub fn escape(text: &str) -> Cow<'_, str> {
    escaped(text, false)
}

fn escaped(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escapes = |c: char| is_unsafe(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(escapes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escapes(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c if (c as u32) < 0x100 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// At most `max` characters of the text, saying how many were left out.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => {
            let rest = text[cut..].chars().count();
            Cow::Owned(format!("{}… ({rest} more characters)", &text[..cut]))
        }
    }
}

/// The first `max` items joined with ` | `, then how many more there are.
pub fn list_capped<S: AsRef<str>>(items: &[S], max: usize) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(max)
        .map(|s| truncate(s.as_ref(), MAX_VALUE_CHARS).into_owned())
        .collect();
    let mut out = shown.join(" | ");
    if items.len() > max {
        out.push_str(&format!(" | … and {} more", items.len() - max));
    }
    out
}

/// A URL as it may be shown anywhere (logs, reports, the digest, the store, `/status`): the
/// user name and password, and every query value, are replaced by `***`. Text that is not a URL
/// is shown as it is.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    if !parsed.username().is_empty() {
        let _ = parsed.set_username("***");
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let keys: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let query = keys
            .iter()
            .map(|k| format!("{k}=***"))
            .collect::<Vec<_>>()
            .join("&");
        parsed.set_query(Some(&query));
    }
    parsed.to_string()
}

/// FNV-1a of some bytes: a stable short name for a text (a URL, a message's identity), the same
/// across versions and platforms, unlike std's hasher.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_line_breaks_and_escapes() {
        assert_eq!(
            one_line("Evil\r\nBcc: x@attacker.example"),
            "Evil Bcc: x@attacker.example"
        );
        assert_eq!(one_line("\u{1b}[31mĐỏ\u{1b}[0m"), "[31mĐỏ [0m");
        assert_eq!(one_line("Sở Tài chính"), "Sở Tài chính");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn decomposed_vietnamese_is_composed_and_ascii_is_borrowed() {
        let nfd = "So\u{31b}\u{309} Ta\u{300}i chi\u{301}nh";
        assert_eq!(nfc(nfd), "Sở Tài chính");
        assert!(matches!(nfc("Sở Tài chính"), Cow::Borrowed(_)));
        assert!(matches!(nfc("BQLGT"), Cow::Borrowed(_)));
        assert_eq!(code_points("BQLGT"), None);
        assert_eq!(code_points("Sở").as_deref(), Some("U+0053 U+1EDF"));
    }

    #[test]
    fn terminal_text_shows_escapes_instead_of_running_them() {
        assert_eq!(escape("a\u{1b}]0;x\u{7}b\r\n"), "a\\x1b]0;x\\x07b\\r\\n");
        assert_eq!(
            for_terminal("line 1\nline\u{1b}2\n"),
            "line 1\nline\\x1b2\n"
        );
        assert_eq!(escape("\u{202e}abc"), "\\u{202e}abc");
    }

    #[test]
    fn long_values_and_lists_are_cut_short() {
        assert_eq!(truncate("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(truncate("đồng", 4), "đồng");
        let many: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        assert_eq!(list_capped(&many, 3), "c0 | c1 | c2 | … and 27 more");
    }

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(
            redact_url("https://user:pw@data.example/x.csv?token=abc&year=2026"),
            "https://***:***@data.example/x.csv?token=***&year=***"
        );
        assert_eq!(
            redact_url("https://data.example/x.csv"),
            "https://data.example/x.csv"
        );
        assert_eq!(redact_url("jobs/sample/plans.csv"), "jobs/sample/plans.csv");
    }
}

//! Email addresses as disbmon holds them: a mailbox is an optional display name and an address.
//! Parsed and checked here — from the config, job files and the units source's email cells — so
//! that every stage passes the project's own type; only `notify` turns them into the mail
//! library's when it builds a message.

use std::fmt;
use std::str::FromStr;

/// What is wrong with an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("there is no `@`")]
    NoAt,
    #[error("the part before `@` is empty, or has a space or a character an address cannot have")]
    User,
    #[error("`{0}` is not a domain name")]
    Domain(String),
    #[error("a `<` without its closing `>`, or text after it")]
    Brackets,
    #[error("a quoted name without its closing quote")]
    Quote,
}

/// An address: `user@domain`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    text: String,
    at: usize,
}

impl Address {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn user(&self) -> &str {
        &self.text[..self.at]
    }

    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }
}

/// RFC 5322 `atext`, plus any non-ASCII letter (internationalised addresses).
fn user_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && c.is_alphanumeric())
}

fn valid_user(user: &str) -> bool {
    if let Some(inner) = user.strip_prefix('"').and_then(|u| u.strip_suffix('"')) {
        return !inner.is_empty() && !inner.contains(['"', '\\', '\r', '\n']);
    }
    !user.is_empty()
        && !user.starts_with('.')
        && !user.ends_with('.')
        && !user.contains("..")
        && user.chars().all(|c| c == '.' || user_char(c))
}

fn valid_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        return literal.parse::<std::net::IpAddr>().is_ok()
            || literal
                .strip_prefix("IPv6:")
                .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c == '-' || c.is_alphanumeric())
        })
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        let text = text.trim();
        let at = text.rfind('@').ok_or(AddressError::NoAt)?;
        if !valid_user(&text[..at]) {
            return Err(AddressError::User);
        }
        let domain = &text[at + 1..];
        if !valid_domain(domain) {
            return Err(AddressError::Domain(domain.to_string()));
        }
        Ok(Address {
            text: text.to_string(),
            at,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A display name and an address: `Name <user@domain>`, or the bare address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: Address,
}

impl Mailbox {
    pub fn new(name: Option<String>, email: Address) -> Mailbox {
        Mailbox { name, email }
    }
}

impl FromStr for Mailbox {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Mailbox, AddressError> {
        let text = text.trim();
        let Some(open) = text.rfind('<') else {
            return Ok(Mailbox::new(None, text.parse()?));
        };
        let inner = text[open + 1..]
            .strip_suffix('>')
            .ok_or(AddressError::Brackets)?;
        let name = text[..open].trim();
        let name = match name.strip_prefix('"') {
            Some(quoted) => unquote(quoted.strip_suffix('"').ok_or(AddressError::Quote)?),
            None => name.to_string(),
        };
        let name = name.trim();
        Ok(Mailbox::new(
            Some(name.to_string()).filter(|n| !n.is_empty()),
            inner.parse()?,
        ))
    }
}

/// The text of a quoted string: `\x` stands for `x`.
fn unquote(quoted: &str) -> String {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().unwrap_or(c)
        } else {
            c
        });
    }
    out
}

/// Characters a display name may hold unquoted (an RFC 5322 `atom`, spaces and non-ASCII).
fn atom_char(c: char) -> bool {
    !"\"(),.:;<>@[\\]".contains(c) && !c.is_control()
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            None => write!(f, "{}", self.email),
            Some(name) if name.chars().all(atom_char) => write!(f, "{name} <{}>", self.email),
            Some(name) => {
                let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
                write!(f, "\"{quoted}\" <{}>", self.email)
            }
        }
    }
}

/// The addresses of one cell (`;` or `,` between them), each with the unit's `name`; and the
/// parts that are not addresses.
pub fn parse_list(cell: &str, name: &str) -> (Vec<Mailbox>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for part in cell
        .split([';', ','])
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        match part.parse::<Address>() {
            Ok(a) => good.push(Mailbox::new(Some(name.to_string()), a)),
            Err(_) => bad.push(part.to_string()),
        }
    }
    (good, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_mailboxes_parse_and_print_as_mail_clients_write_them() {
        let m: Mailbox = "Giám sát giải ngân <giamsat@stc.example.gov.vn>"
            .parse()
            .unwrap();
        assert_eq!(m.name.as_deref(), Some("Giám sát giải ngân"));
        assert_eq!(m.email.domain(), "stc.example.gov.vn");
        assert_eq!(
            m.to_string(),
            "Giám sát giải ngân <giamsat@stc.example.gov.vn>"
        );
        let m = Mailbox::new(
            Some("Ban QLDA <tỉnh>, GT".into()),
            "a@x.vn".parse().unwrap(),
        );
        assert_eq!(m.to_string(), "\"Ban QLDA <tỉnh>, GT\" <a@x.vn>");
        assert_eq!(m.to_string().parse::<Mailbox>().unwrap(), m);
        assert_eq!(
            "disbmon <disbmon@localhost>"
                .parse::<Mailbox>()
                .unwrap()
                .email
                .user(),
            "disbmon"
        );
        assert_eq!("a.b+c@x.gov.vn".parse::<Mailbox>().unwrap().name, None);
    }

    #[test]
    fn what_is_not_an_address_is_refused() {
        for bad in [
            "",
            "abc",
            "@x.vn",
            "a@",
            "a b@x.vn",
            "a..b@x.vn",
            "a@x..vn",
            "a@-x.vn",
            "A <a@x.vn",
            "a@x.vn\r\nBcc: e@vil",
        ] {
            assert!(bad.parse::<Mailbox>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_cell_of_addresses_splits_on_semicolons_and_commas() {
        let (good, bad) = parse_list("a@x.vn; b@y.vn , nope", "Đơn vị");
        assert_eq!(good.len(), 2);
        assert_eq!(good[1].to_string(), "Đơn vị <b@y.vn>");
        assert_eq!(bad, ["nope"]);
    }

    /// Arbitrary bytes (as text) never panic the parsers, and whatever parses prints to text
    /// that parses back to the same mailbox.
    #[test]
    fn arbitrary_text_never_panics_and_what_parses_round_trips() {
        // xorshift: deterministic, no dependency; the alphabet leans on the characters that matter.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet: Vec<char> = "ab.@<>\" ,;:[]()\\ \r\n\tđỦ-_+1".chars().collect();
        for _ in 0..50_000 {
            let len = (next() % 24) as usize;
            let text: String = if next() % 4 == 0 {
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            let _ = parse_list(&text, &text);
            let _ = text.parse::<Address>();
            if let Ok(m) = text.parse::<Mailbox>() {
                let printed = m.to_string();
                assert_eq!(
                    printed.parse::<Mailbox>().as_ref(),
                    Ok(&m),
                    "{text:?} → {printed:?}"
                );
            }
        }
    }
}

//! Enums written as words — in the state store, the run report, the dashboard's links, the logs
//! — each variant with one spelling, read back strictly, so that no copy of the spelling can
//! drift from the enum.

/// A word that names no variant of an enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

/// `named!(Kind { Alert => "alert", Digest => "digest" })` gives the enum `as_str`, `Display`,
/// `FromStr` and `ALL`. Every variant must be listed: a missing one fails to compile.
macro_rules! named {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The variant's one spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::base::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::base::names::UnknownName {
                        kind: stringify!($t),
                        value: s.to_string(),
                    })
            }
        }
    };
}
pub(crate) use named;

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Colour {
        Red,
        DarkBlue,
    }
    super::named!(Colour { Red => "red", DarkBlue => "dark_blue" });

    #[test]
    fn a_variant_reads_back_from_its_word_and_nothing_else_does() {
        for c in Colour::ALL {
            assert_eq!(c.as_str().parse::<Colour>(), Ok(*c));
        }
        assert_eq!(Colour::DarkBlue.to_string(), "dark_blue");
        let e = "Dark_Blue".parse::<Colour>().unwrap_err();
        assert_eq!(e.to_string(), "unknown Colour `Dark_Blue`");
    }
}

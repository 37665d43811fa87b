//! Parsed operands of the structured operators: `wildcard` globs, CIDR blocks and
//! numeric ranges, each with its direct predicate.

use std::net::IpAddr;

use super::value::F64;

/// A parsed `wildcard` expression: the literal pieces between unescaped `*`s
/// (so `n` stars give `n + 1` pieces, possibly empty).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Glob {
    pub(crate) pieces: Vec<String>,
}

impl Glob {
    /// Parses `\*` (literal star), `\\` (literal backslash) and `*`; rejects other
    /// escapes, a trailing backslash and consecutive unescaped stars.
    pub(crate) fn parse(text: &str) -> Result<Glob, String> {
        let mut pieces = vec![String::new()];
        let mut chars = text.chars();
        let mut last_was_star = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    match chars.next() {
                        Some(e @ ('*' | '\\')) => push_char(&mut pieces, e),
                        Some(e) => return Err(format!("invalid escape \\{e} in wildcard")),
                        None => return Err("wildcard ends with an unfinished escape".into()),
                    }
                    last_was_star = false;
                }
                '*' if last_was_star => return Err("consecutive unescaped '*' are not allowed in wildcard".into()),
                '*' => {
                    pieces.push(String::new());
                    last_was_star = true;
                }
                c => {
                    push_char(&mut pieces, c);
                    last_was_star = false;
                }
            }
        }
        Ok(Glob { pieces })
    }

    /// Greedy glob match: first piece anchors the start, last piece the end, middle
    /// pieces are found leftmost in order (optimal for `*`-only globs).
    pub(crate) fn is_match(&self, s: &str) -> bool {
        let (first, rest) = match self.pieces.split_first() {
            Some(x) => x,
            None => return s.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        if s.len() < first.len() + last.len() || !s.starts_with(first.as_str()) {
            return false;
        }
        if !s.ends_with(last.as_str()) {
            return false;
        }
        let mut hay = &s[first.len()..s.len() - last.len()];
        for piece in middle {
            match hay.find(piece.as_str()) {
                Some(at) => hay = &hay[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}

fn push_char(pieces: &mut [String], c: char) {
    if let Some(last) = pieces.last_mut() {
        last.push(c);
    }
}

/// A CIDR block: the network address (host bits cleared) and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Cidr {
    pub(crate) v6: bool,
    pub(crate) network: u128,
    pub(crate) prefix_len: u8,
}

impl Cidr {
    pub(crate) fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not a valid CIDR block");
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix_len: u8 = len.parse().map_err(|_| bad())?;
        let (v6, bits, width) = ip_bits(addr);
        if prefix_len > width {
            return Err(bad());
        }
        let network = bits & Self::mask(width, prefix_len);
        Ok(Cidr { v6, network, prefix_len })
    }

    fn mask(width: u8, prefix_len: u8) -> u128 {
        let host = u32::from(width - prefix_len);
        let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
        all & u128::MAX.checked_shl(host).unwrap_or(0)
    }

    /// Whether the address (already parsed) lies in this block.
    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        let (v6, bits, width) = ip_bits(addr);
        v6 == self.v6 && bits & Self::mask(width, self.prefix_len) == self.network
    }

    /// The inclusive range of addresses in the block.
    pub(crate) fn range(&self) -> (u128, u128) {
        let width = if self.v6 { 128 } else { 32 };
        let host = !Self::mask(width, self.prefix_len) & if self.v6 { u128::MAX } else { u128::from(u32::MAX) };
        (self.network, self.network | host)
    }
}

/// `(is_v6, address as integer, bit width)`.
pub(crate) fn ip_bits(addr: IpAddr) -> (bool, u128, u8) {
    match addr {
        IpAddr::V4(a) => (false, u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (true, u128::from(a), 128),
    }
}

/// A numeric condition: optional lower and upper bounds, `(value, inclusive)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NumRange {
    pub(crate) lower: Option<(F64, bool)>,
    pub(crate) upper: Option<(F64, bool)>,
}

impl NumRange {
    pub(crate) fn contains(&self, x: f64) -> bool {
        let lower_ok = match self.lower {
            None => true,
            Some((F64(lo), true)) => x >= lo,
            Some((F64(lo), false)) => x > lo,
        };
        let upper_ok = match self.upper {
            None => true,
            Some((F64(hi), true)) => x <= hi,
            Some((F64(hi), false)) => x < hi,
        };
        lower_ok && upper_ok
    }
}

/// Dynamic-programming glob match over characters, independent of [`Glob::is_match`]
/// (the reference evaluator uses this one, the compiled matcher the greedy one).
pub(crate) fn wildcard_reference(pieces: &[String], s: &str) -> bool {
    // Tokens: Some(c) is a literal char, None is a star.
    let mut tokens: Vec<Option<char>> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tokens.push(None);
        }
        tokens.extend(piece.chars().map(Some));
    }
    let text: Vec<char> = s.chars().collect();
    // reach[j]: the first i tokens can match the first j chars.
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for tok in &tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match tok {
                None => reach[j] || (j > 0 && next[j - 1]),
                Some(c) => j > 0 && reach[j - 1] && text[j - 1] == *c,
            };
        }
        reach = next;
    }
    reach[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_parsing_and_matching() {
        let g = Glob::parse(r"a*b\*c\\d").unwrap();
        assert_eq!(g.pieces, vec!["a".to_string(), r"b*c\d".to_string()]);
        assert!(g.is_match(r"aXXb*c\d"));
        assert!(!g.is_match(r"aXXbXc\d"));
        assert!(Glob::parse("a**b").is_err());
        assert!(Glob::parse(r"a\nb").is_err());
        assert!(Glob::parse("a\\").is_err());
        assert!(Glob::parse(r"a*\**b").is_ok());
        for (pat, s, want) in [
            ("*", "", true),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*ab*ab", "xabab", true),
            ("*ab*ab", "xab", false),
            ("", "", true),
            ("", "x", false),
        ] {
            let g = Glob::parse(pat).unwrap();
            assert_eq!(g.is_match(s), want, "{pat} vs {s}");
            assert_eq!(wildcard_reference(&g.pieces, s), want, "{pat} vs {s}");
        }
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("10.0.0.7/24").unwrap();
        assert_eq!(c.range(), (0x0a00_0000, 0x0a00_00ff));
        assert!(c.contains("10.0.0.255".parse().unwrap()));
        assert!(!c.contains("10.0.1.0".parse().unwrap()));
        assert!(!c.contains("::a00:1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert_eq!(all.range(), (0, u128::from(u32::MAX)));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert_eq!(Cidr::parse("::/0").unwrap().range(), (0, u128::MAX));
        assert_eq!(Cidr::parse("::1/128").unwrap().range(), (1, 1));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/+8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}

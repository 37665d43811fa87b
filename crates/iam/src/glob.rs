//! Wildcard matching for actions, ARNs and `StringLike`: `*` matches any run of
//! characters (including none), `?` exactly one character.
//!
//! The matcher is the classic iterative two-pointer algorithm: on a mismatch it
//! returns to the last `*` and lets it swallow one more character. Worst case
//! O(n·m), no recursion, no backtracking explosion on hostile patterns.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A byte that must appear as is (a literal `*` from `${*}` is a `Byte`).
    Byte(u8),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    toks: Box<[Tok]>,
    /// Invariant: true iff `toks` holds no `Star` and no `One`.
    literal: bool,
}

impl Glob {
    /// Compiles `pattern`, where `*` and `?` are wildcards.
    pub(crate) fn new(pattern: &str) -> Glob {
        Glob::from_toks(pattern.bytes().map(tok_of).collect())
    }

    pub(crate) fn from_toks(toks: Vec<Tok>) -> Glob {
        let literal = toks.iter().all(|t| matches!(t, Tok::Byte(_)));
        Glob { toks: toks.into_boxed_slice(), literal }
    }

    /// Case-sensitive match of the whole `text`.
    pub(crate) fn matches(&self, text: &str) -> bool {
        self.matches_fold(text, false)
    }

    /// Match of the whole `text`; with `fold`, ASCII letters of `text` are compared
    /// lowercased (the pattern must then have been compiled from lowercased text).
    pub(crate) fn matches_fold(&self, text: &str, fold: bool) -> bool {
        let text = text.as_bytes();
        if self.literal {
            return self.toks.len() == text.len()
                && self.toks.iter().zip(text).all(|(t, &b)| *t == Tok::Byte(fold_byte(b, fold)));
        }
        wild_match(&self.toks, text, fold)
    }
}

fn tok_of(b: u8) -> Tok {
    match b {
        b'*' => Tok::Star,
        b'?' => Tok::One,
        b => Tok::Byte(b),
    }
}

fn fold_byte(b: u8, fold: bool) -> u8 {
    if fold {
        b.to_ascii_lowercase()
    } else {
        b
    }
}

/// Length in bytes of the UTF-8 character starting with `lead`.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

/// Matches raw pattern text (`*`, `?` wildcards) without compiling it.
pub(crate) fn match_str(pattern: &str, text: &str, fold: bool) -> bool {
    let toks: Vec<Tok> = pattern.bytes().map(|b| tok_of(fold_byte(b, fold))).collect();
    wild_match(&toks, text.as_bytes(), fold)
}

/// The two-pointer matcher over bytes; `?` and a star's extension consume whole
/// UTF-8 characters so that a multi-byte character is never split.
// Invariant: `t` always sits on a character boundary of `text` (valid UTF-8), so
// literal bytes of the pattern are compared against whole characters.
fn wild_match(toks: &[Tok], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position after the last `*` seen in the pattern, and the text position it is
    // currently assumed to have swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += char_len(text[t]);
                continue;
            }
            Some(Tok::Byte(b)) if *b == fold_byte(text[t], fold) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                let next = st + char_len(text[st]);
                star = Some((sp, next));
                p = sp;
                t = next;
            }
            None => return false,
        }
    }
    toks[p.min(toks.len())..].iter().all(|t| *t == Tok::Star) && t == text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_questions() {
        assert!(Glob::new("s3:Get*").matches("s3:GetObject"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("aXbYbc"));
        assert!(!Glob::new("a*b*c").matches("aXbYb"));
        assert!(Glob::new("s3:Get???ect").matches("s3:GetObject"));
        assert!(!Glob::new("a?").matches("a"));
        assert!(Glob::new("a?").matches("aé"));
        assert!(!Glob::new("a??").matches("aé"));
        assert!(Glob::new("*é").matches("xxé"));
    }

    #[test]
    fn folding_lowercases_only_the_text() {
        assert!(Glob::new("iam:listaccesskeys").matches_fold("IAM:ListAccessKeys", true));
        assert!(!Glob::new("iam:listaccesskeys").matches("IAM:ListAccessKeys"));
        assert!(match_str("IAM:List*", "iam:listusers", true));
    }

    #[test]
    fn hostile_pattern_finishes() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5_000);
        assert!(!Glob::new(&pattern).matches(&text));
    }
}

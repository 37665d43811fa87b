//! ARN and action patterns.
//!
//! An ARN is `arn:partition:service:region:account:resource`; the resource part is
//! everything after the fifth colon and may itself hold `:` and `/`. Patterns match
//! segment by segment, so a `*` in the first five segments never crosses a colon,
//! while a `*` in the resource part crosses both `/` and `:`.

use crate::glob::{match_str, Glob, Tok};

/// A compiled ARN pattern (six segments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArnPattern {
    /// `arn`, partition, service, region, account.
    head: [Glob; 5],
    resource: Glob,
    /// Invariant: with `fold`, `head` was compiled from lowercased text and is matched
    /// ASCII-case-insensitively (policy `Resource`); without, everything is exact
    /// (`ArnLike` conditions).
    fold: bool,
}

impl ArnPattern {
    /// Builds a pattern from tokens; `None` if there are fewer than six segments.
    pub(crate) fn from_toks(toks: &[Tok], fold: bool) -> Option<ArnPattern> {
        let mut parts: Vec<Vec<Tok>> = Vec::with_capacity(6);
        let mut start = 0;
        for (i, tok) in toks.iter().enumerate() {
            if parts.len() < 5 && *tok == Tok::Byte(b':') {
                parts.push(toks[start..i].to_vec());
                start = i + 1;
            }
        }
        if parts.len() < 5 {
            return None;
        }
        let mut head = parts.into_iter().map(|part| {
            let part = if fold { part.into_iter().map(lower_tok).collect() } else { part };
            Glob::from_toks(part)
        });
        let head = [(); 5].map(|_| head.next().expect("five head segments"));
        Some(ArnPattern { head, resource: Glob::from_toks(toks[start..].to_vec()), fold })
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn parse(text: &str, fold: bool) -> Option<ArnPattern> {
        ArnPattern::from_toks(&text.bytes().map(wild_tok).collect::<Vec<_>>(), fold)
    }

    pub(crate) fn matches(&self, arn: &str) -> bool {
        let mut segments = arn.splitn(6, ':');
        for glob in &self.head {
            match segments.next() {
                Some(segment) if glob.matches_fold(segment, self.fold) => {}
                _ => return false,
            }
        }
        segments.next().is_some_and(|resource| self.resource.matches(resource))
    }
}

fn wild_tok(b: u8) -> Tok {
    match b {
        b'*' => Tok::Star,
        b'?' => Tok::One,
        b => Tok::Byte(b),
    }
}

fn lower_tok(tok: Tok) -> Tok {
    match tok {
        Tok::Byte(b) => Tok::Byte(b.to_ascii_lowercase()),
        other => other,
    }
}

/// Action name matching as AWS does it: case-insensitive, `*` and `?` wildcards.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    match_str(pattern, action, true)
}

/// ARN matching as AWS does it for `Resource`: segment by segment with `*`/`?`, the
/// first five segments case-insensitive, the resource part case-sensitive and a `*`
/// there crossing `/` and `:`; `"*"` matches everything.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    pattern == "*" || ArnPattern::parse(pattern, true).is_some_and(|p| p.matches(arn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_part_star_crosses_slash() {
        let p = "arn:aws:s3:::bucket/*/test/*";
        assert!(arn_matches(p, "arn:aws:s3:::bucket/1/2/test/3/x.jpg"));
        assert!(arn_matches(p, "arn:aws:s3:::bucket//test/x.jpg"));
        assert!(!arn_matches(p, "arn:aws:s3:::bucket/test/x.jpg"));
    }

    #[test]
    fn head_segments_do_not_cross_colons() {
        assert!(!arn_matches("arn:aws:*:000000000000:x", "arn:aws:s3:local:000000000000:x"));
        assert!(arn_matches("arn:aws:s3:*:*:x:y", "arn:aws:s3:local:000000000000:x:y"));
        assert!(arn_matches("arn:aws:s3:::*", "arn:aws:s3:::a:b/c"));
        assert!(arn_matches("ARN:AWS:S3:::b", "arn:aws:s3:::b"));
        assert!(!arn_matches("arn:aws:s3:::B", "arn:aws:s3:::b"));
        assert!(!arn_matches("arn:aws:s3", "arn:aws:s3:::b"));
        assert!(arn_matches("*", "anything"));
    }

    #[test]
    fn actions_fold_case() {
        assert!(action_matches("iam:ListAccessKeys", "IAM:listaccesskeys"));
        assert!(action_matches("iam:*AccessKey*", "iam:CreateAccessKey"));
        assert!(action_matches("s3:Get???ect", "s3:GetObject"));
        assert!(!action_matches("s3:Get*", "s3:PutObject"));
    }
}

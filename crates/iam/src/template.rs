//! Policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'default'}` and the
//! escapes `${*}`, `${?}`, `${$}` (Version 2012-10-17 only).
//!
//! A substituted value is always literal: a username `bob*` is not a wildcard.

use std::borrow::Cow;

use crate::context::Context;
use crate::glob::{Glob, Tok};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Policy text; `*` and `?` in it are wildcards where the operator has them.
    Text(String),
    /// Text that is literal whatever the operator: an escape's character.
    Literal(String),
    /// A variable: lowercased key, optional default.
    Var { key: String, default: Option<String> },
}

/// A policy value that may contain variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
    /// Invariant: `Some` iff no piece is a `Var`; then it is the value with escapes
    /// resolved, and `glob` its pattern.
    fixed: Option<String>,
    glob: Option<Glob>,
}

impl Template {
    /// Parses `text`; with `variables` false (no Version 2012-10-17), `${...}` is
    /// ordinary text.
    pub(crate) fn parse(text: &str, variables: bool) -> Template {
        let pieces = if variables && text.contains("${") { parse_pieces(text) } else { vec![Piece::Text(text.into())] };
        Template::from_pieces(pieces)
    }

    /// A template of `prefix` (no variables) followed by `rest` parsed as [`Template::parse`].
    pub(crate) fn with_fixed_prefix(prefix: &str, rest: &str, variables: bool) -> Template {
        let mut pieces = vec![Piece::Text(prefix.into())];
        pieces.extend(Template::parse(rest, variables).pieces);
        Template::from_pieces(pieces)
    }

    fn from_pieces(pieces: Vec<Piece>) -> Template {
        let has_var = pieces.iter().any(|p| matches!(p, Piece::Var { .. }));
        let fixed = (!has_var).then(|| concat(&pieces, None).unwrap_or_default());
        let glob = (!has_var).then(|| Glob::from_toks(toks(&pieces, None).unwrap_or_default()));
        Template { pieces, fixed, glob }
    }

    pub(crate) fn fixed(&self) -> Option<&str> {
        self.fixed.as_deref()
    }

    /// The value with variables substituted; `None` if a variable has no value and
    /// no default (such a value matches nothing).
    pub(crate) fn resolve<'a>(&'a self, ctx: &Context) -> Option<Cow<'a, str>> {
        match &self.fixed {
            Some(s) => Some(Cow::Borrowed(s)),
            None => concat(&self.pieces, Some(ctx)).map(Cow::Owned),
        }
    }

    /// The wildcard pattern with variables substituted as literal text.
    pub(crate) fn resolve_glob<'a>(&'a self, ctx: &Context) -> Option<Cow<'a, Glob>> {
        match &self.glob {
            Some(g) => Some(Cow::Borrowed(g)),
            None => toks(&self.pieces, Some(ctx)).map(|t| Cow::Owned(Glob::from_toks(t))),
        }
    }

    /// The pattern tokens with variables substituted (for ARN patterns).
    pub(crate) fn resolve_toks(&self, ctx: &Context) -> Option<Vec<Tok>> {
        toks(&self.pieces, Some(ctx))
    }
}

/// A variable's value: the context's, else the default; `None` without a context.
fn lookup<'a>(ctx: Option<&'a Context>, key: &str, default: Option<&'a str>) -> Option<&'a str> {
    ctx.and_then(|c| c.single_lower(key)).or(default).filter(|_| ctx.is_some())
}

fn concat(pieces: &[Piece], ctx: Option<&Context>) -> Option<String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(s) | Piece::Literal(s) => out.push_str(s),
            Piece::Var { key, default } => out.push_str(lookup(ctx, key, default.as_deref())?),
        }
    }
    Some(out)
}

fn toks(pieces: &[Piece], ctx: Option<&Context>) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(s) => out.extend(s.bytes().map(|b| match b {
                b'*' => Tok::Star,
                b'?' => Tok::One,
                b => Tok::Byte(b),
            })),
            Piece::Literal(s) => out.extend(s.bytes().map(Tok::Byte)),
            Piece::Var { key, default } => out.extend(lookup(ctx, key, default.as_deref())?.bytes().map(Tok::Byte)),
        }
    }
    Some(out)
}

/// Splits text into pieces; an unterminated `${` stays text.
fn parse_pieces(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut plain = String::new();
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else { break };
        plain.push_str(&rest[..start]);
        let inner = &rest[start + 2..start + 2 + len];
        rest = &rest[start + 3 + len..];
        let piece = match inner {
            "*" | "?" | "$" => Piece::Literal(inner.into()),
            _ => parse_var(inner),
        };
        if !plain.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut plain)));
        }
        pieces.push(piece);
    }
    plain.push_str(rest);
    if !plain.is_empty() {
        pieces.push(Piece::Text(plain));
    }
    pieces
}

/// `key` or `key, 'default'`.
fn parse_var(inner: &str) -> Piece {
    let (key, default) = match inner.split_once(',') {
        Some((key, default)) => {
            let default = default.trim();
            let unquoted = default.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(default);
            (key, Some(unquoted.to_string()))
        }
        None => (inner, None),
    };
    Piece::Var { key: key.trim().to_lowercase(), default }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_defaults_and_escapes() {
        let mut ctx = Context::new();
        ctx.set("aws:username", "bob*");
        let t = Template::parse("home/${aws:username}/*", true);
        assert_eq!(t.resolve(&ctx).as_deref(), Some("home/bob*/*"));
        let g = t.resolve_glob(&ctx).unwrap();
        assert!(g.matches("home/bob*/x"));
        assert!(!g.matches("home/bobby/x"));
        let d = Template::parse("${aws:PrincipalTag/team, 'company-wide'}", true);
        assert_eq!(d.resolve(&ctx).as_deref(), Some("company-wide"));
        assert_eq!(Template::parse("${aws:userid}", true).resolve(&ctx), None);
        let e = Template::parse("a${*}b${?}${$}", true);
        assert_eq!(e.fixed(), Some("a*b?$"));
        assert!(e.resolve_glob(&ctx).unwrap().matches("a*b?$"));
        assert!(!e.resolve_glob(&ctx).unwrap().matches("axb?$"));
        assert_eq!(Template::parse("${aws:username}", false).fixed(), Some("${aws:username}"));
        assert_eq!(Template::parse("x${unterminated", true).fixed(), Some("x${unterminated"));
    }
}

//! `.trainyardignore` / `.dockerignore`: which paths of the build context stay out of the
//! image. One pattern per line; `#` comments; `*` matches within a path segment, `?` one
//! character, `**` any number of segments; a leading `!` re-includes; the last matching
//! pattern wins; a pattern that matches a directory matches everything under it.

/// The parsed patterns.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (negated, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let segments: Vec<String> = pattern
                    .trim_start_matches("./")
                    .trim_matches('/')
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(String::from)
                    .collect();
                (negated, segments)
            })
            .filter(|(_, segments)| !segments.is_empty())
            .collect();
        Ignore { patterns }
    }

    /// Whether `path` (relative, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for (negated, pattern) in &self.patterns {
            // A pattern matches the path or any directory above it.
            let hit = (1..=segments.len()).any(|n| matches_segments(pattern, &segments[..n]));
            if hit {
                excluded = !negated;
            }
        }
        excluded
    }
}

fn matches_segments(pattern: &[String], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(p), _) if p == "**" => (0..=path.len()).any(|skip| matches_segments(&pattern[1..], &path[skip..])),
        (Some(_), None) => false,
        (Some(p), Some(s)) => glob(p.as_bytes(), s.as_bytes()) && matches_segments(&pattern[1..], &path[1..]),
    }
}

/// `*` and `?` within one segment.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_semantics() {
        let ignore =
            Ignore::parse("# build outputs\n.git\n*.pyc\n**/__pycache__\ndata/\n!data/keep.csv\n/secrets/*.key\n");
        for excluded in [".git", ".git/HEAD", "a.pyc", "src/__pycache__/x.py", "data/big.csv", "secrets/prod.key"] {
            assert!(ignore.excludes(excluded), "{excluded}");
        }
        for kept in ["train.py", "src/a.pyc.txt", "data/keep.csv", "secrets/readme", "src/a.py"] {
            assert!(!ignore.excludes(kept), "{kept}");
        }
        assert!(Ignore::parse("").patterns.is_empty());
        assert!(glob(b"a*b?c", b"axxbyc") && !glob(b"a*b?c", b"axxbc"));
    }
}

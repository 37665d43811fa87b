//! Resource names, SageMaker's rule: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`.

/// Checks a resource name; the error message states the rule.
pub fn validate_name(kind: &str, name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {name:?} is invalid: it must match ^[a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}$ (1-63 letters, digits and hyphens, starting and ending with a letter or digit)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::validate_name;

    #[test]
    fn names() {
        assert!(validate_name("rule", "a").is_ok());
        assert!(validate_name("rule", "my--rule-2").is_ok());
        for bad in ["", "-a", "a-", "a_b", "a.b", &"x".repeat(64)] {
            assert!(validate_name("rule", bad).is_err(), "{bad}");
        }
    }
}

//! IAM's rules for names, paths, tags and session durations, with AWS's limits.

use std::collections::BTreeMap;

use crate::Error;

/// The characters IAM allows in user, role, policy and session names.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// A user, role or policy name: 1–`max` of `[A-Za-z0-9+=,.@_-]`.
pub fn check_name(what: &str, name: &str, max: usize) -> Result<(), Error> {
    if name.is_empty() || name.chars().count() > max || !name.chars().all(name_char) {
        return Err(Error::InvalidInput(format!(
            "{what} {name:?} is not valid: use 1 to {max} letters, digits and +=,.@_-"
        )));
    }
    Ok(())
}

/// A role session name: 2–64 of the name characters.
pub fn check_session_name(name: &str) -> Result<(), Error> {
    if name.len() < 2 || name.len() > 64 || !name.chars().all(name_char) {
        return Err(Error::InvalidInput(format!(
            "RoleSessionName {name:?} is not valid: use 2 to 64 letters, digits and +=,.@_-"
        )));
    }
    Ok(())
}

/// A path: `/`, or `/` + segments + `/`, at most 512 characters of printable ASCII.
pub fn check_path(path: &str) -> Result<(), Error> {
    let printable = path.chars().all(|c| ('!'..='~').contains(&c));
    if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 || !printable || path.contains("//") {
        return Err(Error::InvalidInput(format!("Path {path:?} is not valid: it must begin and end with '/'")));
    }
    Ok(())
}

/// Tags: at most 50; keys 1–128 characters, values at most 256, neither starting `aws:`.
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), Error> {
    if tags.len() > 50 {
        return Err(Error::InvalidInput(format!("{} tags: a principal may have at most 50", tags.len())));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || key.to_lowercase().starts_with("aws:") {
            return Err(Error::InvalidInput(format!(
                "tag key {key:?} is not valid: 1 to 128 characters, not starting with 'aws:'"
            )));
        }
        if value.chars().count() > 256 {
            return Err(Error::InvalidInput(format!("the value of tag {key:?} is longer than 256 characters")));
        }
    }
    Ok(())
}

/// The shortest session a role may be assumed for.
pub const MIN_SESSION_SECONDS: i64 = 900;
/// The default session (and default role maximum).
pub const DEFAULT_SESSION_SECONDS: i64 = 3600;
/// The longest maximum a role may set.
pub const MAX_SESSION_SECONDS: i64 = 12 * 3600;

/// A role's maximum session duration: 1 to 12 hours.
pub fn check_max_session(seconds: i64) -> Result<(), Error> {
    if !(DEFAULT_SESSION_SECONDS..=MAX_SESSION_SECONDS).contains(&seconds) {
        return Err(Error::InvalidInput(format!(
            "MaxSessionDuration {seconds} is not valid: it must be from 3600 to 43200 seconds"
        )));
    }
    Ok(())
}

/// A requested session duration against the role's maximum (AWS refuses longer ones).
pub fn check_session_duration(seconds: i64, role_maximum: i64) -> Result<(), Error> {
    if seconds < MIN_SESSION_SECONDS || seconds > role_maximum {
        return Err(Error::InvalidInput(format!(
            "DurationSeconds {seconds} is not valid: it must be from {MIN_SESSION_SECONDS} to the role's maximum \
             session duration, {role_maximum} seconds"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_durations_follow_iam() {
        assert!(check_name("UserName", "alice.smith@team-a", 64).is_ok());
        assert!(check_name("UserName", "", 64).is_err());
        assert!(check_name("UserName", "a/b", 64).is_err());
        assert!(check_name("UserName", &"a".repeat(65), 64).is_err());
        assert!(check_session_name("x").is_err() && check_session_name("ok").is_ok());
        assert!(check_path("/").is_ok() && check_path("/team/a/").is_ok());
        assert!(check_path("team").is_err() && check_path("/a//b/").is_err());
        assert!(check_max_session(3600).is_ok() && check_max_session(43201).is_err());
        assert!(check_session_duration(899, 3600).is_err());
        assert!(check_session_duration(3601, 3600).is_err());
        assert!(check_session_duration(900, 3600).is_ok());
        let mut tags = BTreeMap::new();
        tags.insert("aws:team".to_string(), "a".to_string());
        assert!(check_tags(&tags).is_err());
    }
}

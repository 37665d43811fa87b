//! Where the CLI's credential comes from, in order: `--token`/`TRAINYARD_TOKEN`;
//! `TRAINYARD_SESSION_TOKEN` (set for functions and jobs that run as a role); the profile
//! named by `--profile`/`TRAINYARD_PROFILE`; the data directory's admin token (root, on the
//! server's own machine); the `default` profile. Profiles live in an AWS-style file,
//! `~/.trainyard/credentials` (or `TRAINYARD_CREDENTIALS_FILE`):
//!
//! ```ini
//! [team-a]
//! aws_access_key_id = AKIA…
//! aws_secret_access_key = tyk_…
//! aws_session_token = tyt_…      # sessions only
//! endpoint_url = http://127.0.0.1:7420
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::client::Error;

/// A profile's values.
pub type Profile = BTreeMap<String, String>;

/// The credentials file.
pub fn file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRAINYARD_CREDENTIALS_FILE") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".trainyard").join("credentials"))
}

/// Every profile in an AWS-style INI text.
pub fn parse(text: &str) -> BTreeMap<String, Profile> {
    let mut profiles: BTreeMap<String, Profile> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().trim_start_matches("profile ").trim().to_string();
            profiles.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(profile), Some((key, value))) = (&current, line.split_once('=')) {
            profiles.entry(profile.clone()).or_default().insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    profiles
}

/// The named profile; an error naming the file when it is not there.
pub fn profile(name: &str) -> Result<Profile, Error> {
    let path = file().ok_or_else(|| Error::Usage("no credentials file: HOME is not set".into()))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Usage(format!("profile {name}: cannot read {}: {e}", path.display())))?;
    parse(&text).remove(name).ok_or_else(|| Error::Usage(format!("profile {name} is not in {}", path.display())))
}

/// The bearer secret a profile holds: its session token, else its key's secret.
pub fn bearer(profile: &Profile) -> Option<String> {
    profile.get("aws_session_token").or_else(|| profile.get("aws_secret_access_key")).cloned()
}

/// The credential to call the API with, and an endpoint from the profile if it names one.
pub fn resolve(
    token: Option<&str>,
    profile_name: Option<&str>,
    data_dir: &Path,
) -> Result<(Option<String>, Option<String>), Error> {
    if let Some(token) = token {
        return Ok((Some(token.to_string()), None));
    }
    if let Ok(token) = std::env::var("TRAINYARD_SESSION_TOKEN") {
        return Ok((Some(token), None));
    }
    if let Some(name) = profile_name {
        let profile = profile(name)?;
        return Ok((bearer(&profile), profile.get("endpoint_url").cloned()));
    }
    if let Ok(token) = std::fs::read_to_string(data_dir.join("admin.token")) {
        return Ok((Some(token.trim().to_string()), None));
    }
    match file().and_then(|path| std::fs::read_to_string(path).ok()).and_then(|text| parse(&text).remove("default")) {
        Some(profile) => Ok((bearer(&profile), profile.get("endpoint_url").cloned())),
        None => Ok((None, None)),
    }
}

/// Writes (or replaces) a profile in the credentials file, readable by its owner only,
/// atomically; the file's path.
pub fn save_profile(name: &str, values: &[(&str, &str)]) -> Result<PathBuf, Error> {
    let path = file().ok_or_else(|| Error::Usage("no credentials file: HOME is not set".into()))?;
    let failure = |e: std::io::Error| Error::Failure(format!("writing {}: {e}", path.display()));
    let mut profiles = std::fs::read_to_string(&path).map(|t| parse(&t)).unwrap_or_default();
    profiles.insert(name.to_string(), values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    let mut text = String::new();
    for (profile, values) in &profiles {
        text.push_str(&format!("[{profile}]\n"));
        for (key, value) in values {
            text.push_str(&format!("{key} = {value}\n"));
        }
        text.push('\n');
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failure)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failure)?;
    file.write_all(text.as_bytes()).map_err(failure)?;
    file.sync_all().map_err(failure)?;
    std::fs::rename(&temporary, &path).map_err(failure)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_like_aws_files() {
        let text = "[default]\naws_secret_access_key = tyk_a\n\n[profile team]  # comment\naws_access_key_id=ASIA1\naws_secret_access_key = tys_b\naws_session_token = tyt_c\n";
        let profiles = parse(text);
        assert_eq!(bearer(&profiles["default"]).as_deref(), Some("tyk_a"));
        assert_eq!(bearer(&profiles["team"]).as_deref(), Some("tyt_c"), "a session's token is its bearer");
        assert_eq!(profiles["team"]["aws_access_key_id"], "ASIA1");
    }
}

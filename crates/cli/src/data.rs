//! `trainyard data`: buckets and objects with `s3://bucket/key` URIs.

use std::path::{Path, PathBuf};

use serde_json::Value;
use trainyard_objects::S3Uri;

use crate::args::{DataCommand, Output};
use crate::client::{encode, Client, Error};
use crate::output;

pub(crate) fn uri(text: &str) -> Result<S3Uri, Error> {
    let parsed = S3Uri::parse(text).map_err(|e| Error::Usage(e.to_string()))?;
    let key = parsed.key.trim_end_matches('/');
    if !key.is_empty() {
        trainyard_objects::validate_key(key).map_err(|e| Error::Usage(e.to_string()))?;
    }
    Ok(parsed)
}

/// The API path of an object, each key segment percent-encoded.
pub(crate) fn object_path(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(encode).collect();
    format!("/buckets/{bucket}/objects/{}", key.join("/"))
}

fn guess_content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "csv" => "text/csv",
        "json" => "application/json",
        "txt" => "text/plain",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

/// Every regular file under `dir`, as (path, key suffix with '/' separators), sorted.
fn files_under(dir: &Path) -> Result<Vec<(PathBuf, String)>, Error> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|e| Error::Usage(format!("{}: {e}", current.display())))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Usage(format!("{}: {e}", current.display())))?;
            let kind = entry.file_type().map_err(|e| Error::Usage(e.to_string()))?;
            let path = entry.path();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                let key: Vec<String> =
                    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                found.push((path, key.join("/")));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Lists every object under a prefix (following pages).
async fn all_objects(client: &Client, target: &S3Uri) -> Result<Vec<Value>, Error> {
    let mut objects = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/buckets/{}/objects?prefix={}&max_keys=1000", target.bucket, encode(&target.key));
        if let Some(after) = &after {
            path.push_str(&format!("&start_after={}", encode(after)));
        }
        let page = client.get(&path).await?;
        objects.extend(page["Contents"].as_array().cloned().unwrap_or_default());
        after = page["NextStartAfter"].as_str().map(str::to_string);
        if page["IsTruncated"] != Value::Bool(true) || after.is_none() {
            return Ok(objects);
        }
    }
}

/// Joins a downloaded key onto a local directory, refusing anything that escapes it.
fn confined(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    let mut path = root.to_path_buf();
    for segment in relative.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Error::Failure(format!("refusing to write key segment {segment:?} of {relative:?}")));
        }
        path.push(segment);
    }
    Ok(path)
}

pub async fn run(client: &Client, out: Output, command: DataCommand) -> Result<(), Error> {
    match command {
        DataCommand::Mb { uri: text } => {
            let target = uri(&text)?;
            client.call(reqwest::Method::PUT, &format!("/buckets/{}", target.bucket), None).await?;
            println!("make_bucket: s3://{}", target.bucket);
        }
        DataCommand::Rb { uri: text } => {
            let target = uri(&text)?;
            client.delete(&format!("/buckets/{}", target.bucket)).await?;
            println!("remove_bucket: s3://{}", target.bucket);
        }
        DataCommand::Put { source, uri: text, content_type } => {
            let target = uri(&text)?;
            let metadata =
                std::fs::metadata(&source).map_err(|e| Error::Usage(format!("{}: {e}", source.display())))?;
            let uploads: Vec<(PathBuf, String)> = if metadata.is_dir() {
                let prefix = if target.key.is_empty() || target.key.ends_with('/') {
                    target.key.clone()
                } else {
                    format!("{}/", target.key)
                };
                files_under(&source)?.into_iter().map(|(path, key)| (path, format!("{prefix}{key}"))).collect()
            } else {
                let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let key = if target.key.is_empty() || target.key.ends_with('/') {
                    format!("{}{name}", target.key)
                } else {
                    target.key.clone()
                };
                vec![(source.clone(), key)]
            };
            // Check before streaming: a server refusing mid-upload can only drop the connection.
            client.get(&format!("/buckets/{}", target.bucket)).await?;
            for (path, key) in uploads {
                trainyard_objects::validate_key(&key).map_err(|e| Error::Usage(e.to_string()))?;
                let kind = content_type.as_deref().unwrap_or_else(|| guess_content_type(&path));
                let record = client.upload(&object_path(&target.bucket, &key), &path, kind).await?;
                println!(
                    "upload: {} to s3://{}/{key} ({} bytes, etag {})",
                    path.display(),
                    target.bucket,
                    record["Size"],
                    output::cell(record.get("ETag"))
                );
            }
        }
        DataCommand::Get { uri: text, destination, recursive } => {
            let target = uri(&text)?;
            if recursive || target.key.is_empty() || target.key.ends_with('/') {
                let root = destination.unwrap_or_else(|| PathBuf::from("."));
                for object in all_objects(client, &target).await? {
                    let key = object["Key"].as_str().unwrap_or_default();
                    let relative = key.strip_prefix(&target.key).unwrap_or(key).trim_start_matches('/');
                    let path = confined(&root, relative)?;
                    let bytes = client.download(&object_path(&target.bucket, key), &path).await?;
                    println!("download: s3://{}/{key} to {} ({bytes} bytes)", target.bucket, path.display());
                }
            } else {
                let name = target.key.rsplit('/').next().unwrap_or(&target.key).to_string();
                let path = match destination {
                    Some(path) if path.is_dir() => path.join(&name),
                    Some(path) => path,
                    None => PathBuf::from(&name),
                };
                let bytes = client.download(&object_path(&target.bucket, &target.key), &path).await?;
                if path.as_os_str() == "-" {
                    // Standard output carries the object itself.
                    eprintln!("download: {text} to - ({bytes} bytes)");
                } else {
                    println!("download: {text} to {} ({bytes} bytes)", path.display());
                }
            }
        }
        DataCommand::Ls { uri: None, .. } => {
            output::list(
                out,
                &client.get("/buckets").await?,
                "Buckets",
                &[("BUCKET", "/Name"), ("CREATED", "/CreationDate")],
            );
        }
        DataCommand::Ls { uri: Some(text), recursive } => {
            let target = uri(&text)?;
            let delimiter = if recursive { "" } else { "&delimiter=%2F" };
            let listing = if recursive {
                serde_json::json!({"Contents": all_objects(client, &target).await?, "CommonPrefixes": []})
            } else {
                client
                    .get(&format!("/buckets/{}/objects?prefix={}{delimiter}", target.bucket, encode(&target.key)))
                    .await?
            };
            if out == Output::Json {
                output::item(&listing);
            } else {
                for prefix in listing["CommonPrefixes"].as_array().into_iter().flatten() {
                    println!("{:>30} PRE {}", "", output::cell(Some(prefix)));
                }
                for object in listing["Contents"].as_array().into_iter().flatten() {
                    println!(
                        "{} {:>12} {}",
                        output::cell(object.get("LastModified")),
                        output::cell(object.get("Size")),
                        output::cell(object.get("Key"))
                    );
                }
            }
        }
        DataCommand::Rm { uri: text, recursive } => {
            let target = uri(&text)?;
            let keys: Vec<String> = if recursive {
                all_objects(client, &target)
                    .await?
                    .iter()
                    .filter_map(|o| o["Key"].as_str().map(str::to_string))
                    .collect()
            } else {
                vec![target.key.clone()]
            };
            for key in keys {
                client.delete(&object_path(&target.bucket, &key)).await?;
                println!("delete: s3://{}/{key}", target.bucket);
            }
        }
    }
    Ok(())
}

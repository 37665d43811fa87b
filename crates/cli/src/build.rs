//! `trainyard build`: a directory into a reproducible OCI image, offline.

use trainyard_build::{build, ImageConfig};

use crate::args::BuildArgs;
use crate::client::{Client, Error};

/// A JSON array of strings, or words split on whitespace.
fn words(flag: &str, text: Option<&str>) -> Result<Vec<String>, Error> {
    match text.map(str::trim) {
        None => Ok(Vec::new()),
        Some(t) if t.starts_with('[') => {
            serde_json::from_str(t).map_err(|e| Error::Usage(format!("--{flag}: not a JSON array of strings: {e}")))
        }
        Some(t) => Ok(t.split_whitespace().map(String::from).collect()),
    }
}

fn pairs(flag: &str, items: &[String]) -> Result<Vec<(String, String)>, Error> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("--{flag} {item:?}: expected NAME=VALUE")))
        })
        .collect()
}

pub async fn run(client: &Client, args: BuildArgs) -> Result<(), Error> {
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!("{} is not a directory", args.dir.display())));
    }
    let repository = match (&args.repo, args.push) {
        (Some(repo), true) => Some(repo.as_str()),
        (None, true) => return Err(Error::Usage("--push needs --repo NAME (the registry repository)".into())),
        (_, false) if args.layout.is_none() => {
            return Err(Error::Usage("nothing to do: give --layout DIR, or --push with --repo NAME".into()))
        }
        (_, false) => None,
    };
    for tag in &args.tags {
        trainyard_registry::validate_tag(tag).map_err(|e| Error::Usage(e.to_string()))?;
    }
    if let Some(repository) = repository {
        trainyard_registry::validate_repository(repository).map_err(|e| Error::Usage(e.to_string()))?;
    }
    let config = ImageConfig {
        entrypoint: words("entrypoint", args.entrypoint.as_deref())?,
        cmd: words("cmd", args.cmd.as_deref())?,
        env: pairs("env", &args.env)?.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: args.workdir,
        labels: pairs("label", &args.labels)?.into_iter().collect(),
        destination: args.to,
        user: args.user.unwrap_or_default(),
        exposed_ports: args
            .expose
            .iter()
            .map(|p| if p.contains('/') { p.clone() } else { format!("{p}/tcp") })
            .collect(),
        volumes: args.volumes,
        healthcheck: words("healthcheck", args.healthcheck.as_deref())?,
    };
    let scratch;
    let layout = match &args.layout {
        Some(layout) => layout.clone(),
        None => {
            scratch = tempfile::tempdir().map_err(|e| Error::Failure(format!("temporary directory: {e}")))?;
            scratch.path().join("image")
        }
    };
    let tag = args.tags.first().cloned().unwrap_or_else(|| "latest".into());
    let built = build(&args.dir, &config, &layout, &tag).map_err(|e| match e {
        trainyard_build::Error::Invalid { reason } => Error::Usage(reason),
        other => Error::Failure(other.to_string()),
    })?;
    eprintln!("{} files, layer {} ({} bytes)", built.files, built.layer_digest, built.layer_size);
    if let Some(repository) = repository {
        crate::images::push_layout(client, &layout, &tag, repository, &args.tags).await?;
        for tag in &args.tags {
            eprintln!("pushed {}/{repository}:{tag}", client.registry_host());
        }
    }
    println!("{}", built.manifest_digest);
    Ok(())
}

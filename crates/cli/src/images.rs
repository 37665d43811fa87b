//! `trainyard images`: the registry's repositories and images; and pushing an OCI image
//! layout to the registry (`trainyard build --push`), blob by blob, streamed.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::args::{BuildsCommand, ImagesCommand, Output, RepositoriesCommand};
use crate::client::{encode, Client, Error};
use crate::output;

pub async fn run(client: &Client, out: Output, command: ImagesCommand) -> Result<(), Error> {
    match command {
        ImagesCommand::List { repository } => {
            let path = match &repository {
                Some(name) => format!("/images?repository={}", encode(name)),
                None => "/images".into(),
            };
            output::list(
                out,
                &client.get(&path).await?,
                "Images",
                &[
                    ("REPOSITORY", "/RepositoryName"),
                    ("TAG", "/ImageTag"),
                    ("DIGEST", "/ImageDigest"),
                    ("PUSHED", "/ImagePushedAt"),
                ],
            );
        }
        ImagesCommand::Describe { image } => {
            output::item(&client.get(&format!("/images/describe?image={}", encode(&image))).await?)
        }
        ImagesCommand::Delete { image } => {
            client.delete(&format!("/images?image={}", encode(&image))).await?;
            println!("deleted {image}");
        }
        ImagesCommand::Repos(RepositoriesCommand::Create { name }) => {
            output::item(&client.post("/repositories", &json!({"RepositoryName": name})).await?)
        }
        ImagesCommand::Repos(RepositoriesCommand::List) => output::list(
            out,
            &client.get("/repositories").await?,
            "Repositories",
            &[("NAME", "/RepositoryName"), ("IMAGES", "/ImageCount"), ("TAGS", "/TagCount"), ("CREATED", "/CreatedAt")],
        ),
        ImagesCommand::Repos(RepositoriesCommand::Delete { name }) => {
            client.delete(&format!("/repositories?name={}", encode(&name))).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

/// `trainyard builds`.
pub async fn builds(client: &Client, out: Output, command: BuildsCommand) -> Result<(), Error> {
    match command {
        BuildsCommand::List { source } => {
            let path = match &source {
                Some(name) => format!("/builds?source={}", encode(name)),
                None => "/builds".into(),
            };
            output::list(
                out,
                &client.get(&path).await?,
                "Builds",
                &[
                    ("ID", "/Id"),
                    ("SOURCE", "/Source"),
                    ("COMMIT", "/SourceVersion"),
                    ("STATUS", "/BuildStatus"),
                    ("IMAGE", "/ImageDigest"),
                    ("STARTED", "/StartTime"),
                ],
            );
        }
        BuildsCommand::Describe { id } => output::item(&client.get(&format!("/builds/{}", encode(&id))).await?),
        BuildsCommand::Logs { id } => {
            let answer = client.get(&format!("/builds/{}/logs", encode(&id))).await?;
            print!("{}", answer["Log"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}

/// Pushes the image a layout holds under `layout_tag` to `repository`, tagged with each
/// of `tags`; blobs the repository already holds are skipped. Returns the manifest digest.
pub async fn push_layout(
    client: &Client,
    layout: &Path,
    layout_tag: &str,
    repository: &str,
    tags: &[String],
) -> Result<String, Error> {
    let image = trainyard_registry::read_layout(layout, layout_tag).map_err(|e| match e {
        trainyard_registry::Error::ManifestUnknown { .. } => {
            Error::Usage(format!("the layout {} has no image tagged {layout_tag:?}", layout.display()))
        }
        other => Error::Failure(other.to_string()),
    })?;
    for (digest, path) in &image.blobs {
        push_blob(client, path, repository, &digest.to_string()).await?;
    }
    let media_type = image.media_type.as_deref().unwrap_or(trainyard_registry::OCI_MANIFEST);
    for tag in tags {
        let request = client
            .registry(Method::PUT, &format!("/{repository}/manifests/{tag}"))
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(image.manifest.clone());
        client.send_registry(request).await?;
    }
    Ok(image.digest.to_string())
}

async fn push_blob(client: &Client, path: &Path, repository: &str, digest: &str) -> Result<(), Error> {
    let head = client.registry(Method::HEAD, &format!("/{repository}/blobs/{digest}"));
    let exists = head.send().await.map(|r| r.status() == StatusCode::OK).unwrap_or(false);
    if exists {
        return Ok(());
    }
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::Failure(format!("cannot read {}: {e}", path.display())))?;
    let length = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024));
    let request = client
        .registry(Method::POST, &format!("/{repository}/blobs/uploads/?digest={digest}"))
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(body);
    client.send_registry(request).await?;
    Ok(())
}

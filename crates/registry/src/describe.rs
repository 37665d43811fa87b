//! The management view of the registry (ECR's `DescribeRepositories`/`DescribeImages`
//! shapes) for the API and the CLI.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use trainyard_store::{RepositoryRecord, TagRecord};

use crate::{manifest, Error, Image, ImageName, Registry};

/// One image (manifest) of a repository as ECR's `DescribeImages` and `ListImages` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    pub digest: String,
    /// Its tags in lexical order.
    pub tags: Vec<String>,
    pub media_type: String,
    pub artifact_type: Option<String>,
    /// The manifest, its config and its layers (an index: itself and its manifests).
    pub size: u64,
    pub pushed_at: DateTime<Utc>,
}

fn repository_json(record: &RepositoryRecord) -> Value {
    json!({
        "RepositoryName": record.name,
        "CreatedAt": record.created_at,
        "ImageCount": record.manifests,
        "TagCount": record.tags,
    })
}

fn tag_json(tag: &TagRecord) -> Value {
    json!({
        "RepositoryName": tag.repository,
        "ImageTag": tag.tag,
        "ImageDigest": tag.digest,
        "ImageManifestMediaType": tag.media_type,
        "ManifestSize": tag.size,
        "ImagePushedAt": tag.updated_at,
    })
}

impl Registry {
    pub async fn create_repository_json(&self, name: &str) -> Result<Value, Error> {
        Ok(json!({"Repository": repository_json(&self.create_repository(name).await?)}))
    }

    pub async fn list_repositories_json(&self) -> Result<Value, Error> {
        let repositories = self.repositories(None, 10_000).await?;
        Ok(json!({"Repositories": repositories.iter().map(repository_json).collect::<Vec<_>>()}))
    }

    /// Tagged images of one repository, or of every repository.
    pub async fn list_images_json(&self, repository: Option<&str>) -> Result<Value, Error> {
        let names = match repository {
            Some(name) => vec![self.repository(name).await?.name],
            None => self.repositories(None, 10_000).await?.into_iter().map(|r| r.name).collect(),
        };
        let mut images = Vec::new();
        for name in names {
            images.extend(self.tag_records(&name, None, 10_000).await?.iter().map(tag_json));
        }
        Ok(json!({"Images": images}))
    }

    pub async fn describe_image_json(&self, image: &str) -> Result<Value, Error> {
        let name = ImageName::parse(image)?;
        let Image { record, manifest, config, tags } = self.image(&name.repository, &name.reference).await?;
        let layers: Vec<Value> = manifest
            .layers
            .iter()
            .map(|l| json!({"Digest": l.digest.to_string(), "Size": l.size, "MediaType": l.media_type}))
            .collect();
        let size: u64 =
            manifest.layers.iter().chain(&manifest.config).map(|d| d.size).sum::<u64>() + record.content.len() as u64;
        let image_config = config.as_ref().and_then(|c| c.get("config")).cloned().unwrap_or(Value::Null);
        Ok(json!({
            "RepositoryName": record.repository,
            "ImageDigest": record.digest,
            "ImageTags": tags,
            "ImageManifestMediaType": record.media_type,
            "ArtifactMediaType": manifest.artifact_type,
            "ImageSizeInBytes": size,
            "ImagePushedAt": record.created_at,
            "Config": image_config,
            "Architecture": config.as_ref().and_then(|c| c.get("architecture")).cloned().unwrap_or(Value::Null),
            "Os": config.as_ref().and_then(|c| c.get("os")).cloned().unwrap_or(Value::Null),
            "Layers": layers,
            "Manifests": manifest.manifests.iter()
                .map(|m| json!({"Digest": m.digest.to_string(), "Size": m.size, "MediaType": m.media_type}))
                .collect::<Vec<_>>(),
            "Subject": manifest.subject.as_ref().map(|s| s.digest.to_string()),
        }))
    }

    /// Every image of a repository with its tags, newest first.
    pub async fn images(&self, repository: &str) -> Result<Vec<ImageSummary>, Error> {
        let tags = self.tag_records(repository, None, usize::MAX).await?;
        let manifests = self.store.list_manifests(repository).await?;
        Ok(manifests
            .into_iter()
            .map(|record| {
                let parsed = manifest::parse(&record.content, Some(&record.media_type)).ok();
                let referenced: u64 = parsed
                    .iter()
                    .flat_map(|m| m.config.iter().chain(&m.layers).chain(&m.manifests))
                    .map(|d| d.size)
                    .sum();
                ImageSummary {
                    tags: tags.iter().filter(|t| t.digest == record.digest).map(|t| t.tag.clone()).collect(),
                    size: referenced + record.content.len() as u64,
                    artifact_type: parsed.and_then(|m| m.artifact_type),
                    digest: record.digest,
                    media_type: record.media_type,
                    pushed_at: record.created_at,
                }
            })
            .collect())
    }

    /// Deletes `REPO:TAG` (the tag) or `REPO@DIGEST` (the image and its tags).
    pub async fn delete_image(&self, image: &str) -> Result<(), Error> {
        let name = ImageName::parse(image)?;
        self.delete_manifest(&name.repository, &name.reference).await
    }
}

//! Amazon ECR (json 1.1, `X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>`), onto
//! the registry service (the OCI `/v2/` registry served on the HTTP API's listener):
//! repositories, images and tag mutability, and `GetAuthorizationToken`'s login password
//! for `docker login --username AWS` against that registry (`proxyEndpoint`).
//!
//! Images are named by `imageId`s (`imageTag` and/or `imageDigest`); the batch operations
//! answer a missing one in `failures`, `DescribeImages` with `ImageNotFoundException`.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use trainyard_identity::{repository_arn, ACCOUNT};
use trainyard_registry::{Digest, ImageSummary, Reference, RepositoryRecord};

use crate::protocol::{answer, AwsError, Protocol};
use crate::Call;

/// The most results one page holds, and how many when the caller does not say.
const MAX_RESULTS: usize = 1000;
const DEFAULT_RESULTS: usize = 100;

/// One ECR call.
pub async fn handle(call: &Call<'_>, operation: &str, body: &[u8]) -> Result<Response, AwsError> {
    let input: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| AwsError::bad_request("SerializationException", format!("the body is not JSON: {e}")))?;
    let output = match operation {
        "GetAuthorizationToken" => authorization_token(call).await?,
        "CreateRepository" => create_repository(call, &input).await?,
        "DescribeRepositories" => describe_repositories(call, &input).await?,
        "DeleteRepository" => delete_repository(call, &input).await?,
        "PutImageTagMutability" => put_tag_mutability(call, &input).await?,
        "DescribeImages" => describe_images(call, &input).await?,
        "ListImages" => list_images(call, &input).await?,
        "BatchGetImage" => batch_get_image(call, &input).await?,
        "BatchDeleteImage" => batch_delete_image(call, &input).await?,
        other => {
            return Err(AwsError::bad_request(
                "UnknownOperationException",
                format!("trainyard does not implement AmazonEC2ContainerRegistry_V20150921.{other} yet"),
            ))
        }
    };
    Ok(answer(StatusCode::OK, "application/x-amz-json-1.1", output.to_string(), Protocol::Json, &call.request_id))
}

/// `GetAuthorizationToken`: `base64("AWS:<password>")`, the password standing for the
/// caller's own credential for 12 hours (never past its session).
async fn authorization_token(call: &Call<'_>) -> Result<Value, AwsError> {
    call.authorize("ecr:GetAuthorizationToken", "*").await?;
    let issued =
        call.state.identities.issue_login_password(&call.caller.identity, Utc::now()).map_err(crate::identity_error);
    call.audit("ecr:GetAuthorizationToken", "*", false, issued.as_ref().err()).await;
    let (password, expires) = issued?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    Ok(json!({"authorizationData": [{
        "authorizationToken": token,
        "expiresAt": epoch(expires),
        "proxyEndpoint": call.state.registry_url,
    }]}))
}

async fn create_repository(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    let immutable = match input["imageTagMutability"].as_str() {
        None | Some("MUTABLE") => false,
        Some("IMMUTABLE") => true,
        Some(other) => return Err(invalid(format!("imageTagMutability {other:?} is not MUTABLE or IMMUTABLE"))),
    };
    let resource = repository_arn(name);
    call.authorize("ecr:CreateRepository", &resource).await?;
    let registry = &call.state.registry;
    let created = async {
        let record = registry.create_repository(name).await?;
        if immutable {
            return registry.set_immutable_tags(name, true).await;
        }
        Ok::<_, trainyard_registry::Error>(record)
    }
    .await
    .map_err(|e| registry_error(e, name));
    call.audit("ecr:CreateRepository", &resource, false, created.as_ref().err()).await;
    Ok(json!({"repository": repository_view(call, &created?)}))
}

async fn describe_repositories(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let registry = &call.state.registry;
    if let Some(names) = input["repositoryNames"].as_array() {
        let mut repositories = Vec::new();
        for name in names {
            let name = name.as_str().ok_or_else(|| invalid("repositoryNames holds strings"))?;
            call.authorize("ecr:DescribeRepositories", &repository_arn(name)).await?;
            let record = registry.repository(name).await.map_err(|e| registry_error(e, name))?;
            repositories.push(repository_view(call, &record));
        }
        return Ok(json!({"repositories": repositories}));
    }
    call.authorize("ecr:DescribeRepositories", &repository_arn("*")).await?;
    let limit = max_results(input)?;
    let after = input["nextToken"].as_str();
    let records = registry.repositories(after, limit + 1).await.map_err(|e| registry_error(e, ""))?;
    let more = records.len() > limit;
    let page = &records[..records.len().min(limit)];
    let mut output = json!({"repositories": page.iter().map(|r| repository_view(call, r)).collect::<Vec<_>>()});
    if let (true, Some(last)) = (more, page.last()) {
        output["nextToken"] = json!(last.name);
    }
    Ok(output)
}

async fn delete_repository(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    let resource = repository_arn(name);
    call.authorize("ecr:DeleteRepository", &resource).await?;
    let registry = &call.state.registry;
    let deleted = async {
        let record = registry.repository(name).await?;
        registry.delete_repository_checked(name, input["force"].as_bool().unwrap_or(false)).await?;
        Ok::<_, trainyard_registry::Error>(record)
    }
    .await
    .map_err(|e| registry_error(e, name));
    call.audit("ecr:DeleteRepository", &resource, false, deleted.as_ref().err()).await;
    Ok(json!({"repository": repository_view(call, &deleted?)}))
}

async fn put_tag_mutability(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    let immutable = match input["imageTagMutability"].as_str() {
        Some("MUTABLE") => false,
        Some("IMMUTABLE") => true,
        _ => return Err(invalid("imageTagMutability must be MUTABLE or IMMUTABLE")),
    };
    let resource = repository_arn(name);
    call.authorize("ecr:PutImageTagMutability", &resource).await?;
    let set = call.state.registry.set_immutable_tags(name, immutable).await.map_err(|e| registry_error(e, name));
    call.audit("ecr:PutImageTagMutability", &resource, false, set.as_ref().err()).await;
    let record = set?;
    Ok(json!({
        "registryId": ACCOUNT,
        "repositoryName": record.name,
        "imageTagMutability": mutability(&record),
    }))
}

async fn describe_images(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    call.authorize("ecr:DescribeImages", &repository_arn(name)).await?;
    let images = call.state.registry.images(name).await.map_err(|e| registry_error(e, name))?;
    let detail = |image: &ImageSummary| {
        let mut detail = json!({
            "registryId": ACCOUNT,
            "repositoryName": name,
            "imageDigest": image.digest,
            "imageSizeInBytes": image.size,
            "imagePushedAt": epoch(image.pushed_at),
            "imageManifestMediaType": image.media_type,
        });
        if !image.tags.is_empty() {
            detail["imageTags"] = json!(image.tags);
        }
        if let Some(artifact) = &image.artifact_type {
            detail["artifactMediaType"] = json!(artifact);
        }
        detail
    };
    if let Some(ids) = input["imageIds"].as_array() {
        let mut details = Vec::new();
        for id in ids {
            match find(&images, id) {
                Ok(image) => details.push(detail(image)),
                Err(_) => return Err(image_not_found(id, name)),
            }
        }
        return Ok(json!({"imageDetails": details}));
    }
    let status = input.pointer("/filter/tagStatus").and_then(Value::as_str).unwrap_or("ANY");
    let chosen: Vec<Value> = images.iter().filter(|i| tag_status(i, status)).map(detail).collect();
    paged(input, chosen, "imageDetails")
}

async fn list_images(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    call.authorize("ecr:ListImages", &repository_arn(name)).await?;
    let images = call.state.registry.images(name).await.map_err(|e| registry_error(e, name))?;
    let status = input.pointer("/filter/tagStatus").and_then(Value::as_str).unwrap_or("ANY");
    let ids: Vec<Value> = images
        .iter()
        .filter(|i| tag_status(i, status))
        .flat_map(|image| {
            if image.tags.is_empty() {
                return vec![json!({"imageDigest": image.digest})];
            }
            image.tags.iter().map(|tag| json!({"imageDigest": image.digest, "imageTag": tag})).collect()
        })
        .collect();
    paged(input, ids, "imageIds")
}

async fn batch_get_image(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    call.authorize("ecr:BatchGetImage", &repository_arn(name)).await?;
    let registry = &call.state.registry;
    let images = registry.images(name).await.map_err(|e| registry_error(e, name))?;
    let accepted: Option<Vec<&str>> =
        input["acceptedMediaTypes"].as_array().map(|types| types.iter().filter_map(Value::as_str).collect());
    let (mut found, mut failures) = (Vec::new(), Vec::new());
    for id in image_ids(input)? {
        let image = match find(&images, id) {
            Ok(image) => image,
            Err(failure) => {
                failures.push(failure);
                continue;
            }
        };
        if accepted.as_ref().is_some_and(|types| !types.contains(&image.media_type.as_str())) {
            failures.push(failure(id, "UnsupportedImageType", "The image's manifest media type is not accepted"));
            continue;
        }
        let digest = Digest::parse(&image.digest).map_err(|e| registry_error(e, name))?;
        let record = match registry.manifest(name, &Reference::Digest(digest)).await {
            Ok(record) => record,
            // Deleted since it was listed.
            Err(trainyard_registry::Error::ManifestUnknown { .. }) => {
                failures.push(failure(id, "ImageNotFound", "Requested image not found"));
                continue;
            }
            Err(e) => return Err(registry_error(e, name)),
        };
        let mut image_id = json!({"imageDigest": record.digest});
        if let Some(tag) = id["imageTag"].as_str() {
            image_id["imageTag"] = json!(tag);
        }
        found.push(json!({
            "registryId": ACCOUNT,
            "repositoryName": name,
            "imageId": image_id,
            "imageManifest": String::from_utf8_lossy(&record.content),
            "imageManifestMediaType": record.media_type,
        }));
    }
    Ok(json!({"images": found, "failures": failures}))
}

async fn batch_delete_image(call: &Call<'_>, input: &Value) -> Result<Value, AwsError> {
    let name = repository_name(input)?;
    let resource = repository_arn(name);
    call.authorize("ecr:BatchDeleteImage", &resource).await?;
    let ids = image_ids(input)?;
    let registry = &call.state.registry;
    let outcome = async {
        let images = registry.images(name).await?;
        let (mut deleted, mut failures) = (Vec::new(), Vec::new());
        for id in ids {
            let image = match find(&images, id) {
                Ok(image) => image,
                Err(failure) => {
                    failures.push(failure);
                    continue;
                }
            };
            let removed = match (id["imageTag"].as_str(), id["imageDigest"].as_str()) {
                // By tag alone: the tag goes, and the image with its last tag.
                (Some(tag), None) => registry.untag(name, tag).await.map(|_| ()),
                _ => registry.delete_manifest(name, &Reference::Digest(Digest::parse(&image.digest)?)).await,
            };
            match removed {
                Ok(()) => {
                    let mut image_id = json!({"imageDigest": image.digest});
                    if let Some(tag) = id["imageTag"].as_str() {
                        image_id["imageTag"] = json!(tag);
                    }
                    deleted.push(image_id);
                }
                Err(trainyard_registry::Error::ManifestUnknown { .. }) => {
                    failures.push(failure(id, "ImageNotFound", "Requested image not found"));
                }
                Err(e) => return Err(e),
            }
        }
        Ok::<_, trainyard_registry::Error>(json!({"imageIds": deleted, "failures": failures}))
    }
    .await
    .map_err(|e| registry_error(e, name));
    call.audit("ecr:BatchDeleteImage", &resource, false, outcome.as_ref().err()).await;
    outcome
}

/// A repository as ECR describes it; its URI is on the registry's host.
fn repository_view(call: &Call<'_>, record: &RepositoryRecord) -> Value {
    let url = &call.state.registry_url;
    let host = url.split_once("://").map_or(url.as_str(), |(_, host)| host).trim_end_matches('/');
    json!({
        "repositoryArn": repository_arn(&record.name),
        "registryId": ACCOUNT,
        "repositoryName": record.name,
        "repositoryUri": format!("{host}/{}", record.name),
        "createdAt": epoch(record.created_at),
        "imageTagMutability": mutability(record),
        "imageScanningConfiguration": {"scanOnPush": false},
        "encryptionConfiguration": {"encryptionType": "AES256"},
    })
}

fn mutability(record: &RepositoryRecord) -> &'static str {
    if record.immutable_tags {
        "IMMUTABLE"
    } else {
        "MUTABLE"
    }
}

/// The image an `imageId` names among `images`, or its entry in `failures`: the tag and
/// the digest, when both are given, must name the same image.
fn find<'a>(images: &'a [ImageSummary], id: &Value) -> Result<&'a ImageSummary, Value> {
    let (tag, digest) = (id["imageTag"].as_str(), id["imageDigest"].as_str());
    if let Some(digest) = digest {
        if Digest::parse(digest).is_err() {
            return Err(failure(
                id,
                "InvalidImageDigest",
                "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'",
            ));
        }
    }
    if let Some(tag) = tag {
        if trainyard_registry::validate_tag(tag).is_err() {
            return Err(failure(id, "InvalidImageTag", "Invalid request parameters: the image tag is not valid"));
        }
    }
    let by_tag = tag.map(|tag| images.iter().find(|i| i.tags.iter().any(|t| t == tag)));
    let by_digest = digest.map(|digest| images.iter().find(|i| i.digest == digest));
    match (by_tag, by_digest) {
        (Some(Some(a)), Some(Some(b))) if a.digest != b.digest => Err(failure(
            id,
            "ImageTagDoesNotMatchDigest",
            "Invalid request parameters: given tag does not map to the given digest",
        )),
        (Some(Some(image)), None | Some(Some(_))) | (None, Some(Some(image))) => Ok(image),
        (None, None) => {
            Err(failure(id, "MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null"))
        }
        _ => Err(failure(id, "ImageNotFound", "Requested image not found")),
    }
}

fn failure(id: &Value, code: &str, reason: &str) -> Value {
    json!({"imageId": id, "failureCode": code, "failureReason": reason})
}

/// Whether an image passes `filter.tagStatus` (`TAGGED`, `UNTAGGED`, `ANY`).
fn tag_status(image: &ImageSummary, status: &str) -> bool {
    match status {
        "TAGGED" => !image.tags.is_empty(),
        "UNTAGGED" => image.tags.is_empty(),
        _ => true,
    }
}

fn image_ids(input: &Value) -> Result<&Vec<Value>, AwsError> {
    input["imageIds"].as_array().ok_or_else(|| invalid("imageIds is required"))
}

fn repository_name(input: &Value) -> Result<&str, AwsError> {
    input["repositoryName"].as_str().ok_or_else(|| invalid("repositoryName is required"))
}

fn max_results(input: &Value) -> Result<usize, AwsError> {
    match input["maxResults"].as_u64() {
        None => Ok(DEFAULT_RESULTS),
        Some(n) if (1..=MAX_RESULTS as u64).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!("maxResults {n} is not between 1 and {MAX_RESULTS}"))),
    }
}

/// One page of `items` under `key`: `nextToken` is the offset of the next page.
fn paged(input: &Value, items: Vec<Value>, key: &str) -> Result<Value, AwsError> {
    let limit = max_results(input)?;
    let start = match input["nextToken"].as_str() {
        Some(token) => token.parse::<usize>().map_err(|_| invalid("nextToken is not one this server gave"))?,
        None => 0,
    };
    let end = items.len().min(start.saturating_add(limit));
    let page = items.get(start..end).unwrap_or_default();
    let mut output = serde_json::Map::new();
    output.insert(key.to_string(), json!(page));
    if end < items.len() {
        output.insert("nextToken".into(), json!(end.to_string()));
    }
    Ok(Value::Object(output))
}

/// Seconds since the epoch, as botocore reads json timestamps.
fn epoch(time: DateTime<Utc>) -> f64 {
    time.timestamp_millis() as f64 / 1000.0
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("InvalidParameterException", message)
}

fn image_not_found(id: &Value, repository: &str) -> AwsError {
    AwsError::bad_request(
        "ImageNotFoundException",
        format!(
            "The image with imageId {{imageDigest:'{}', imageTag:'{}'}} does not exist within the repository with name '{repository}' in the registry with id '{ACCOUNT}'",
            id["imageDigest"].as_str().unwrap_or("null"),
            id["imageTag"].as_str().unwrap_or("null"),
        ),
    )
}

/// A registry error as ECR words it.
fn registry_error(error: trainyard_registry::Error, repository: &str) -> AwsError {
    use trainyard_registry::Error as Registry;
    match error {
        Registry::NameUnknown { .. } | Registry::Store(trainyard_store::Error::NotFound { .. }) => {
            AwsError::bad_request(
                "RepositoryNotFoundException",
                format!("The repository with name '{repository}' does not exist in the registry with id '{ACCOUNT}'"),
            )
        }
        Registry::Store(trainyard_store::Error::AlreadyExists { .. }) => AwsError::bad_request(
            "RepositoryAlreadyExistsException",
            format!("The repository with name '{repository}' already exists in the registry with id '{ACCOUNT}'"),
        ),
        Registry::RepositoryNotEmpty { .. } => AwsError::bad_request(
            "RepositoryNotEmptyException",
            format!(
                "The repository with name '{repository}' in registry with id '{ACCOUNT}' cannot be deleted because it still contains images"
            ),
        ),
        Registry::ManifestUnknown { .. } => {
            AwsError::bad_request("ImageNotFoundException", format!("Requested image not found: {error}"))
        }
        Registry::TagImmutable { .. } => AwsError::bad_request("ImageTagAlreadyExistsException", error.to_string()),
        Registry::NameInvalid { .. } | Registry::TagInvalid { .. } | Registry::DigestInvalid { .. } => {
            invalid(format!("Invalid parameter: {error}"))
        }
        other => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(error = %other, %id, "internal error in AmazonEC2ContainerRegistry_V20150921.*");
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "ServerException", format!("internal error {id}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(digest: &str, tags: &[&str]) -> ImageSummary {
        ImageSummary {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: None,
            size: 1,
            pushed_at: Utc::now(),
        }
    }

    #[test]
    fn image_ids_name_one_image_or_say_why_not() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let images = [image(&a, &["v1", "latest"]), image(&b, &[])];
        assert_eq!(find(&images, &json!({"imageTag": "v1"})).unwrap().digest, a);
        assert_eq!(find(&images, &json!({"imageDigest": b})).unwrap().digest, b);
        assert_eq!(find(&images, &json!({"imageTag": "latest", "imageDigest": a})).unwrap().digest, a);
        let code = |id: Value| find(&images, &id).unwrap_err()["failureCode"].clone();
        assert_eq!(code(json!({"imageTag": "v1", "imageDigest": b})), "ImageTagDoesNotMatchDigest");
        assert_eq!(code(json!({"imageTag": "v9"})), "ImageNotFound");
        assert_eq!(code(json!({"imageDigest": format!("sha256:{}", "c".repeat(64))})), "ImageNotFound");
        assert_eq!(code(json!({"imageDigest": "not-a-digest"})), "InvalidImageDigest");
        assert_eq!(code(json!({"imageTag": "-bad"})), "InvalidImageTag");
        assert_eq!(code(json!({})), "MissingDigestAndTag");
    }

    #[test]
    fn pages_continue_where_the_token_says() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let first = paged(&json!({"maxResults": 2}), items.clone(), "ids").unwrap();
        assert_eq!((first["ids"].clone(), first["nextToken"].clone()), (json!([0, 1]), json!("2")));
        let last = paged(&json!({"maxResults": 3, "nextToken": "3"}), items.clone(), "ids").unwrap();
        assert_eq!(last["ids"], json!([3, 4]));
        assert!(last.get("nextToken").is_none());
        assert_eq!(paged(&json!({"maxResults": 0}), items, "ids").unwrap_err().code, "InvalidParameterException");
    }
}

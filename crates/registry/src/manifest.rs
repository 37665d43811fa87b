//! Manifests and indexes (OCI and Docker v2 schema 2): what is checked on a push and what
//! is read out of them (referenced blobs and manifests, subject, artifact type).

use serde_json::{Map, Value};

use crate::{Digest, Error};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The largest manifest accepted (the spec asks registries to take at least 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Layers of a non-distributable type are fetched elsewhere.
    pub foreign: bool,
}

/// A manifest that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub media_type: String,
    /// An image manifest's config.
    pub config: Option<Descriptor>,
    /// An image manifest's layers.
    pub layers: Vec<Descriptor>,
    /// An index's manifests.
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// `artifactType`, else (for an image manifest) the config's media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<Map<String, Value>>,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}

/// Parses and checks a manifest pushed with `content_type`.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, Error> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(Error::ManifestInvalid { reason: format!("larger than {MAX_MANIFEST_BYTES} bytes") });
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::ManifestInvalid { reason: format!("not valid JSON: {e}") })?;
    let object = value.as_object().ok_or_else(|| invalid("must be a JSON object"))?;
    if object.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let declared = match object.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(invalid("mediaType must be a string")),
    };
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or_default().trim()).filter(|c| !c.is_empty());
    let media_type = match (declared, content_type) {
        (Some(declared), Some(header)) if declared != header => {
            return Err(invalid(&format!("mediaType {declared:?} does not agree with Content-Type {header:?}")))
        }
        (Some(media_type), _) | (None, Some(media_type)) => media_type.to_string(),
        (None, None) => return Err(invalid("no mediaType field and no Content-Type")),
    };
    let mut manifest = Manifest {
        media_type: media_type.clone(),
        config: None,
        layers: Vec::new(),
        manifests: Vec::new(),
        subject: object.get("subject").map(|s| descriptor(s, "subject")).transpose()?,
        artifact_type: match object.get("artifactType") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("artifactType must be a string")),
        },
        annotations: match object.get("annotations") {
            None => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => return Err(invalid("annotations must be an object")),
        },
    };
    match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config =
                descriptor(object.get("config").ok_or_else(|| invalid("an image manifest needs config"))?, "config")?;
            manifest.layers = descriptors(object.get("layers"), "layers")?;
            if manifest.artifact_type.is_none() {
                manifest.artifact_type = Some(config.media_type.clone());
            }
            manifest.config = Some(config);
        }
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            manifest.manifests = descriptors(object.get("manifests"), "manifests")?;
        }
        other => return Err(invalid(&format!("unsupported manifest media type {other:?}"))),
    }
    Ok(manifest)
}

fn invalid(reason: &str) -> Error {
    Error::ManifestInvalid { reason: reason.into() }
}

fn descriptors(value: Option<&Value>, field: &str) -> Result<Vec<Descriptor>, Error> {
    match value {
        None => Err(invalid(&format!("{field} is missing"))),
        Some(Value::Array(items)) => {
            items.iter().enumerate().map(|(i, item)| descriptor(item, &format!("{field}[{i}]"))).collect()
        }
        Some(_) => Err(invalid(&format!("{field} must be an array"))),
    }
}

fn descriptor(value: &Value, field: &str) -> Result<Descriptor, Error> {
    let object = value.as_object().ok_or_else(|| invalid(&format!("{field} must be a descriptor object")))?;
    let media_type = object
        .get("mediaType")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{field}.mediaType must be a string")))?;
    let digest = object
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{field}.digest must be a string")))?;
    let digest = Digest::parse(digest).map_err(|e| invalid(&format!("{field}.digest: {e}")))?;
    let size = object
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(&format!("{field}.size must be a non-negative integer")))?;
    let foreign =
        object.get("urls").is_some() || media_type.contains("foreign") || media_type.contains("nondistributable");
    Ok(Descriptor { media_type: media_type.into(), digest, size, foreign })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(extra: Value) -> Vec<u8> {
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(b"{}").to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::sha256_of(b"x").to_string(), "size": 1}],
        });
        manifest.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::to_vec(&manifest).unwrap()
    }

    #[test]
    fn an_image_manifest_yields_its_blobs_and_artifact_type() {
        let manifest = parse(&image(json!({})), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(manifest.layers.len(), 1);
        assert_eq!(manifest.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert!(!manifest.is_index());
    }

    #[test]
    fn media_type_must_agree_with_the_content_type() {
        let error = parse(&image(json!({})), Some(DOCKER_MANIFEST)).unwrap_err();
        assert!(error.to_string().contains("does not agree"), "{error}");
        let without = image(json!({"mediaType": null}));
        let mut value: Value = serde_json::from_slice(&without).unwrap();
        value.as_object_mut().unwrap().remove("mediaType");
        let bytes = serde_json::to_vec(&value).unwrap();
        assert_eq!(parse(&bytes, Some(OCI_MANIFEST)).unwrap().media_type, OCI_MANIFEST);
        assert!(parse(&bytes, None).is_err());
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_field_at_fault() {
        for (extra, expected) in [
            (json!({"schemaVersion": 1}), "schemaVersion"),
            (json!({"layers": "x"}), "layers must be an array"),
            (json!({"layers": [{"mediaType": "x", "digest": "sha256:1", "size": 1}]}), "layers[0].digest"),
            (
                json!({"config": {"mediaType": "x", "digest": Digest::sha256_of(b"").to_string(), "size": -1}}),
                "config.size",
            ),
            (json!({"subject": 3}), "subject"),
        ] {
            let error = parse(&image(extra), Some(OCI_MANIFEST)).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
        assert!(parse(b"[]", Some(OCI_MANIFEST)).is_err());
        assert!(parse(b"{", Some(OCI_MANIFEST)).is_err());
    }
}

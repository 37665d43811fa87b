//! What S3 keeps beside an object's bytes, as its headers and sub-resources carry them:
//! user metadata (`x-amz-meta-*`), tags (`x-amz-tagging`, `?tagging`), and the parts of an
//! upload in progress (ListParts).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use trainyard_objects::Attributes;
use trainyard_store::ObjectRecord;

use crate::protocol::xml_escape;
use crate::protocol::AwsError;
use crate::s3::{decode_percent, elements, empty, find, objects_error, small_body, xml, S3Request, XMLNS};
use crate::Call;

/// `k1=v1&k2=v2`, URL-encoded, as `x-amz-tagging` carries tags.
fn tags_from_query(text: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let bad = || AwsError::bad_request("InvalidArgument", "x-amz-tagging is not a URL-encoded query string");
    let mut tags = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |part: &str| decode_percent(&part.replace('+', " ")).ok_or_else(bad);
        tags.insert(decode(key)?, decode(value)?);
    }
    Ok(tags)
}

/// The metadata and tags a PutObject (or CreateMultipartUpload) request gives.
pub fn from_headers(headers: &[(String, String)]) -> Result<Attributes, AwsError> {
    let metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            name.strip_prefix("x-amz-meta-").map(|n| (n.to_string(), value.clone()))
        })
        .collect();
    let tags = match find(headers, "x-amz-tagging") {
        Some(text) => tags_from_query(text)?,
        None => BTreeMap::new(),
    };
    Ok(Attributes { metadata, tags })
}

/// A copy's attributes: the source's, or the request's where its directive says `REPLACE`.
pub fn for_copy(headers: &[(String, String)], source: &ObjectRecord) -> Result<Attributes, AwsError> {
    let given = from_headers(headers)?;
    let replace = |name: &str| find(headers, name).is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    Ok(Attributes {
        metadata: if replace("x-amz-metadata-directive") { given.metadata } else { source.metadata.clone() },
        tags: if replace("x-amz-tagging-directive") { given.tags } else { source.tags.clone() },
    })
}

/// GetObject's and HeadObject's headers for them.
pub fn headers(response: &mut Response, record: &ObjectRecord) {
    for (name, value) in &record.metadata {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(format!("x-amz-meta-{name}").as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    if !record.tags.is_empty() {
        if let Ok(count) = axum::http::HeaderValue::from_str(&record.tags.len().to_string()) {
            response.headers_mut().insert("x-amz-tagging-count", count);
        }
    }
}

/// `?tagging` on an object: PutObjectTagging, GetObjectTagging, DeleteObjectTagging.
pub async fn tagging(
    call: &Call<'_>,
    request: &S3Request<'_>,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, AwsError> {
    let arn = format!("arn:aws:s3:::{bucket}/{key}");
    let objects = &call.state.objects;
    let (action, tags) = match request.method.as_str() {
        "GET" => {
            call.authorize("s3:GetObjectTagging", &arn).await?;
            let record = objects.head(bucket, key).await.map_err(objects_error)?;
            let set: String = record
                .tags
                .iter()
                .map(|(k, v)| format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_escape(k), xml_escape(v)))
                .collect();
            return Ok(xml(call, format!("<Tagging xmlns=\"{XMLNS}\"><TagSet>{set}</TagSet></Tagging>")));
        }
        "PUT" => {
            let body = small_body(request, body, 64 * 1024).await?;
            let text = String::from_utf8_lossy(&body);
            let (keys, values) = (elements(&text, "Key"), elements(&text, "Value"));
            if !text.contains("<Tagging") || keys.len() != values.len() {
                return Err(AwsError::bad_request("MalformedXML", "expected <Tagging><TagSet><Tag><Key/><Value/>…"));
            }
            ("s3:PutObjectTagging", keys.into_iter().zip(values).collect())
        }
        "DELETE" => ("s3:DeleteObjectTagging", BTreeMap::new()),
        _ => {
            return Err(AwsError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "?tagging: GET, PUT, DELETE"))
        }
    };
    call.authorize(action, &arn).await?;
    let set = objects.set_tags(bucket, key, tags).await.map_err(objects_error);
    call.audit(action, &arn, false, set.as_ref().err()).await;
    set?;
    let status = if request.method == Method::DELETE { StatusCode::NO_CONTENT } else { StatusCode::OK };
    Ok(empty(call, status))
}

/// ListParts: the parts stored so far, ascending, paged by `part-number-marker`.
pub async fn list_parts(
    call: &Call<'_>,
    request: &S3Request<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response, AwsError> {
    call.authorize("s3:ListMultipartUploadParts", &format!("arn:aws:s3:::{bucket}/{key}")).await?;
    let upload = request.query("uploadId").unwrap_or_default();
    let marker: i64 = request.query("part-number-marker").and_then(|m| m.parse().ok()).unwrap_or(0);
    let max: usize = request.query("max-parts").and_then(|m| m.parse().ok()).unwrap_or(1000).clamp(1, 1000);
    let parts = call.state.objects.parts(bucket, key, upload).await.map_err(objects_error)?;
    let after: Vec<_> = parts.into_iter().filter(|p| p.part_number > marker).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let items: String = page
        .iter()
        .map(|p| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>&quot;{}&quot;</ETag><Size>{}</Size></Part>",
                p.part_number, p.etag, p.size
            )
        })
        .collect();
    let next = page.last().map_or(marker, |p| p.part_number);
    Ok(xml(
        call,
        format!(
            "<ListPartsResult xmlns=\"{XMLNS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{next}</NextPartNumberMarker><MaxParts>{max}</MaxParts><IsTruncated>{truncated}</IsTruncated>{items}<StorageClass>STANDARD</StorageClass></ListPartsResult>",
            xml_escape(bucket),
            xml_escape(key),
            xml_escape(upload)
        ),
    ))
}

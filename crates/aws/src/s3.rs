//! S3 (rest-xml, path style: `/{bucket}/{key}`) onto the objects service. Object bodies
//! stream: a signed payload's SHA-256 and an `aws-chunked` body's chunk signatures are
//! checked as the bytes pass, and the object becomes visible only if they hold.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use trainyard_objects::Objects;
use trainyard_sigv4::{Authorization, ChunkedDecoder, ChunkedMode, Verified};
use trainyard_store::ObjectRecord;

use crate::protocol::{answer, xml_escape, AwsError, Protocol};
pub(crate) use crate::signed::header as find;
use crate::Call;

pub(crate) const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Sub-resources of buckets and objects that are not implemented (yet).
const UNSUPPORTED: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "tagging", // on a bucket; an object's is served
    "torrent",
    "versioning",
    "versionId",
    "versions",
    "website",
];

/// What an S3 request is, read from its method, path and query.
pub struct S3Request<'a> {
    pub method: &'a Method,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: &'a [(String, String)],
}

impl S3Request<'_> {
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// (bucket, key): the first path segment and the rest, percent-decoded.
    fn target(&self) -> Result<(String, Option<String>), AwsError> {
        let path = self.path.trim_start_matches('/');
        let (bucket, key) = match path.split_once('/') {
            Some((bucket, key)) => (bucket, Some(key)),
            None => (path, None),
        };
        let decode = |text: &str| {
            decode_percent(text)
                .ok_or_else(|| AwsError::bad_request("InvalidURI", "the path is not valid percent-encoding"))
        };
        Ok((decode(bucket)?, key.filter(|k| !k.is_empty()).map(decode).transpose()?))
    }
}

/// One S3 call. `body` is the request body, not yet read; `verified` the signature's.
pub async fn handle(
    call: &Call<'_>,
    request: &S3Request<'_>,
    auth: &Authorization,
    verified: &Verified,
    body: Body,
) -> Result<Response, AwsError> {
    let objects = &call.state.objects;
    let (bucket, key) = request.target()?;
    if !bucket.is_empty() && key.is_none() && request.has("policy") {
        return crate::bucket_policy::handle(call, request, &bucket, body).await;
    }
    if let (Some(key), true) = (key.as_deref(), request.has("tagging")) {
        return crate::s3_attributes::tagging(call, request, &bucket, key, body).await;
    }
    if let (Some(key), true) = (key.as_deref(), request.method == Method::GET && request.has("uploadId")) {
        return crate::s3_attributes::list_parts(call, request, &bucket, key).await;
    }
    // Invariant: a sub-resource this facade does not implement is refused, never taken
    // for the bucket or object itself (`PUT ?tagging` must not overwrite the object).
    if let Some((name, _)) = request.query.iter().find(|(name, _)| UNSUPPORTED.contains(&name.as_str())) {
        return Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("trainyard does not implement the S3 sub-resource ?{name} yet"),
        ));
    }
    if request.has("uploadId") && find(request.headers, "x-amz-copy-source").is_some() {
        return Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "trainyard does not implement UploadPartCopy yet",
        ));
    }
    let arn = |key: Option<&str>| match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    };
    match (request.method.as_str(), bucket.is_empty(), key.as_deref()) {
        ("GET", true, _) => {
            call.authorize("s3:ListAllMyBuckets", "*").await?;
            let buckets = objects.list_buckets().await.map_err(objects_error)?;
            let items: String = buckets
                .iter()
                .map(|b| {
                    format!(
                        "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate></Bucket>",
                        xml_escape(&b.name),
                        iso(b.creation_date)
                    )
                })
                .collect();
            Ok(xml(call, format!(
                "<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>",
                trainyard_identity::ACCOUNT
            )))
        }
        ("PUT", false, None) => {
            call.authorize("s3:CreateBucket", &arn(None)).await?;
            let created = objects.create_bucket(&bucket).await.map_err(objects_error);
            call.audit("s3:CreateBucket", &arn(None), false, created.as_ref().err()).await;
            created?;
            let mut response = empty(call, StatusCode::OK);
            insert(&mut response, header::LOCATION, &format!("/{bucket}"));
            Ok(response)
        }
        ("HEAD", false, None) => {
            call.authorize("s3:ListBucket", &arn(None)).await?;
            objects.bucket(&bucket).await.map_err(objects_error)?;
            Ok(empty(call, StatusCode::OK))
        }
        ("DELETE", false, None) => {
            call.authorize("s3:DeleteBucket", &arn(None)).await?;
            let deleted = objects.delete_bucket(&bucket).await.map_err(objects_error);
            call.audit("s3:DeleteBucket", &arn(None), false, deleted.as_ref().err()).await;
            deleted?;
            // The bucket's policy goes with it (a bucket made again under the name starts bare).
            let _ = call.state.identities.delete_resource_policy(&arn(None)).await;
            Ok(empty(call, StatusCode::NO_CONTENT))
        }
        ("GET", false, None) if request.has("location") => {
            call.authorize("s3:GetBucketLocation", &arn(None)).await?;
            objects.bucket(&bucket).await.map_err(objects_error)?;
            Ok(xml(call, format!("<LocationConstraint xmlns=\"{XMLNS}\"></LocationConstraint>")))
        }
        ("GET", false, None) if request.has("uploads") => Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "trainyard does not implement ListMultipartUploads yet",
        )),
        ("GET", false, None) => {
            call.authorize("s3:ListBucket", &arn(None)).await?;
            list(call, request, &bucket).await
        }
        ("POST", false, None) if request.has("delete") => delete_objects(call, request, &bucket, body).await,
        ("POST", false, Some(key)) if request.has("uploads") => {
            let resource = arn(Some(key));
            call.authorize("s3:PutObject", &resource).await?;
            let content_type = find(request.headers, "content-type").unwrap_or("binary/octet-stream");
            let upload = objects.create_upload(&bucket, key, content_type).await.map_err(objects_error)?;
            Ok(xml(call, format!(
                "<InitiateMultipartUploadResult xmlns=\"{XMLNS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>",
                xml_escape(&bucket),
                xml_escape(key)
            )))
        }
        ("PUT", false, Some(key)) if request.has("uploadId") => {
            call.authorize("s3:PutObject", &arn(Some(key))).await?;
            let upload = request.query("uploadId").unwrap_or_default();
            let number = request.query("partNumber").and_then(|n| n.parse::<i64>().ok()).ok_or_else(|| {
                AwsError::bad_request(
                    "InvalidArgument",
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
            let stream = checked(request, auth, verified, body);
            let uploaded = objects.upload_part(&bucket, key, upload, number, stream).await.map_err(objects_error);
            call.audit("s3:PutObject", &arn(Some(key)), false, uploaded.as_ref().err()).await;
            let etag = uploaded?;
            let mut response = empty(call, StatusCode::OK);
            insert(&mut response, header::ETAG, &format!("\"{etag}\""));
            Ok(response)
        }
        ("POST", false, Some(key)) if request.has("uploadId") => {
            let resource = arn(Some(key));
            call.authorize("s3:PutObject", &resource).await?;
            let completed = complete(call, request, &bucket, key, body).await;
            call.audit("s3:PutObject", &resource, false, completed.as_ref().err()).await;
            completed
        }
        ("DELETE", false, Some(key)) if request.has("uploadId") => {
            call.authorize("s3:AbortMultipartUpload", &arn(Some(key))).await?;
            let upload = request.query("uploadId").unwrap_or_default();
            let aborted = objects.abort_upload(&bucket, key, upload).await.map_err(objects_error);
            call.audit("s3:AbortMultipartUpload", &arn(Some(key)), false, aborted.as_ref().err()).await;
            aborted?;
            Ok(empty(call, StatusCode::NO_CONTENT))
        }
        ("PUT", false, Some(key)) => {
            let resource = arn(Some(key));
            call.authorize("s3:PutObject", &resource).await?;
            let put = match find(request.headers, "x-amz-copy-source") {
                Some(source) => copy(call, request, source, &bucket, key).await,
                None => put(call, request, auth, verified, &bucket, key, body).await,
            };
            call.audit("s3:PutObject", &resource, false, put.as_ref().err()).await;
            put
        }
        ("GET" | "HEAD", false, Some(key)) => {
            call.authorize("s3:GetObject", &arn(Some(key))).await?;
            get(call, request, &bucket, key).await
        }
        ("DELETE", false, Some(key)) => {
            let resource = arn(Some(key));
            call.authorize("s3:DeleteObject", &resource).await?;
            let deleted = objects.delete(&bucket, key).await.map_err(objects_error);
            call.audit("s3:DeleteObject", &resource, false, deleted.as_ref().err()).await;
            deleted?;
            Ok(empty(call, StatusCode::NO_CONTENT))
        }
        (method, _, _) => Err(AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("trainyard does not implement S3 {method} {} yet", request.path),
        )),
    }
}

/// ListObjectsV2 (`list-type=2`) and ListObjects (v1, `marker`).
async fn list(call: &Call<'_>, request: &S3Request<'_>, bucket: &str) -> Result<Response, AwsError> {
    let v2 = request.query("list-type") == Some("2");
    let prefix = request.query("prefix").unwrap_or("");
    let delimiter = request.query("delimiter").filter(|d| !d.is_empty());
    let max_keys = request.query("max-keys").and_then(|m| m.parse::<usize>().ok()).unwrap_or(1000).min(1000);
    let url = request.query("encoding-type") == Some("url");
    let after = if v2 {
        match request.query("continuation-token") {
            Some(token) => Some(decode_token(token)?),
            None => request.query("start-after").map(str::to_string),
        }
    } else {
        request.query("marker").map(str::to_string)
    };
    if max_keys == 0 {
        return Err(AwsError::bad_request("InvalidArgument", "max-keys must be at least 1 here"));
    }
    let listing =
        call.state.objects.list(bucket, prefix, delimiter, after.as_deref(), max_keys).await.map_err(objects_error)?;
    let text = |value: &str| if url { encode_key(value) } else { xml_escape(value) };
    let mut out = format!(
        "<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        xml_escape(bucket),
        text(prefix)
    );
    if let Some(delimiter) = delimiter {
        out.push_str(&format!("<Delimiter>{}</Delimiter>", text(delimiter)));
    }
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
    out.push_str(&format!("<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{}</IsTruncated>", listing.is_truncated));
    if v2 {
        out.push_str(&format!("<KeyCount>{}</KeyCount>", listing.contents.len() + listing.common_prefixes.len()));
        if let Some(token) = request.query("continuation-token") {
            out.push_str(&format!("<ContinuationToken>{}</ContinuationToken>", xml_escape(token)));
        }
        if let Some(next) = listing.next_start_after.as_deref().filter(|_| listing.is_truncated) {
            out.push_str(&format!("<NextContinuationToken>{}</NextContinuationToken>", encode_token(next)));
        }
    } else if let Some(next) = listing.next_start_after.as_deref().filter(|_| listing.is_truncated) {
        out.push_str(&format!("<NextMarker>{}</NextMarker>", text(next)));
    }
    for object in &listing.contents {
        out.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            text(&object.key),
            iso(object.last_modified),
            object.etag,
            object.size
        ));
    }
    for common in &listing.common_prefixes {
        out.push_str(&format!("<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>", text(common)));
    }
    out.push_str("</ListBucketResult>");
    Ok(xml(call, out))
}

/// PutObject: the body streams into the objects service; a signed SHA-256 or an
/// `aws-chunked` body is checked as it passes, and a mismatch leaves no object.
async fn put(
    call: &Call<'_>,
    request: &S3Request<'_>,
    auth: &Authorization,
    verified: &Verified,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, AwsError> {
    let content_type = find(request.headers, "content-type").unwrap_or("binary/octet-stream");
    let stream = checked(request, auth, verified, body);
    let attributes = crate::s3_attributes::from_headers(request.headers)?;
    let record =
        call.state.objects.put_with(bucket, key, content_type, attributes, stream).await.map_err(objects_error)?;
    let mut response = empty(call, StatusCode::OK);
    insert(&mut response, header::ETAG, &format!("\"{}\"", record.etag));
    Ok(response)
}

/// The request body as a stream that checks itself against `x-amz-content-sha256`.
fn checked(
    request: &S3Request<'_>,
    auth: &Authorization,
    verified: &Verified,
    body: Body,
) -> Checked<axum::body::BodyDataStream> {
    let content_sha256 = find(request.headers, "x-amz-content-sha256").unwrap_or(trainyard_sigv4::UNSIGNED_PAYLOAD);
    let check = match ChunkedMode::from_content_sha256(content_sha256) {
        Some(mode) => Check::Chunked(Box::new(ChunkedDecoder::new(mode, Some(verified), auth))),
        None if content_sha256 == trainyard_sigv4::UNSIGNED_PAYLOAD => Check::None,
        None => Check::Sha256(Sha256::new(), content_sha256.to_ascii_lowercase()),
    };
    Checked { inner: body.into_data_stream(), check, done: false }
}

/// CompleteMultipartUpload: the parts named in the XML body, in order, become the object.
async fn complete(
    call: &Call<'_>,
    request: &S3Request<'_>,
    bucket: &str,
    key: &str,
    body: Body,
) -> Result<Response, AwsError> {
    let bytes = small_body(request, body, 4 * 1024 * 1024).await?;
    let text = String::from_utf8_lossy(&bytes);
    let numbers = elements(&text, "PartNumber");
    let etags = elements(&text, "ETag");
    if numbers.len() != etags.len() {
        return Err(AwsError::bad_request("MalformedXML", "each Part needs a PartNumber and an ETag"));
    }
    let parts: Vec<(i64, String)> = numbers
        .iter()
        .zip(etags)
        .map(|(n, etag)| n.parse::<i64>().map(|n| (n, etag)))
        .collect::<Result<_, _>>()
        .map_err(|_| AwsError::bad_request("MalformedXML", "a PartNumber is not a number"))?;
    let upload = request.query("uploadId").unwrap_or_default();
    let record = call.state.objects.complete_upload(bucket, key, upload, &parts).await.map_err(objects_error)?;
    Ok(xml(call, format!(
        "<CompleteMultipartUploadResult xmlns=\"{XMLNS}\"><Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>&quot;{2}&quot;</ETag></CompleteMultipartUploadResult>",
        xml_escape(bucket),
        xml_escape(key),
        record.etag
    )))
}

/// CopyObject: the source (`/bucket/key`, percent-encoded) streamed into the destination.
async fn copy(
    call: &Call<'_>,
    request: &S3Request<'_>,
    source: &str,
    bucket: &str,
    key: &str,
) -> Result<Response, AwsError> {
    let source = decode_percent(source.trim_start_matches('/'))
        .ok_or_else(|| AwsError::bad_request("InvalidArgument", "x-amz-copy-source is not valid percent-encoding"))?;
    let (from_bucket, from_key) = source
        .split_once('/')
        .ok_or_else(|| AwsError::bad_request("InvalidArgument", "x-amz-copy-source must be /bucket/key"))?;
    call.authorize("s3:GetObject", &format!("arn:aws:s3:::{from_bucket}/{from_key}")).await?;
    let (record, stream) = call.state.objects.get(from_bucket, from_key, None).await.map_err(objects_error)?;
    let attributes = crate::s3_attributes::for_copy(request.headers, &record)?;
    let objects = &call.state.objects;
    let copied =
        objects.put_with(bucket, key, &record.content_type, attributes, stream).await.map_err(objects_error)?;
    Ok(xml(
        call,
        format!(
            "<CopyObjectResult><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag></CopyObjectResult>",
            iso(copied.last_modified),
            copied.etag
        ),
    ))
}

/// GetObject and HeadObject, with `Range: bytes=a-b`, `bytes=a-` and `bytes=-n`.
async fn get(call: &Call<'_>, request: &S3Request<'_>, bucket: &str, key: &str) -> Result<Response, AwsError> {
    let objects: &Objects = &call.state.objects;
    let record = objects.head(bucket, key).await.map_err(objects_error)?;
    let size = record.size as u64;
    let range = match find(request.headers, "range") {
        Some(text) => Some(parse_range(text, size)?),
        None => None,
    };
    let head = request.method == Method::HEAD;
    let (status, length) = match &range {
        Some(range) => (StatusCode::PARTIAL_CONTENT, range.end - range.start),
        None => (StatusCode::OK, size),
    };
    let body = if head || length == 0 {
        Body::empty()
    } else {
        let (_, stream) = objects.get(bucket, key, range.clone()).await.map_err(objects_error)?;
        Body::from_stream(stream.map(|chunk| chunk.map_err(std::io::Error::other)))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    object_headers(&mut response, &record, length);
    crate::s3_attributes::headers(&mut response, &record);
    if let Some(range) = &range {
        insert(&mut response, header::CONTENT_RANGE, &format!("bytes {}-{}/{size}", range.start, range.end - 1));
    }
    insert_name(&mut response, "x-amz-request-id", &call.request_id);
    Ok(response)
}

/// DeleteObjects: the keys of the XML body, each deleted; a missing key is deleted too.
async fn delete_objects(
    call: &Call<'_>,
    request: &S3Request<'_>,
    bucket: &str,
    body: Body,
) -> Result<Response, AwsError> {
    let bytes = small_body(request, body, 2 * 1024 * 1024).await?;
    let text = String::from_utf8_lossy(&bytes);
    let keys = elements(&text, "Key");
    if keys.is_empty() || keys.len() > 1000 {
        return Err(AwsError::bad_request("MalformedXML", "a Delete request names 1 to 1000 keys"));
    }
    let quiet = elements(&text, "Quiet").first().is_some_and(|q| q == "true");
    let mut out = format!("<DeleteResult xmlns=\"{XMLNS}\">");
    for key in keys {
        let resource = format!("arn:aws:s3:::{bucket}/{key}");
        let outcome = match call.authorize("s3:DeleteObject", &resource).await {
            Ok(()) => {
                let deleted = call.state.objects.delete(bucket, &key).await.map(|_| ()).map_err(objects_error);
                call.audit("s3:DeleteObject", &resource, false, deleted.as_ref().err()).await;
                deleted
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) if quiet => {}
            Ok(()) => out.push_str(&format!("<Deleted><Key>{}</Key></Deleted>", xml_escape(&key))),
            Err(e) => out.push_str(&format!(
                "<Error><Key>{}</Key><Code>{}</Code><Message>{}</Message></Error>",
                xml_escape(&key),
                e.code,
                xml_escape(&e.message)
            )),
        }
    }
    out.push_str("</DeleteResult>");
    Ok(xml(call, out))
}

/// A small XML body, read whole and checked against its signed `x-amz-content-sha256`
/// (the signature covers the hash, so the hash must cover the body).
pub(crate) async fn small_body(request: &S3Request<'_>, body: Body, limit: usize) -> Result<Bytes, AwsError> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AwsError::bad_request("MalformedXML", "the request body is too large"))?;
    match find(request.headers, "x-amz-content-sha256") {
        Some(trainyard_sigv4::UNSIGNED_PAYLOAD) | None => Ok(bytes),
        Some(hash) if hash.len() == 64 => {
            if crate::signed::hex(&Sha256::digest(&bytes)) == hash.to_ascii_lowercase() {
                Ok(bytes)
            } else {
                Err(AwsError::bad_request(
                    "XAmzContentSHA256Mismatch",
                    "the body does not hash to x-amz-content-sha256",
                ))
            }
        }
        Some(other) => {
            Err(AwsError::bad_request("InvalidRequest", format!("x-amz-content-sha256 {other} is not accepted here")))
        }
    }
}

/// The text of every `<name>…</name>` element, XML entities decoded.
pub(crate) fn elements(text: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    found
}

fn parse_range(text: &str, size: u64) -> Result<std::ops::Range<u64>, AwsError> {
    let invalid =
        || AwsError::new(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange", "The requested range is not satisfiable");
    let spec = text.strip_prefix("bytes=").ok_or_else(invalid)?;
    let (first, last) = spec.split_once('-').ok_or_else(invalid)?;
    let range = match (first.trim(), last.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| invalid())?;
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse::<u64>().map_err(|_| invalid())?..size,
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| invalid())?, b.parse().map_err(|_| invalid())?);
            a..b.saturating_add(1).min(size)
        }
    };
    if range.start >= size || range.start >= range.end {
        return Err(invalid());
    }
    Ok(range)
}

/// What checks a streamed body.
enum Check {
    None,
    Sha256(Sha256, String),
    Chunked(Box<ChunkedDecoder>),
}

/// A body stream that checks itself and fails at its end when the check fails (so the
/// objects service aborts the upload).
struct Checked<S> {
    inner: S,
    check: Check,
    done: bool,
}

impl<S> Stream for Checked<S>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e.to_string())));
                }
                Poll::Ready(Some(Ok(chunk))) => match &mut self.check {
                    Check::None => return Poll::Ready(Some(Ok(chunk))),
                    Check::Sha256(digest, _) => {
                        digest.update(&chunk);
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Check::Chunked(decoder) => {
                        let mut out = Vec::new();
                        if let Err(e) = decoder.feed(&chunk, &mut out) {
                            self.done = true;
                            return Poll::Ready(Some(Err(format!("aws-chunked body: {e}"))));
                        }
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Bytes::from(out))));
                        }
                    }
                },
                Poll::Ready(None) => {
                    self.done = true;
                    let failure = match &mut self.check {
                        Check::None => None,
                        Check::Sha256(digest, expected) => {
                            let actual = crate::signed::hex(&std::mem::take(digest).finalize());
                            (actual != *expected).then(|| {
                                "XAmzContentSHA256Mismatch: the body does not hash to x-amz-content-sha256".to_string()
                            })
                        }
                        Check::Chunked(decoder) => decoder.finish().err().map(|e| format!("aws-chunked body: {e}")),
                    };
                    return Poll::Ready(failure.map(Err));
                }
            }
        }
    }
}

/// An objects error as S3 words it.
pub(crate) fn objects_error(error: trainyard_objects::Error) -> AwsError {
    use trainyard_objects::Error as Objects;
    use trainyard_store::Error as Store;
    match &error {
        Objects::Store(Store::NotFound { kind: "upload", .. }) => AwsError::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        ),
        Objects::Upload { reason } if reason.starts_with("InvalidPartOrder") => {
            AwsError::bad_request("InvalidPartOrder", reason.clone())
        }
        Objects::Upload { reason } if reason.starts_with("InvalidPart") => AwsError::bad_request("InvalidPart", reason.clone()),
        Objects::Store(Store::NotFound { kind: "bucket", .. }) => {
            AwsError::new(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist")
        }
        Objects::InvalidAttributes { reason } if reason.contains("metadata") => {
            AwsError::bad_request("MetadataTooLarge", reason.clone())
        }
        Objects::InvalidAttributes { reason } => AwsError::bad_request("InvalidTag", reason.clone()),
        Objects::Store(Store::NotFound { .. }) => {
            AwsError::new(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.")
        }
        Objects::Store(Store::AlreadyExists { .. }) => AwsError::new(
            StatusCode::CONFLICT,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        Objects::Store(Store::InUse { .. }) => {
            AwsError::new(StatusCode::CONFLICT, "BucketNotEmpty", "The bucket you tried to delete is not empty")
        }
        Objects::InvalidBucket { .. } => AwsError::bad_request("InvalidBucketName", error.to_string()),
        Objects::InvalidKey { .. } => AwsError::bad_request("InvalidArgument", error.to_string()),
        Objects::TooLarge { .. } => AwsError::bad_request("EntityTooLarge", error.to_string()),
        Objects::Upload { reason } if reason.starts_with("XAmzContentSHA256Mismatch") => {
            AwsError::bad_request("XAmzContentSHA256Mismatch", reason.clone())
        }
        Objects::Upload { reason } => AwsError::bad_request("IncompleteBody", reason.clone()),
        _ => {
            let id = uuid::Uuid::new_v4();
            tracing::error!(%error, %id, "internal error in S3");
            AwsError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", format!("internal error {id}"))
        }
    }
}

fn object_headers(response: &mut Response, record: &ObjectRecord, length: u64) {
    insert(response, header::CONTENT_TYPE, &record.content_type);
    insert(response, header::CONTENT_LENGTH, &length.to_string());
    insert(response, header::ETAG, &format!("\"{}\"", record.etag));
    insert(response, header::LAST_MODIFIED, &record.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string());
    insert(response, header::ACCEPT_RANGES, "bytes");
}

fn insert(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn insert_name(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

pub(crate) fn xml(call: &Call<'_>, body: String) -> Response {
    answer(
        StatusCode::OK,
        "application/xml",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
        Protocol::RestXml,
        &call.request_id,
    )
}

pub(crate) fn empty(call: &Call<'_>, status: StatusCode) -> Response {
    answer(status, "application/xml", String::new(), Protocol::RestXml, &call.request_id)
}

fn iso(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A continuation token: the key to list after, hex (opaque to clients, as S3's are).
fn encode_token(after: &str) -> String {
    crate::signed::hex(after.as_bytes())
}

fn decode_token(token: &str) -> Result<String, AwsError> {
    let invalid = || AwsError::bad_request("InvalidArgument", "The continuation token provided is incorrect");
    let digits = token.as_bytes();
    if digits.len() % 2 != 0 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(invalid());
    }
    let value = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    let bytes: Vec<u8> = digits.chunks(2).map(|pair| value(pair[0]) * 16 + value(pair[1])).collect();
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// `encoding-type=url`: keys percent-encoded (every byte but unreserved ones and `/`).
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `%XX` decoded (a `+` stays a `+` in a path).
pub fn decode_percent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tokens_and_keys() {
        assert_eq!(parse_range("bytes=0-3", 10).unwrap(), 0..4);
        assert_eq!(parse_range("bytes=5-", 10).unwrap(), 5..10);
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), 7..10);
        assert_eq!(parse_range("bytes=8-100", 10).unwrap(), 8..10);
        assert!(parse_range("bytes=10-", 10).is_err());
        assert!(parse_range("lines=1-2", 10).is_err());
        assert_eq!(decode_token(&encode_token("a/b c")).unwrap(), "a/b c");
        assert!(decode_token("zz").is_err());
        assert!(decode_token("a\u{e9}0").is_err(), "a multibyte character is not cut");
        assert!(parse_range("bytes=0-18446744073709551615", 10).is_ok());
        assert_eq!(encode_key("a b/c+d"), "a%20b/c%2Bd");
        assert_eq!(decode_percent("a%20b/c+d").unwrap(), "a b/c+d");
        assert_eq!(
            elements("<Delete><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object></Delete>", "Key"),
            ["a&b", "c"]
        );
    }
}

//! S3 bucket policies (`?policy` on a bucket: Put, Get, Delete), onto the identity
//! service's resource policies: a bucket's policy is decided with every S3 call on the
//! bucket and its objects, through this endpoint and `/api/v1` alike.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;

use crate::protocol::AwsError;
use crate::s3::{empty, objects_error, small_body, S3Request};
use crate::Call;

/// S3's limit on a bucket policy.
const MAX_POLICY_BYTES: usize = 20 * 1024;

pub async fn handle(call: &Call<'_>, request: &S3Request<'_>, bucket: &str, body: Body) -> Result<Response, AwsError> {
    let arn = format!("arn:aws:s3:::{bucket}");
    let identities = &call.state.identities;
    if request.method == Method::PUT {
        call.authorize("s3:PutBucketPolicy", &arn).await?;
        call.state.objects.bucket(bucket).await.map_err(objects_error)?;
        let body = small_body(request, body, MAX_POLICY_BYTES).await?;
        let document = std::str::from_utf8(&body)
            .map_err(|_| AwsError::bad_request("MalformedPolicy", "the policy is not UTF-8 text"))?;
        let put = identities.put_resource_policy(&arn, document).await.map_err(|e| match e {
            trainyard_identity::Error::MalformedPolicyDocument(problems) => {
                AwsError::bad_request("MalformedPolicy", problems.to_string())
            }
            other => crate::identity_error(other),
        });
        call.audit("s3:PutBucketPolicy", &arn, false, put.as_ref().err()).await;
        put?;
        Ok(empty(call, StatusCode::NO_CONTENT))
    } else if request.method == Method::GET {
        call.authorize("s3:GetBucketPolicy", &arn).await?;
        call.state.objects.bucket(bucket).await.map_err(objects_error)?;
        let document = identities.resource_policy_document(&arn).ok_or_else(|| {
            AwsError::new(StatusCode::NOT_FOUND, "NoSuchBucketPolicy", "The bucket policy does not exist")
        })?;
        let mut response = Response::new(Body::from(document));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(response)
    } else if request.method == Method::DELETE {
        call.authorize("s3:DeleteBucketPolicy", &arn).await?;
        call.state.objects.bucket(bucket).await.map_err(objects_error)?;
        // As on S3, deleting a policy that is not there succeeds.
        let deleted = match identities.delete_resource_policy(&arn).await {
            Err(trainyard_identity::Error::NoSuchEntity { .. }) => Ok(()),
            other => other.map_err(crate::identity_error),
        };
        call.audit("s3:DeleteBucketPolicy", &arn, false, deleted.as_ref().err()).await;
        deleted?;
        Ok(empty(call, StatusCode::NO_CONTENT))
    } else {
        Err(AwsError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "?policy takes PUT, GET or DELETE"))
    }
}

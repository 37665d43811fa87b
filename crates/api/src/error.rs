//! The one place where errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API failure: a status, a stable code and a message naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Bus(#[from] trainyard_bus::Error),
    #[error(transparent)]
    Auth(#[from] trainyard_auth::Error),
    #[error(transparent)]
    Objects(#[from] trainyard_objects::Error),
    #[error(transparent)]
    Jobs(#[from] trainyard_jobs::Error),
    #[error(transparent)]
    Models(#[from] trainyard_models::Error),
    #[error(transparent)]
    Endpoints(#[from] trainyard_endpoints::Error),
    #[error(transparent)]
    Sources(#[from] trainyard_source::Error),
    #[error(transparent)]
    Registry(#[from] trainyard_registry::Error),
    #[error(transparent)]
    Builds(#[from] trainyard_builder::Error),
    #[error(transparent)]
    Pipelines(#[from] trainyard_pipelines::Error),
    #[error(transparent)]
    Identity(#[from] trainyard_identity::Error),
    /// A registry token that does not name the repository: the client should get another.
    #[error("{0}")]
    InsufficientScope(String),
    /// The caller's policies do not allow the call (the message names principal, action and resource).
    #[error("{0}")]
    AccessDenied(String),
    /// A request body or query that does not parse.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RangeNotSatisfiable(String),
    /// The server is at a limit it protects itself with; the client may retry later.
    #[error("{0}")]
    SlowDown(String),
}

impl From<trainyard_store::Error> for ApiError {
    fn from(e: trainyard_store::Error) -> Self {
        ApiError::Bus(e.into())
    }
}

impl From<trainyard_events::Error> for ApiError {
    fn from(e: trainyard_events::Error) -> Self {
        ApiError::Bus(e.into())
    }
}

const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "InternalException");

impl ApiError {
    /// Status and stable code for every error kind.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            ApiError::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            ApiError::InsufficientScope(_) => (StatusCode::UNAUTHORIZED, "InsufficientScope"),
            ApiError::Identity(e) => identity_status(e),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException"),
            ApiError::RangeNotSatisfiable(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
            ApiError::SlowDown(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ApiError::Auth(trainyard_auth::Error::TokenFile { .. }) => INTERNAL,
            ApiError::Auth(_) => (StatusCode::UNAUTHORIZED, "UnauthorizedException"),
            ApiError::Objects(e) => objects_status(e),
            ApiError::Registry(e) => registry_status(e),
            ApiError::Builds(trainyard_builder::Error::Store(e)) => store_status(e),
            ApiError::Builds(trainyard_builder::Error::Log { .. }) => INTERNAL,
            ApiError::Pipelines(e) => {
                use trainyard_pipelines::Error as Pipelines;
                match e {
                    Pipelines::InvalidSpec { .. } | Pipelines::Event { .. } => {
                        (StatusCode::BAD_REQUEST, "ValidationException")
                    }
                    Pipelines::Duplicate { .. } => (StatusCode::CONFLICT, "ResourceInUseException"),
                    Pipelines::NoImage { .. } => (StatusCode::CONFLICT, "NoImageException"),
                    Pipelines::Store(e) => store_status(e),
                    Pipelines::Bus(e) => bus_status(e),
                    Pipelines::Sources(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
                    Pipelines::Jobs(e) => jobs_status(e),
                    Pipelines::Models(e) => models_status(e),
                    Pipelines::Endpoints(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
                    Pipelines::Identity(e) => identity_status(e),
                    Pipelines::Internal { .. } => INTERNAL,
                }
            }
            ApiError::Jobs(e) => jobs_status(e),
            ApiError::Models(e) => models_status(e),
            ApiError::Sources(e) => match e {
                trainyard_source::Error::InvalidRequest { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
                trainyard_source::Error::BadSignature => (StatusCode::UNAUTHORIZED, "InvalidSignatureException"),
                trainyard_source::Error::Git { .. } => (StatusCode::BAD_GATEWAY, "SourceUnavailableException"),
                trainyard_source::Error::Store(e) => store_status(e),
            },
            ApiError::Endpoints(e) => {
                use trainyard_endpoints::Error as Endpoints;
                match e {
                    Endpoints::InvalidInput { .. }
                    | Endpoints::InvalidRequest { .. }
                    | Endpoints::VariantNotFound { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
                    Endpoints::UnsupportedMediaType { .. } => {
                        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
                    }
                    Endpoints::EndpointNotFound { .. } => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
                    Endpoints::Model { .. } => (StatusCode::FAILED_DEPENDENCY, "ModelError"),
                    Endpoints::WrongState { .. } => (StatusCode::CONFLICT, "ResourceInUseException"),
                    Endpoints::Load { .. } => INTERNAL,
                    Endpoints::Store(e) => store_status(e),
                    Endpoints::Registry(e) => models_status(e),
                }
            }
            ApiError::Bus(e) => bus_status(e),
        }
    }
}

/// The distribution spec's error codes, used by `/v2/` and `/api/v1/repositories` alike.
fn registry_status(error: &trainyard_registry::Error) -> (StatusCode, &'static str) {
    use trainyard_registry::Error as Registry;
    match error {
        Registry::NameInvalid { .. } => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
        Registry::NameUnknown { .. } => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
        Registry::TagInvalid { .. } | Registry::TagImmutable { .. } => (StatusCode::BAD_REQUEST, "TAG_INVALID"),
        Registry::RepositoryNotEmpty { .. } => (StatusCode::CONFLICT, "RepositoryNotEmptyException"),
        Registry::DigestInvalid { .. } => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
        Registry::BlobUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
        Registry::BlobUploadUnknown { .. } => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
        Registry::RangeInvalid { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID"),
        Registry::BlobUploadInvalid { .. } | Registry::UploadInterrupted { .. } => {
            (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID")
        }
        Registry::SizeInvalid { .. } => (StatusCode::BAD_REQUEST, "SIZE_INVALID"),
        Registry::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
        Registry::ManifestInvalid { .. } => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
        Registry::ManifestUnknown { .. } => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
        Registry::ManifestBlobUnknown { .. } => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
        Registry::RangeNotSatisfiable { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID"),
        Registry::Store(trainyard_store::Error::AlreadyExists { .. }) => {
            (StatusCode::CONFLICT, "RepositoryAlreadyExistsException")
        }
        Registry::Store(e) => store_status(e),
        Registry::Io { .. } | Registry::Storage { .. } => INTERNAL,
    }
}

fn bus_status(error: &trainyard_bus::Error) -> (StatusCode, &'static str) {
    use trainyard_bus::Error as Bus;
    use trainyard_events::Error as Events;
    match error {
        Bus::Events(Events::InvalidPattern { .. }) => (StatusCode::BAD_REQUEST, "InvalidEventPatternException"),
        Bus::Events(Events::ReservedSource { .. }) => (StatusCode::FORBIDDEN, "AccessDeniedException"),
        Bus::Events(_) | Bus::InvalidArgument { .. } | Bus::Function(_) => {
            (StatusCode::BAD_REQUEST, "ValidationException")
        }
        Bus::LimitExceeded { .. } => (StatusCode::BAD_REQUEST, "LimitExceededException"),
        Bus::Store(e) => store_status(e),
    }
}

fn models_status(error: &trainyard_models::Error) -> (StatusCode, &'static str) {
    use trainyard_models::Error as Models;
    match error {
        Models::InvalidRequest { .. }
        | Models::Condition { .. }
        | Models::UnknownMetric { .. }
        | Models::Mismatch { .. }
        | Models::Data(_)
        | Models::Runtime(_)
        | Models::Evaluation { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
        Models::GateFailed { .. } => (StatusCode::CONFLICT, "GateFailedException"),
        Models::ChampionChanged { .. } => (StatusCode::CONFLICT, "ChampionChangedException"),
        Models::Store(e) => store_status(e),
        Models::Jobs(e) => jobs_status(e),
        Models::Objects(e) => objects_status(e),
        Models::Io { .. } => INTERNAL,
    }
}

fn jobs_status(error: &trainyard_jobs::Error) -> (StatusCode, &'static str) {
    use trainyard_jobs::Error as Jobs;
    match error {
        Jobs::InvalidRequest { .. } | Jobs::WrongState { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
        Jobs::Unsupported { .. } => (StatusCode::BAD_REQUEST, "UnsupportedOperationException"),
        Jobs::Store(e) => store_status(e),
        Jobs::Objects(e) => objects_status(e),
        Jobs::InvalidTransition { .. } | Jobs::Io { .. } => INTERNAL,
    }
}

fn identity_status(error: &trainyard_identity::Error) -> (StatusCode, &'static str) {
    use trainyard_identity::Error as Identity;
    match error {
        Identity::MissingCredentials => (StatusCode::UNAUTHORIZED, "MissingAuthenticationToken"),
        Identity::InvalidClientTokenId => (StatusCode::UNAUTHORIZED, "InvalidClientTokenId"),
        Identity::ExpiredToken => (StatusCode::UNAUTHORIZED, "ExpiredToken"),
        Identity::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        Identity::NoSuchEntity { .. } => (StatusCode::NOT_FOUND, "NoSuchEntity"),
        Identity::EntityAlreadyExists { .. } => (StatusCode::CONFLICT, "EntityAlreadyExists"),
        Identity::DeleteConflict { .. } => (StatusCode::CONFLICT, "DeleteConflict"),
        Identity::MalformedPolicyDocument(_) => (StatusCode::BAD_REQUEST, "MalformedPolicyDocument"),
        Identity::InvalidInput(_) => (StatusCode::BAD_REQUEST, "InvalidInput"),
        Identity::Corrupt(_) | Identity::Store(_) | Identity::Auth(_) => INTERNAL,
    }
}

fn objects_status(error: &trainyard_objects::Error) -> (StatusCode, &'static str) {
    use trainyard_objects::Error as Objects;
    match error {
        Objects::InvalidBucket { .. }
        | Objects::InvalidKey { .. }
        | Objects::InvalidUri { .. }
        | Objects::InvalidAttributes { .. } => (StatusCode::BAD_REQUEST, "ValidationException"),
        Objects::Upload { .. } => (StatusCode::BAD_REQUEST, "IncompleteBody"),
        Objects::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge"),
        Objects::Io { source: object_store::Error::NotFound { .. }, .. } => {
            (StatusCode::NOT_FOUND, "ResourceNotFoundException")
        }
        Objects::Store(e) => store_status(e),
        Objects::Backend { .. } | Objects::Io { .. } | Objects::Unreachable { .. } => INTERNAL,
    }
}

fn store_status(error: &trainyard_store::Error) -> (StatusCode, &'static str) {
    use trainyard_store::Error as Store;
    match error {
        Store::NotFound { .. } => (StatusCode::NOT_FOUND, "ResourceNotFoundException"),
        Store::AlreadyExists { .. } => (StatusCode::CONFLICT, "ResourceAlreadyExistsException"),
        Store::InUse { .. } => (StatusCode::CONFLICT, "ResourceInUseException"),
        _ => INTERNAL,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Invariant: an internal error's details (paths on the server, the backend's
            // words) go to the server's log only; the client gets an id to quote.
            let id = uuid::Uuid::new_v4();
            tracing::error!(error = %self, %id, "internal error");
            format!("internal error {id}; the server's log has the details")
        } else {
            self.to_string()
        };
        let mut body = json!({"code": code, "message": message});
        if let ApiError::Identity(trainyard_identity::Error::MalformedPolicyDocument(problems)) = &self {
            body["problems"] = problems.0.iter().map(|p| json!({"path": p.path, "message": p.message})).collect();
        }
        let mut response = (status, axum::Json(body)).into_response();
        response.extensions_mut().insert(crate::guard::ErrorInfo { code, message: message.clone() });
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl ApiError {
    /// The distribution spec's error body, `{"errors": [{"code", "message", "detail"}]}`;
    /// an authentication failure carries the registry's `challenge`.
    pub fn into_registry_response(self, challenge: &str, head: bool) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() && !matches!(self, ApiError::SlowDown(_)) {
            tracing::error!(error = %self, "internal registry error");
        }
        // Invariant: a registry client only ever sees the distribution spec's codes.
        const SPEC_CODES: &[&str] = &[
            "BLOB_UNKNOWN",
            "BLOB_UPLOAD_INVALID",
            "BLOB_UPLOAD_UNKNOWN",
            "DIGEST_INVALID",
            "MANIFEST_BLOB_UNKNOWN",
            "MANIFEST_INVALID",
            "MANIFEST_UNKNOWN",
            "NAME_INVALID",
            "NAME_UNKNOWN",
            "SIZE_INVALID",
            "TAG_INVALID",
        ];
        let code = match status {
            StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
            StatusCode::FORBIDDEN => "DENIED",
            StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
            _ if SPEC_CODES.contains(&code) => code,
            _ => "UNSUPPORTED",
        };
        let body = json!({"errors": [{"code": code, "message": self.to_string(), "detail": null}]});
        let mut response = if head { status.into_response() } else { (status, axum::Json(body)).into_response() };
        if status == StatusCode::UNAUTHORIZED {
            if let Ok(value) = axum::http::HeaderValue::from_str(challenge) {
                response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

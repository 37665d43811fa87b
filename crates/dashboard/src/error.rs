//! The dashboard's one error type and its one mapping to a status and an error page.

use askama::Template;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use trainyard_api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No session (or an expired one, or one from another server): sign in, then `next`.
    #[error("sign in to see this page")]
    SignIn { next: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// What a service or the authorization answered, with the API's status and code.
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("rendering a page: {0}")]
    Render(#[from] askama::Error),
}

impl UiError {
    /// The status and stable code of this error (the API's, for the API's errors).
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            UiError::SignIn { .. } => (StatusCode::SEE_OTHER, "SignIn"),
            UiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            UiError::Forbidden(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            UiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "ValidationException"),
            UiError::Api(e) => e.status_and_code(),
            UiError::Render(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    code: &'a str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let UiError::SignIn { next } = &self {
            let target = format!("/ui/login?next={}", crate::view::url_encode(next));
            return (StatusCode::SEE_OTHER, [(LOCATION, target)]).into_response();
        }
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Invariant: an internal error's details go to the server's log only.
            let id = uuid_like();
            tracing::error!(error = %self, %id, "dashboard internal error");
            format!("internal error {id}; the server's log has the details")
        } else {
            self.to_string()
        };
        let page =
            ErrorPage { status: status.as_u16(), reason: status.canonical_reason().unwrap_or(""), code, message };
        let body = page.render().unwrap_or_else(|_| "error".to_string());
        (status, [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

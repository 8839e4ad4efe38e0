//! The one place that maps errors to HTTP status codes and the API's error body
//! `{"error":"<message>"}` (api.md §1, original-spec.md §2.6).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chatty_domain::Error as DomainError;
use tracing::error;

use crate::response::json_error;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused or failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A body that is not the JSON a route expects, on the routes where the original answered
    /// exactly `cannot parse data` (register, authorize, login, joinChat, leaveChat).
    #[error("cannot parse data")]
    CannotParse,
    /// A body or query that is not what the route expects, worded to name the field.
    #[error("{0}")]
    BadRequest(String),
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => domain_status(e),
            ApiError::CannotParse | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // Logged once, here, with the whole cause chain; the client gets a generic text.
            let mut causes = String::new();
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                causes.push_str(": ");
                causes.push_str(&cause.to_string());
                source = cause.source();
            }
            error!(status = status.as_u16(), "request failed: {self}{causes}");
        }
        json_error(status, &self.to_string())
    }
}

/// The status of each domain error. No `_` arm: a new kind does not compile until it has one.
fn domain_status(e: &DomainError) -> StatusCode {
    match e {
        DomainError::Invalid(_)
        | DomainError::UserNameEmpty
        | DomainError::SomeFieldsEmpty
        | DomainError::UnknownUser
        | DomainError::BadActivationToken
        | DomainError::BadResetToken
        | DomainError::ChatExists
        | DomainError::NoSuchChat
        | DomainError::AlreadyInChat
        | DomainError::NotInChat
        | DomainError::BadCursor(_) => StatusCode::BAD_REQUEST,
        DomainError::PasswordEmpty => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::UserAlreadyRegistered
        | DomainError::EmailAlreadyRegistered
        | DomainError::NameIsRegistered
        | DomainError::AlreadyLoggedIn => StatusCode::CONFLICT,
        DomainError::NotLoggedIn | DomainError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        DomainError::AdminOnly | DomainError::EmailNotVerified => StatusCode::FORBIDDEN,
        DomainError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

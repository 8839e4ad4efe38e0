//! Rewrites every error response that is not already the API's JSON error body (actix's own
//! 404/405/400 texts, extractor failures) into `{"error":"<reason>"}`, so clients never see
//! anything else (api.md §1).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::ErrorHandlerResponse;

use crate::response::json_error;

pub(crate) fn rewrite<B: MessageBody>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let message = status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_lowercase();
    let (req, old) = response.into_parts();
    let mut replacement = json_error(status, &message);
    // Keep headers such as Allow or Set-Cookie that the original response carried.
    for (name, value) in old.headers() {
        if name != CONTENT_TYPE && name != actix_web::http::header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    let response: ServiceResponse<EitherBody<B>> =
        ServiceResponse::new(req, replacement).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(response))
}

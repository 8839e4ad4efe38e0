//! The span each request runs in, so that a log line from a handler can be traced back to it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// tracing-actix-web's root span, lighter: method, path, request id and status. Its default
/// also records the matched route, client address, user agent and OpenTelemetry names, which
/// cost a scan of the route table and header parsing on every request, long polls included.
pub(crate) struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = Empty,
            status = Empty,
            error = Empty,
        );
        if !span.is_disabled()
            && let Some(id) = request.extensions().get::<RequestId>()
        {
            span.record("request_id", tracing::field::display(id));
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if span.is_disabled() {
            return;
        }
        let (status, error) = match outcome {
            Ok(response) => (
                response.status(),
                response.response().error().map(ToString::to_string),
            ),
            Err(error) => (
                error.as_response_error().status_code(),
                Some(error.to_string()),
            ),
        };
        span.record("status", status.as_u16());
        if let Some(error) = error {
            span.record("error", error);
        }
    }
}

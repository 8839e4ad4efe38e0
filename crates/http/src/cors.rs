//! CORS (api.md §2 item 5): browser clients on other origins send credentialed requests, so
//! allowed origins are echoed with `Access-Control-Allow-Credentials: true`. Every response,
//! errors included, carries the same headers and `Vary: Origin`; `OPTIONS` pre-flights are
//! answered 200 without authentication.
//!
//! This is not actix-cors: the original answered every pre-flight 200 whether or not it
//! carried the CORS request headers, and old clients depend on that.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

use crate::state::Api;

/// Which origins get CORS headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsPolicy {
    /// Echo any origin (dev mode without `AllowedOrigins`, as the original did).
    AnyOrigin,
    /// Only these exact origins (`AllowedOrigins`).
    Listed(Vec<String>),
}

impl CorsPolicy {
    fn allows(&self, origin: &HeaderValue) -> bool {
        match self {
            CorsPolicy::AnyOrigin => true,
            CorsPolicy::Listed(list) => origin
                .to_str()
                .is_ok_and(|o| list.iter().any(|allowed| allowed == o)),
        }
    }
}

const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE");
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Last-Event-ID",
);
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("Chatty-Event-Id");

fn decorate(headers: &mut HeaderMap, origin: Option<HeaderValue>) {
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

pub(crate) async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned().filter(|o| {
        req.app_data::<Api>()
            .is_some_and(|api| api.settings.cors.allows(o))
    });
    if req.method() == Method::OPTIONS {
        let mut response = HttpResponse::Ok().finish();
        decorate(response.headers_mut(), origin);
        return Ok(req.into_response(response).map_into_right_body());
    }
    // Handler and extractor errors arrive here as responses already; routing needs the request
    // unshared, so it is not kept for the rare error that does not.
    let mut response = next.call(req).await?.map_into_left_body();
    decorate(response.headers_mut(), origin);
    Ok(response)
}

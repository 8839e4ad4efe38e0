//! Building responses: JSON bodies, empty 200s, snapshot headers.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{ContentType, HeaderName, HeaderValue};
use chatty_domain::{Delivery, Snapshot};
use serde::Serialize;

/// Header carrying the last event a snapshot reflects (api.md §3).
pub const EVENT_ID_HEADER: HeaderName = HeaderName::from_static("chatty-event-id");

/// Compact JSON terminated by a newline, as the original's `json.Encoder` wrote it.
pub fn to_json_body<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Serializing the domain's plain data types cannot fail (no maps with non-string keys,
    // no custom errors), so an error here is a programming error worth a 500.
    let mut body = serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a response");
        b"null".to_vec()
    });
    body.push(b'\n');
    body
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::json())
        .body(to_json_body(value))
}

pub fn json_ok<T: Serialize + ?Sized>(value: &T) -> HttpResponse {
    json(StatusCode::OK, value)
}

/// One poll envelope, or with `many` an array of them, from the events' shared encodings.
///
/// A message to a chat of a thousand is answered a thousand times: each body is sized once,
/// not grown while it is written.
pub fn envelopes(batch: &[Delivery], many: bool) -> HttpResponse {
    let mut body = if many {
        // The envelopes with a comma or bracket each, the opening bracket and the newline.
        let size = batch
            .iter()
            .map(|d| d.envelope_json().len() + 1)
            .sum::<usize>()
            + 2;
        let mut body = String::with_capacity(size);
        body.push('[');
        for (i, delivery) in batch.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&delivery.envelope_json());
        }
        body.push(']');
        body
    } else {
        let first = batch
            .first()
            .map(Delivery::envelope_json)
            .unwrap_or_default();
        let mut body = String::with_capacity(first.len() + 1);
        body.push_str(&first);
        body
    };
    body.push('\n');
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body)
}

/// A JSON body with the event id the data is consistent with.
pub fn snapshot<T: Serialize>(snapshot: &Snapshot<T>) -> HttpResponse {
    let mut response = json_ok(&snapshot.value);
    response
        .headers_mut()
        .insert(EVENT_ID_HEADER, HeaderValue::from(snapshot.as_of.0));
    response
}

/// `200` with no body and no content type.
pub fn empty_ok() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// The API's error body.
pub fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &ErrorBody { error: message })
}

//! Request bodies, decoded the way the original server decoded them (original-spec.md §2.7):
//! JSON whatever the `Content-Type` says, only the first JSON value read, object keys matched
//! case-insensitively, missing keys and `null` read as empty. Bodies over the configured size
//! are refused with 413 before they are read whole.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::api_state;

/// The raw body of a request, read up to the size limit.
pub struct Body(BytesMut);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = api_state(req).map_or(64 * 1024, |s| s.settings.max_body_bytes);
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let mut bytes = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| {
                    ApiError::BadRequest(format!("cannot read the request body: {e}"))
                })?;
                if bytes.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(Body(bytes))
        })
    }
}

/// How a route words decoding errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// `cannot parse data`, as the original answered on register, authorize, login, joinChat
    /// and leaveChat.
    Legacy,
    /// A message that names the field.
    Precise,
}

/// The decoded fields of a JSON object body.
pub struct Fields {
    object: Map<String, Value>,
    wording: Wording,
}

impl Body {
    /// Decodes the first JSON value of the body as an object (`null` reads as an empty one).
    ///
    /// # Errors
    /// `CannotParse` or a precise `BadRequest`, by `wording`.
    pub fn fields(&self, wording: Wording) -> Result<Fields, ApiError> {
        let fail = |detail: String| match wording {
            Wording::Legacy => ApiError::CannotParse,
            Wording::Precise => ApiError::BadRequest(detail),
        };
        let mut values = serde_json::Deserializer::from_slice(&self.0).into_iter::<Value>();
        let object = match values.next() {
            None => {
                return Err(fail(
                    "the request body is empty: a JSON object is expected".into(),
                ));
            }
            Some(Err(e)) => return Err(fail(format!("the request body is not valid JSON: {e}"))),
            Some(Ok(Value::Null)) => Map::new(),
            Some(Ok(Value::Object(object))) => object,
            Some(Ok(other)) => {
                return Err(fail(format!(
                    "the request body must be a JSON object, not {}",
                    kind(&other)
                )));
            }
        };
        Ok(Fields { object, wording })
    }
}

impl Fields {
    /// The value of `key`, matched case-insensitively; an exact match wins.
    fn get(&self, key: &str) -> Option<&Value> {
        self.object.get(key).or_else(|| {
            self.object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> ApiError {
        match self.wording {
            Wording::Legacy => ApiError::CannotParse,
            Wording::Precise => {
                ApiError::BadRequest(format!("{key}: must be {expected}, not {}", kind(got)))
            }
        }
    }

    /// A string field; missing or `null` reads as `""`.
    ///
    /// # Errors
    /// When the value is not a string.
    pub fn string(&self, key: &str) -> Result<String, ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    /// An optional non-negative integer field.
    ///
    /// # Errors
    /// When the value is not a non-negative integer.
    pub fn optional_u64(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(self.wrong_type(key, "a non-negative integer", other)),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Body {
        Body(BytesMut::from(text))
    }

    #[test]
    fn keys_match_case_insensitively_and_exact_wins() {
        let f = body(r#"{"CHAT":"a"}"#).fields(Wording::Precise).unwrap();
        assert_eq!(f.string("chat").unwrap(), "a");
        let f = body(r#"{"Chat":"b","chat":"a"}"#)
            .fields(Wording::Precise)
            .unwrap();
        assert_eq!(f.string("chat").unwrap(), "a");
    }

    #[test]
    fn only_the_first_value_is_read() {
        let f = body(r#"{"chat":"a"} garbage"#)
            .fields(Wording::Precise)
            .unwrap();
        assert_eq!(f.string("chat").unwrap(), "a");
    }

    #[test]
    fn null_and_missing_read_as_empty() {
        let f = body("null").fields(Wording::Legacy).unwrap();
        assert_eq!(f.string("chat").unwrap(), "");
        let f = body(r#"{"chat":null}"#).fields(Wording::Legacy).unwrap();
        assert_eq!(f.string("chat").unwrap(), "");
        assert_eq!(f.optional_u64("before").unwrap(), None);
    }

    #[test]
    fn errors_are_worded_by_route() {
        assert!(matches!(
            body("").fields(Wording::Legacy),
            Err(ApiError::CannotParse)
        ));
        assert!(matches!(
            body("[]").fields(Wording::Legacy),
            Err(ApiError::CannotParse)
        ));
        let Err(ApiError::BadRequest(msg)) = body("{").fields(Wording::Precise) else {
            panic!("expected a precise error");
        };
        assert!(msg.contains("not valid JSON"), "{msg}");
        let f = body(r#"{"chat":1}"#).fields(Wording::Precise).unwrap();
        let Err(ApiError::BadRequest(msg)) = f.string("chat") else {
            panic!()
        };
        assert_eq!(msg, "chat: must be a string, not a number");
        let f = body(r#"{"chat":1}"#).fields(Wording::Legacy).unwrap();
        assert!(matches!(f.string("chat"), Err(ApiError::CannotParse)));
        let f = body(r#"{"before":-1}"#).fields(Wording::Precise).unwrap();
        assert!(f.optional_u64("before").is_err());
    }
}

//! Messages.

use actix_web::HttpResponse;

use crate::body::{Body, Wording};
use crate::error::ApiError;
use crate::response::{json_ok, snapshot};
use crate::session::Me;
use crate::state::Api;

/// `POST /api/loggedonly/postMessage` → 200 Message; 400, 401.
pub async fn post(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let f = body.fields(Wording::Precise)?;
    let (chat, text) = (f.string("chat")?, f.string("text")?);
    Ok(json_ok(
        &api.services.post_message(&me, &chat, &text).await?,
    ))
}

/// `POST /api/loggedonly/getLastMessages` → 200 [Message] (+ `Chatty-Event-Id`); 400, 401.
pub async fn last(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Precise)?.string("chat")?;
    Ok(snapshot(&api.services.last_messages(&me, &chat).await?))
}

/// `POST /api/loggedonly/getMessages` (extension: `{"chat","before","limit"}`) → 200
/// [Message] (+ `Chatty-Event-Id`); 400, 401.
pub async fn history(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let f = body.fields(Wording::Precise)?;
    let (chat, before, limit) = (
        f.string("chat")?,
        f.optional_u64("before")?,
        f.optional_u64("limit")?,
    );
    Ok(snapshot(
        &api.services
            .message_history(&me, &chat, before, limit)
            .await?,
    ))
}

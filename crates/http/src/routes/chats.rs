//! Chats.

use actix_web::HttpResponse;

use crate::body::{Body, Wording};
use crate::error::ApiError;
use crate::response::{empty_ok, snapshot};
use crate::session::{AdminMe, Me};
use crate::state::Api;

/// `POST /api/loggedonly/joinChat` → 200 ChatReport (+ `Chatty-Event-Id`); 400, 401.
pub async fn join(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Legacy)?.string("chat")?;
    Ok(snapshot(&api.services.join_chat(&me, &chat).await?))
}

/// `POST /api/loggedonly/leaveChat` → 200 empty; 400, 401.
pub async fn leave(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Legacy)?.string("chat")?;
    api.services.leave_chat(&me, &chat).await?;
    Ok(empty_ok())
}

/// `GET /api/loggedonly/getChats` → 200 [ChatReport] (+ `Chatty-Event-Id`); 401.
pub async fn list(Me(me): Me, api: Api) -> Result<HttpResponse, ApiError> {
    Ok(snapshot(&api.services.chat_reports(&me).await?))
}

/// `POST /api/loggedonly/getUsers` → 200 [UserWithStatus] (+ `Chatty-Event-Id`); 400, 401.
pub async fn users(Me(me): Me, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Precise)?.string("chat")?;
    Ok(snapshot(&api.services.users_in_chat(&me, &chat).await?))
}

/// `POST /api/adminonly/createChat` → 200 empty; 400, 401, 403.
pub async fn create(AdminMe(me): AdminMe, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Precise)?.string("chat")?;
    api.services.create_chat(&me, &chat).await?;
    Ok(empty_ok())
}

/// `POST /api/adminonly/removeChat` → 200 empty; 400, 401, 403.
pub async fn remove(AdminMe(me): AdminMe, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let chat = body.fields(Wording::Precise)?.string("chat")?;
    api.services.remove_chat(&me, &chat).await?;
    Ok(empty_ok())
}

//! Logging in and out.

use actix_session::Session;
use actix_web::HttpResponse;
use chatty_domain::{LoggedIn, UserWithStatus};

use crate::body::{Body, Wording};
use crate::error::ApiError;
use crate::response::{empty_ok, json_ok};
use crate::session::{Me, forget, remember};
use crate::state::Api;

fn status_of(me: &LoggedIn) -> UserWithStatus {
    UserWithStatus {
        user: me.user().clone(),
        flags: me.session().flags,
    }
}

fn logged_in(session: &Session, me: &LoggedIn) -> Result<HttpResponse, ApiError> {
    remember(session, me)?;
    Ok(json_ok(&status_of(me)))
}

/// `POST /api/login` (guest) → 200 UserWithStatus + cookie; 400, 409.
pub async fn guest_login(session: Session, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let user = body.fields(Wording::Legacy)?.string("user")?;
    let me = api.services.guest_login(&user).await?;
    logged_in(&session, &me)
}

/// `POST /api/authorize` (password) → 200 UserWithStatus + cookie; 400, 401, 403.
pub async fn authorize(session: Session, body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let f = body.fields(Wording::Legacy)?;
    let (user, password) = (f.string("user")?, f.string("password")?);
    let me = api.services.authorize(&user, &password).await?;
    logged_in(&session, &me)
}

/// `POST /api/loggedonly/login` (resume; the body is ignored) → 200 UserWithStatus + cookie; 401.
pub async fn resume(Me(me): Me, session: Session, api: Api) -> Result<HttpResponse, ApiError> {
    let me = api.services.resume(&me).await?;
    logged_in(&session, &me)
}

/// `POST /api/loggedonly/logout` → 200 empty, cookie cleared; 401.
pub async fn logout(Me(me): Me, session: Session, api: Api) -> Result<HttpResponse, ApiError> {
    api.services.logout(&me).await?;
    forget(&session);
    Ok(empty_ok())
}

/// `PUT /api/loggedonly/keepalive` → 200 empty; 401.
pub async fn keepalive(Me(me): Me, api: Api) -> Result<HttpResponse, ApiError> {
    api.services.keepalive(&me)?;
    Ok(empty_ok())
}

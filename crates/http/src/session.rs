//! Cookie sessions (api.md §2 item 4): the cookie `chatty` carries the user name and the
//! session token, signed and encrypted; the server-side session record decides whether they
//! are still good, so logout, expiry and a newer login revoke a cookie everywhere.

use std::future::Future;
use std::pin::Pin;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{Key, SameSite, time};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chatty_domain::{Error as DomainError, LoggedIn};
use sha2::{Digest, Sha512};

use crate::error::ApiError;
use crate::state::{HttpSettings, api_state};

pub const COOKIE_NAME: &str = "chatty";
const USER: &str = "user";
const TOKEN: &str = "token";

/// The 64-byte cookie key (32 for signing, 32 for encryption) derived from `SECRET_KEY`, so
/// that every instance with the same secret accepts the same cookies and a restart keeps them.
/// A key derivation adds no entropy: a weak secret stays weak, which start-up warns about.
pub fn cookie_key(secret: &str) -> Key {
    let digest = Sha512::new()
        .chain_update(b"chatty/session-cookie-key/v1\0")
        .chain_update(secret.as_bytes())
        .finalize();
    Key::from(digest.as_slice())
}

pub(crate) fn middleware(settings: &HttpSettings) -> SessionMiddleware<CookieSessionStore> {
    let max_age = time::Duration::seconds(
        i64::try_from(settings.cookie_max_age.as_secs()).unwrap_or(i64::MAX),
    );
    SessionMiddleware::builder(CookieSessionStore::default(), settings.cookie_key.clone())
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_path("/".to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(settings.cookie_secure)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(PersistentSession::default().session_ttl(max_age))
        .build()
}

/// Puts a new login into the cookie, replacing whatever it held.
///
/// # Errors
/// When the session state cannot be encoded (not expected for names and tokens).
pub fn remember(session: &Session, me: &LoggedIn) -> Result<(), ApiError> {
    session.renew();
    session.clear();
    let internal =
        |e: actix_session::SessionInsertError| ApiError::Domain(DomainError::Internal(Box::new(e)));
    session.insert(USER, me.user().as_str()).map_err(internal)?;
    session
        .insert(TOKEN, me.session().token.expose())
        .map_err(internal)?;
    Ok(())
}

/// Clears the cookie (logout).
pub fn forget(session: &Session) {
    session.purge();
}

/// The logged-only guard as an extractor: the live session named by the cookie.
pub struct Me(pub LoggedIn);

impl FromRequest for Me {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let credentials = (
            session.get::<String>(USER).ok().flatten(),
            session.get::<String>(TOKEN).ok().flatten(),
        );
        let services = api_state(req).map(|s| s.services.clone());
        Box::pin(async move {
            let (Some(user), Some(token), Some(services)) =
                (credentials.0, credentials.1, services)
            else {
                return Err(DomainError::NotLoggedIn.into());
            };
            Ok(Me(services.authenticate(&user, &token).await?))
        })
    }
}

/// The admin-only guard: a live session of an admin (api.md §2 item 1). Checked before the
/// body is read, so a non-admin learns nothing from the body's validation.
pub struct AdminMe(pub LoggedIn);

impl FromRequest for AdminMe {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let me = Me::from_request(req, payload);
        let services = api_state(req).map(|s| s.services.clone());
        Box::pin(async move {
            let Me(me) = me.await?;
            if let Some(services) = services {
                services.require_admin(&me)?;
            }
            Ok(AdminMe(me))
        })
    }
}

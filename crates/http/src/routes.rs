//! The URL table: every route of the API in one place (original-spec.md §2.1, api.md §3).

mod accounts;
mod chats;
mod events;
mod health;
mod messages;
mod sessions;

use actix_web::middleware::from_fn;
use actix_web::{Resource, Route, web};

use crate::static_files;

/// Registers every API route. Paths match exactly; a wrong method on an API path falls
/// through to the static files (so `GET` finds no file, 404) or gets 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(api("/healthz", web::get().to(health::healthz)))
        .service(api("/metrics", web::get().to(crate::metrics::scrape)))
        .service(api("/readyz", web::get().to(health::readyz)))
        .service(api("/api/register", web::post().to(accounts::register)))
        .service(api(
            "/api/resendVerification",
            web::post().to(accounts::resend_verification),
        ))
        .service(api(
            "/api/requestResetPassword",
            web::post().to(accounts::request_password_reset),
        ))
        .service(api(
            "/api/resetPassword",
            web::post().to(accounts::reset_password),
        ))
        .service(api("/api/authorize", web::post().to(sessions::authorize)))
        .service(api("/api/login", web::post().to(sessions::guest_login)))
        .service(api(
            "/api/loggedonly/login",
            web::post().to(sessions::resume),
        ))
        .service(api(
            "/api/loggedonly/logout",
            web::post().to(sessions::logout),
        ))
        .service(api(
            "/api/loggedonly/keepalive",
            web::put().to(sessions::keepalive),
        ))
        .service(
            api("/api/loggedonly/poll", web::get().to(events::poll))
                .wrap(from_fn(events::release_request_headers)),
        )
        .service(api("/api/loggedonly/events", web::get().to(events::stream)))
        .service(api("/api/loggedonly/joinChat", web::post().to(chats::join)))
        .service(api(
            "/api/loggedonly/leaveChat",
            web::post().to(chats::leave),
        ))
        .service(api("/api/loggedonly/getChats", web::get().to(chats::list)))
        .service(api(
            "/api/loggedonly/getUsers",
            web::post().to(chats::users),
        ))
        .service(api(
            "/api/loggedonly/getLastMessages",
            web::post().to(messages::last),
        ))
        .service(api(
            "/api/loggedonly/getMessages",
            web::post().to(messages::history),
        ))
        .service(api(
            "/api/loggedonly/postMessage",
            web::post().to(messages::post),
        ))
        .service(api(
            "/api/adminonly/createChat",
            web::post().to(chats::create),
        ))
        .service(api(
            "/api/adminonly/removeChat",
            web::post().to(chats::remove),
        ))
        // The one pattern with parameters comes last: the router tries routes in order, and
        // matching a parameterised one runs a regular expression, on every request before it.
        .service(api(
            "/api/verifyEmail/{user}/{token}",
            web::get().to(accounts::verify_email),
        ));
}

/// The route an API request matched, for metrics and logs: every API path is exact, so the
/// path is the pattern. Looking it up from the request is a scan of the route table with a
/// regular expression at the root, per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoutePattern(pub(crate) &'static str);

fn api(path: &'static str, route: Route) -> Resource {
    web::resource(path)
        .app_data(RoutePattern(path))
        .route(route)
        .default_service(web::to(static_files::fallback))
}

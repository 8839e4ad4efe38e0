//! chatty's HTTP API over actix-web (api.md): the route table, the session cookie, CORS, the
//! error body, static files and the long poll. Handlers only decode, call one use case of
//! `chatty_domain::Services` and encode.

mod body;
mod cors;
mod error;
mod json_errors;
mod metrics;
mod request_span;
mod response;
mod routes;
mod session;
mod state;
mod static_files;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, web};
use tracing_actix_web::TracingLogger;

pub use cors::CorsPolicy;
pub use error::ApiError;
pub use metrics::Metrics;
pub use response::EVENT_ID_HEADER;
pub use session::{COOKIE_NAME, cookie_key};
pub use state::{Api, ApiState, HttpSettings};

/// The whole app for one worker. The server binary and the tests build the same thing.
pub fn app(
    state: Api,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let sessions = session::middleware(&state.settings);
    // Query strings that do not decode get the API's error body too.
    let query = web::QueryConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(format!("bad query string: {e}")).into());
    App::new()
        .app_data(state)
        .app_data(query)
        .configure(routes::configure)
        .default_service(web::to(static_files::fallback))
        .wrap(ErrorHandlers::new().default_handler(json_errors::rewrite))
        .wrap(sessions)
        .wrap(from_fn(cors::cors))
        .wrap(from_fn(metrics::measure))
        .wrap(TracingLogger::<request_span::RequestSpan>::new())
}

//! Operations endpoints (api.md §3): liveness and readiness for load balancers and
//! orchestrators. Neither needs a session.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::error::ApiError;
use crate::response::json_ok;
use crate::state::Api;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `GET /healthz` → 200 `{"status":"ok"}` while the process serves.
pub async fn healthz() -> HttpResponse {
    json_ok(&Status { status: "ok" })
}

/// `GET /readyz` → 200 `{"status":"ready"}` when the store answers, 503 otherwise.
pub async fn readyz(api: Api) -> Result<HttpResponse, ApiError> {
    api.services.check_ready().await?;
    Ok(json_ok(&Status { status: "ready" }))
}

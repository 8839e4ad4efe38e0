//! Registration, verification, password reset.

use actix_web::{HttpResponse, web};

use crate::body::{Body, Wording};
use crate::error::ApiError;
use crate::response::empty_ok;
use crate::state::Api;

/// `POST /api/register` → 200 empty; 400, 409, 422.
pub async fn register(body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let f = body.fields(Wording::Legacy)?;
    let (user, email, password) = (f.string("user")?, f.string("email")?, f.string("password")?);
    api.services.register(&user, &email, &password).await?;
    Ok(empty_ok())
}

/// `GET /api/verifyEmail/{user}/{token}` → 200 empty; 400.
pub async fn verify_email(
    path: web::Path<(String, String)>,
    api: Api,
) -> Result<HttpResponse, ApiError> {
    let (user, token) = path.into_inner();
    api.services.verify_email(&user, &token).await?;
    Ok(empty_ok())
}

/// `POST /api/resendVerification` (extension) → 200 empty whatever the name.
pub async fn resend_verification(body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let user = body.fields(Wording::Precise)?.string("user")?;
    api.services.resend_verification(&user).await?;
    Ok(empty_ok())
}

/// `POST /api/requestResetPassword` → 200 empty whatever the name; 400.
pub async fn request_password_reset(body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let user = body.fields(Wording::Precise)?.string("user")?;
    api.services.request_password_reset(&user).await?;
    Ok(empty_ok())
}

/// `POST /api/resetPassword` → 200 empty; 400.
pub async fn reset_password(body: Body, api: Api) -> Result<HttpResponse, ApiError> {
    let f = body.fields(Wording::Precise)?;
    let (user, token, password) = (
        f.string("user")?,
        f.string("passwordResetToken")?,
        f.string("password")?,
    );
    api.services
        .reset_password(&user, &token, &password)
        .await?;
    Ok(empty_ok())
}

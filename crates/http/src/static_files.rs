//! Static files (the web client) for every `GET` that is not an API route (original-spec.md
//! §2.5), never outside the static directory, never hidden files, no directory listings.

use std::path::{Path, PathBuf};

use actix_files::NamedFile;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;
use crate::state::Api;

/// The fallback of every path: a static file for `GET`/`HEAD`, 405 for anything else (a `GET`
/// on a POST-only API path therefore finds no file: 404, as in the original).
pub async fn fallback(req: HttpRequest, api: Api) -> Result<HttpResponse, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    let relative = safe_relative_path(req.path()).ok_or(ApiError::NotFound)?;
    let path = api.settings.static_dir.join(relative);
    let file = open(path).await.ok_or(ApiError::NotFound)?;
    Ok(file.into_response(&req))
}

/// The file at `path`, or the `index.html` of the directory at `path`.
async fn open(path: PathBuf) -> Option<NamedFile> {
    actix_web::web::block(move || {
        let path = if path.is_dir() {
            path.join("index.html")
        } else {
            path
        };
        let file = NamedFile::open(&path).ok()?;
        // A directory named `index.html` is not a file to serve.
        (!file.metadata().is_dir()).then_some(file)
    })
    .await
    .ok()
    .flatten()
}

/// The request path as a relative file path, refusing anything that could leave the static
/// directory or reveal hidden files: `..`, `.`, segments starting with a dot, backslashes,
/// NUL bytes, and percent-encoded forms of all of them.
fn safe_relative_path(raw: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(raw).decode_utf8().ok()?;
    let mut relative = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.')
            || segment.contains(['\\', '\0'])
            || Path::new(segment).is_absolute()
        {
            return None;
        }
        relative.push(segment);
    }
    Some(relative)
}

#[cfg(test)]
mod tests {
    use super::safe_relative_path;
    use std::path::PathBuf;

    #[test]
    fn plain_paths_map_into_the_directory() {
        assert_eq!(safe_relative_path("/"), Some(PathBuf::new()));
        assert_eq!(
            safe_relative_path("/app/main.js"),
            Some(PathBuf::from("app/main.js"))
        );
        assert_eq!(safe_relative_path("//a///b"), Some(PathBuf::from("a/b")));
        assert_eq!(
            safe_relative_path("/caf%C3%A9.txt"),
            Some(PathBuf::from("café.txt"))
        );
    }

    #[test]
    fn traversal_and_hidden_files_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/a/../../x",
            "/%2e%2e/x",
            "/.env",
            "/a/.git/config",
            "/a%5C..%5Cb",
            "/x%00y",
            "/%ff",
        ] {
            assert_eq!(safe_relative_path(bad), None, "{bad}");
        }
    }
}

//! The page and its files, built into the binary.

use axum::extract::OriginalUri;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The page. Its URLs are relative to `.../`: a request for the mount
/// point without the slash is redirected (relatively, so a proxy's prefix
/// is kept) to the same path with it.
pub(crate) async fn index(OriginalUri(uri): OriginalUri) -> Response {
    if let Some(location) = slash_redirect(uri.path(), uri.query()) {
        if let Ok(value) = HeaderValue::from_str(&location) {
            return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, value)]).into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../assets/index.html"),
    )
        .into_response()
}

/// `/admin/jobs` → `jobs/` (relative to the request); `None` when the path
/// already ends with a slash.
fn slash_redirect(path: &str, query: Option<&str>) -> Option<String> {
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    let mut location = format!("{last}/");
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    Some(location)
}

pub(crate) async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/app.js"),
    )
}

pub(crate) async fn dag_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../assets/dag.js"),
    )
}

pub(crate) async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../assets/style.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::slash_redirect;

    #[test]
    fn the_mount_point_gets_its_slash() {
        assert_eq!(slash_redirect("/", None), None);
        assert_eq!(slash_redirect("/admin/jobs/", None), None);
        assert_eq!(
            slash_redirect("/admin/jobs", None).as_deref(),
            Some("jobs/")
        );
        assert_eq!(
            slash_redirect("/jobs", Some("a=1")).as_deref(),
            Some("jobs/?a=1")
        );
    }
}

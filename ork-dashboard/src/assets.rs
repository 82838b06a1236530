//! The page and its files, built into the binary.

use axum::extract::OriginalUri;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page. Nested routers answer at the mount point itself
/// (`/admin/jobs`, no trailing slash), where a relative `assets/app.js`
/// would resolve beside it (`/admin/assets/app.js`); so the page names its
/// base: `<base href="jobs/">`, relative to the request, which keeps working
/// behind a proxy that strips or adds a prefix.
pub(crate) async fn index(OriginalUri(uri): OriginalUri) -> Response {
    let page = include_str!("../assets/index.html").replacen(
        "<head>",
        &format!("<head>\n<base href=\"{}\">", base_href(uri.path())),
        1,
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// `/admin/jobs` → `jobs/`; a path that ends with a slash → `./`.
fn base_href(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') {
        return "./".to_owned();
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    let mut out = String::with_capacity(last.len() + 1);
    for c in last.chars() {
        match c {
            '"' => out.push_str("%22"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '&' => out.push_str("%26"),
            c => out.push(c),
        }
    }
    out.push('/');
    out
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
    use super::base_href;

    #[test]
    fn the_base_is_the_mount_point_with_its_slash() {
        assert_eq!(base_href("/"), "./");
        assert_eq!(base_href("/admin/jobs/"), "./");
        assert_eq!(base_href("/admin/jobs"), "jobs/");
        assert_eq!(base_href("/a\"b"), "a%22b/");
    }
}

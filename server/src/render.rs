//! The minijinja environment for the dashboard's HTML pages.
//!
//! Templates live in `dashboards/templates/` and are embedded at build time, so the binary
//! needs no files at runtime. Every template is rendered with HTML autoescaping, whatever its
//! name: host names come from edges and may contain `<`, quotes or backslashes.
//! Routing, headers and static assets are `http::pages`' business; this module only renders.

use std::sync::LazyLock;

use minijinja::{context, AutoEscape, Environment, UndefinedBehavior};

/// Every embedded template, by the name `{% extends %}` uses.
const TEMPLATES: [(&str, &str); 5] = [
    (
        "base.html",
        include_str!("../../dashboards/templates/base.html"),
    ),
    (
        "overview.html",
        include_str!("../../dashboards/templates/overview.html"),
    ),
    (
        "host.html",
        include_str!("../../dashboards/templates/host.html"),
    ),
    (
        "login.html",
        include_str!("../../dashboards/templates/login.html"),
    ),
    (
        "alerts.html",
        include_str!("../../dashboards/templates/alerts.html"),
    ),
];

/// Built once on first use; templates are parsed then and shared read-only afterwards.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // A typo in a template variable fails the render (and the tests) instead of printing "".
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("embedded templates parse (checked by render::tests)");
    }
    env
});

/// The fleet overview page (`/`).
///
/// `asset_version` goes into every `/static/...?v=` URL so browsers may cache assets forever.
/// `user` (the logged-in user, if any) shows the logout button.
pub fn overview(asset_version: &str, user: Option<&str>) -> Result<String, minijinja::Error> {
    ENV.get_template("overview.html")?
        .render(context! { v => asset_version, nav => "fleet", user => user })
}

/// The detail page of one host (`/hosts/{host}`); `host` is untrusted and rendered escaped.
pub fn host(
    host: &str,
    asset_version: &str,
    user: Option<&str>,
) -> Result<String, minijinja::Error> {
    ENV.get_template("host.html")?
        .render(context! { v => asset_version, nav => "host", host => host, user => user })
}

/// The login page; `error` is shown above the form, `next` is where to go after logging in.
pub fn login(
    asset_version: &str,
    has_users: bool,
    error: Option<&str>,
    next: &str,
) -> Result<String, minijinja::Error> {
    ENV.get_template("login.html")?.render(context! {
        v => asset_version, nav => "login", has_users => has_users, error => error, next => next
    })
}

/// The alerts page (`/alerts`): firing, pending, silenced, silences and history.
/// `user` (the logged-in user, if any) shows the logout button.
pub fn alerts(asset_version: &str, user: Option<&str>) -> Result<String, minijinja::Error> {
    ENV.get_template("alerts.html")?
        .render(context! { v => asset_version, nav => "alerts", user => user })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `<script` tag in `html` loads a file: the CSP forbids inline scripts.
    fn scripts_all_external(html: &str) -> bool {
        html.match_indices("<script").all(|(i, _)| {
            let tag = &html[i..];
            tag.starts_with("<script src=\"/static/")
                || tag.starts_with("<script type=\"module\" src=\"/static/")
        })
    }

    #[test]
    fn overview_renders_with_versioned_assets() {
        let html = overview("abc123", Some("alice")).unwrap();
        assert!(html.contains(r#"<form class="logout-form" method="post" action="/logout">"#));
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains(r#"<link rel="stylesheet" href="/static/app.css?v=abc123">"#));
        assert!(
            html.contains(r#"<script type="module" src="/static/overview.js?v=abc123"></script>"#)
        );
        assert!(html.contains("<title>Fleet · utizmon</title>"));
        assert!(scripts_all_external(&html));
        assert!(!html.contains(" style="));
    }

    #[test]
    fn every_page_links_the_alerts_page() {
        for html in [
            overview("v", None).unwrap(),
            host("web-1", "v", None).unwrap(),
        ] {
            assert!(html.contains(r#"<a href="/alerts">Alerts</a>"#));
        }
        let html = alerts("v", None).unwrap();
        assert!(html.contains(r#"<a href="/alerts" aria-current="page">Alerts</a>"#));
        assert!(html.contains(r#"<script type="module" src="/static/alerts.js?v=v"></script>"#));
        assert!(scripts_all_external(&html));
        assert!(!html.contains(" style="));
    }

    #[test]
    fn host_page_escapes_hostile_names() {
        let name = r#"<img src=x onerror=alert(1)>"'\</script>"#;
        let html = host(name, "v1", None).unwrap();
        assert!(!html.contains("Log out"));
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("</script>\""));
        let escaped = "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27;\\&lt;&#x2f;script&gt;";
        assert!(html.contains(&format!("<title>{escaped} · utizmon</title>")));
        assert!(html.contains(&format!(r#"data-host="{escaped}""#)));
        assert!(html.contains(&format!(r#"<h1 id="host-name">{escaped}</h1>"#)));
        assert!(scripts_all_external(&html));
        assert!(!html.contains(" style="));
    }

    #[test]
    fn login_page_escapes_and_has_no_inline_code() {
        let html = login("v1", true, Some("Wrong <b>"), "/hosts/\"x").unwrap();
        assert!(html.contains(r#"<form class="login-form" method="post" action="/login">"#));
        assert!(html.contains("Wrong &lt;b&gt;"));
        assert!(html.contains(r#"value="&#x2f;hosts&#x2f;&quot;x""#));
        assert!(scripts_all_external(&html));
        assert!(!html.contains(" style="));
        assert!(!html.contains("Log out"));
    }
}

//! The frame every console page shares (head, navigation) and the small helpers the
//! pages render with: attacker text made visible, times, links with queries.

use maud::{html, Markup, DOCTYPE};

/// Which navigation entry is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Sessions,
    Indicators,
    Samples,
    Alerts,
    Sensors,
    /// Error pages and the login form.
    None,
}

/// A whole page.
pub(crate) fn page(title: &str, current: Nav, body: Markup) -> Markup {
    frame(title, current, body, false)
}

/// A whole page with the replay player's files.
pub(crate) fn page_with_player(title: &str, current: Nav, body: Markup) -> Markup {
    frame(title, current, body, true)
}

fn frame(title: &str, current: Nav, body: Markup, player: bool) -> Markup {
    let version = super::assets::PLAYER_VERSION;
    let entry = |nav: Nav, href: &str, label: &str| {
        html! {
            @if nav == current { a href=(href) aria-current="page" { (label) } }
            @else { a href=(href) { (label) } }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · busybait" }
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/static/console.css";
                @if player {
                    link rel="stylesheet" href={"/static/asciinema-player-" (version) ".css"};
                    script src={"/static/asciinema-player-" (version) ".min.js"} defer {}
                }
                script src="/static/console.js" defer {}
            }
            body {
                header {
                    span.brand { "busybait" }
                    nav {
                        (entry(Nav::Overview, "/", "Overview"))
                        (entry(Nav::Sessions, "/sessions", "Sessions"))
                        (entry(Nav::Indicators, "/indicators", "Indicators"))
                        (entry(Nav::Samples, "/samples", "Samples"))
                        (entry(Nav::Alerts, "/alerts", "Alerts"))
                        (entry(Nav::Sensors, "/sensors", "Sensors"))
                    }
                }
                main { (body) }
            }
        }
    }
}

/// Attacker text as it is: control characters and bidirectional overrides written
/// as escapes (`\u{1b}`), so a terminal sequence or a reversed line shows literally.
/// maud escapes the HTML.
pub(crate) fn shown(text: &str) -> String {
    crate::terminal::escape(text)
}

/// Longest attacker value a table cell shows (the session page has them whole).
const MAX_CELL_CHARS: usize = 120;

/// [`shown`], cut to a table cell's length with `…`.
pub(crate) fn cell(text: &str) -> String {
    crate::terminal::shortened(text, MAX_CELL_CHARS)
}

/// An RFC 3339 timestamp as the console shows it: `2026-12-05 03:27:37` (UTC).
pub(crate) fn time(ts: &str) -> String {
    let seconds = ts.get(..19).unwrap_or(ts);
    seconds.replacen('T', " ", 1)
}

/// `path?query` with each pair URL-encoded; pairs with an empty value are left out.
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A count with thousands separators (`12,345`).
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds as `1.5 s`, `12 min`.
pub(crate) fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "open".to_string(),
        Some(ms) if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min", ms / 60_000),
    }
}

/// The spans the overview and indicators offer, as `?span=` takes them.
pub(crate) const SPANS: &[(&str, &str)] = &[
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("all", "all time"),
];

/// Links to the same page over each span, the current one marked.
pub(crate) fn span_picker(path: &str, current: &str) -> Markup {
    html! {
        nav.spans aria-label="time span" {
            @for (span, label) in SPANS {
                @if *span == current {
                    a href=(link(path, &[("span", span)])) aria-current="true" { (label) }
                } @else {
                    a href=(link(path, &[("span", span)])) { (label) }
                }
            }
        }
    }
}

/// When a summary's numbers were counted, and when they will be again.
pub(crate) fn counted_at(span: &str, at: &str) -> Markup {
    html! {
        p.note { "Counted at " (time(at)) " UTC; counted again after " (super::counts::fresh_for(span).as_secs()) " s." }
    }
}

/// A page's `?span=`.
#[derive(serde::Deserialize)]
pub(crate) struct SpanParams {
    pub span: Option<String>,
}

/// The window a `?span=` names: one of [`SPANS`] (default 24 hours).
pub(crate) fn span_window(
    span: Option<&str>,
) -> Result<(&'static str, busybait_store::read::Window), super::WebError> {
    let span = span.unwrap_or("24h");
    let Some((name, _)) = SPANS.iter().find(|(s, _)| *s == span) else {
        return Err(super::WebError::BadRequest(
            "span must be one of 24h, 7d, 30d, all".to_string(),
        ));
    };
    if *name == "all" {
        return Ok((name, busybait_store::read::Window::default()));
    }
    let window = crate::spans::window(Some(name), None, std::time::SystemTime::now())
        .map_err(|e| super::WebError::BadRequest(e.to_string()))?;
    Ok((name, window))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_render_exactly() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(time("2026-12-05T03:27:37.123456Z"), "2026-12-05 03:27:37");
        assert_eq!(time("short"), "short");
        assert_eq!(
            link(
                "/sessions",
                &[("src", "127.0.0.1"), ("family", ""), ("user", "a&b c")]
            ),
            "/sessions?src=127.0.0.1&user=a%26b+c"
        );
        assert_eq!(shown("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        assert_eq!(duration(Some(1500)), "1.5 s");
        assert_eq!(duration(Some(600_000)), "10 min");
        assert_eq!(duration(None), "open");
        let page = page("<t>", Nav::None, html! { p { ("<script>") } }).into_string();
        assert!(
            page.contains("<title>&lt;t&gt; · busybait</title>"),
            "{page}"
        );
        assert!(page.contains("<p>&lt;script&gt;</p>"), "{page}");
    }
}

//! The console's static files, all in the binary: its stylesheet and script, and the
//! vendored asciinema-player (see `vendor/asciinema-player/PROVENANCE.md`).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::WebError;

/// The player's version, in its files' URLs so that an update is never mixed with
/// a cached older copy.
pub(crate) const PLAYER_VERSION: &str = "3.18.0";

/// Every file under `/static/`: name, type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("console.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("favicon.svg"),
    ),
    (
        "asciinema-player-3.18.0.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("vendor/asciinema-player/asciinema-player.min.js"),
    ),
    (
        "asciinema-player-3.18.0.css",
        "text/css; charset=utf-8",
        include_bytes!("vendor/asciinema-player/asciinema-player.css"),
    ),
    (
        "asciinema-player-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("vendor/asciinema-player/LICENSE"),
    ),
];

/// `GET /static/{name}`.
pub(crate) async fn file(Path(name): Path<String>) -> Result<Response, WebError> {
    let Some((_, mime, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return Err(WebError::NotFound);
    };
    Ok((
        [
            (header::CONTENT_TYPE, *mime),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        *bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_player_files_carry_its_version() {
        for (name, _, _) in super::FILES {
            if name.starts_with("asciinema-player-") && !name.ends_with("LICENSE.txt") {
                assert!(name.contains(super::PLAYER_VERSION), "{name}");
            }
        }
    }
}

//! What the device's web server sends: a status line, its headers in its order, and
//! the body; its error pages and its own login and main pages. Byte for byte BusyBox
//! 1.35 `httpd`'s (`HTTP/1.1`, `Date`, `Connection: close`, `Content-type`, error
//! pages `<HTML><HEAD><TITLE>…` ended by the close, files with `Accept-Ranges`,
//! `Last-Modified`, `ETag` and `Content-Length`; checked against the real one in the
//! oracle sandbox), with the profile's `Server:` header where its server sends one:
//! for the vendors' servers an approximation (docs/FIDELITY.md).

use std::time::SystemTime;

use busybait_device::profile::HttpServer;

/// How a response's body is framed, as BusyBox `httpd` frames each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An error page: no length, the connection's close ends it.
    Error,
    /// A file of the device's web root: `Accept-Ranges`, `Last-Modified`, `ETag`
    /// (`"<mtime hex>-<size hex>"`) and `Content-Length`.
    File(SystemTime),
    /// A vulnerable endpoint's own answer, with its `Content-Length`.
    Generated,
}

/// A response about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-type`.
    pub content_type: String,
    /// A `Server:` header replacing the profile's (a UPnP daemon's own).
    pub server: Option<String>,
    /// `WWW-Authenticate: Basic realm="…"`.
    pub realm: Option<String>,
    /// How the body is framed.
    pub framing: Framing,
    /// The body.
    pub body: Vec<u8>,
}

/// The reason phrase BusyBox `httpd` gives a status.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    }
}

/// What each error page says under its heading (BusyBox `httpd`'s `infoString`;
/// 413 and 431 are this door's own limits, which BusyBox lacks).
fn explanation(status: u16) -> &'static str {
    match status {
        400 => "Unsupported method",
        404 => "The requested URL was not found",
        408 => "No request appeared within 60 seconds",
        413 => "Request entity too large",
        431 => "Request header fields too large",
        501 => "The requested method is not recognized",
        500 => "Internal Server Error",
        _ => "",
    }
}

impl Response {
    /// An error page.
    pub fn error(status: u16) -> Self {
        let r = reason(status);
        let body = format!(
            "<HTML><HEAD><TITLE>{status} {r}</TITLE></HEAD>\n<BODY><H1>{status} {r}</H1>\n{}\n</BODY></HTML>\n",
            explanation(status)
        );
        Self {
            status,
            content_type: "text/html".to_string(),
            server: None,
            realm: None,
            framing: Framing::Error,
            body: body.into_bytes(),
        }
    }

    /// A page of the device's web root, last modified at `modified`.
    pub fn page(body: Vec<u8>, modified: SystemTime) -> Self {
        Self {
            status: 200,
            content_type: "text/html".to_string(),
            server: None,
            realm: None,
            framing: Framing::File(modified),
            body,
        }
    }

    /// The bytes on the wire, with `now` as its `Date`.
    pub fn encode(&self, server: &HttpServer, now: SystemTime) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        let mut line = |text: String| {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        line(format!("HTTP/1.1 {} {}", self.status, reason(self.status)));
        if let Some(name) = self.server.as_ref().or(server.server.as_ref()) {
            line(format!("Server: {name}"));
        }
        line(format!("Date: {}", httpdate::fmt_http_date(now)));
        line("Connection: close".to_string());
        line(format!("Content-type: {}", self.content_type));
        if let Some(realm) = &self.realm {
            line(format!("WWW-Authenticate: Basic realm=\"{realm}\""));
        }
        match self.framing {
            Framing::Error => {}
            Framing::File(modified) => {
                let mtime = modified
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                line("Accept-Ranges: bytes".to_string());
                line(format!(
                    "Last-Modified: {}",
                    httpdate::fmt_http_date(modified)
                ));
                line(format!("ETag: \"{mtime:x}-{:x}\"", self.body.len()));
                line(format!("Content-Length: {}", self.body.len()));
            }
            Framing::Generated => line(format!("Content-Length: {}", self.body.len())),
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// The device's login form (a server without Basic authentication): our own HTML in
/// the style of an embedded device's, no vendor's files.
pub fn login_page(server: &HttpServer) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body>\n<form method=\"post\" action=\"/login.cgi\">\n<h2>{t}</h2>\n<p>User name <input type=\"text\" name=\"username\"></p>\n<p>Password <input type=\"password\" name=\"password\"></p>\n<p><input type=\"submit\" value=\"Login\"></p>\n</form>\n</body></html>\n",
        t = server.title
    )
    .into_bytes()
}

/// The page behind the login.
pub fn main_page(server: &HttpServer) -> Vec<u8> {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body>\n<h2>{t}</h2>\n<p>Status: running</p>\n</body></html>\n",
        t = server.title
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_page_is_busybox_httpds_with_the_profiles_server() {
        let server = HttpServer {
            server: Some("JAWS/1.0".into()),
            title: "T".into(),
            realm: None,
            exploits: Vec::new(),
            ports: vec![80],
        };
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let bytes = Response::error(404).encode(&server, at);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 404 Not Found\r\nServer: JAWS/1.0\r\nDate: Wed, 18 Nov 2026 11:06:40 GMT\r\nConnection: close\r\nContent-type: text/html\r\n\r\n<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD>\n<BODY><H1>404 Not Found</H1>\nThe requested URL was not found\n</BODY></HTML>\n"
        );
        let page = Response::page(b"<html>hi</html>\n".to_vec(), at).encode(&server, at);
        assert!(String::from_utf8(page).unwrap().contains(
            "Accept-Ranges: bytes\r\nLast-Modified: Wed, 18 Nov 2026 11:06:40 GMT\r\nETag: \"6afd86c0-10\"\r\nContent-Length: 16\r\n\r\n<html>hi</html>\n"
        ));
    }
}

//! What the device's web server sends: a status line, its headers in its order, and
//! the body; its error pages and its own login and main pages. The shape is BusyBox
//! `httpd`'s (`HTTP/1.1`, `Date`, `Connection: close`, `Content-type`, error pages
//! as `<HTML><HEAD><TITLE>…`), with the profile's `Server:` header where its server
//! sends one. An approximation of the vendors' servers (docs/FIDELITY.md).

use std::time::SystemTime;

use busybait_device::profile::HttpServer;

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
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    }
}

/// What each error page says under its heading (BusyBox `httpd`'s `infoString`).
fn explanation(status: u16) -> &'static str {
    match status {
        400 => "Unsupported method",
        401 => "Authentication required",
        403 => "Access denied",
        404 => "The requested URL was not found",
        405 => "Method not allowed",
        408 => "No request appeared within 60 seconds",
        413 => "Request entity too large",
        431 => "Request header fields too large",
        501 => "Not implemented",
        _ => "Internal server error",
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
        Self::html(status, body.into_bytes())
    }

    /// A page of `text/html`.
    pub fn html(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type: "text/html".to_string(),
            server: None,
            realm: None,
            body,
        }
    }

    /// The bytes on the wire, with `now` as its `Date`; a `HEAD` request gets the
    /// head alone.
    pub fn encode(&self, server: &HttpServer, now: SystemTime, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).as_bytes(),
        );
        if let Some(name) = self.server.as_ref().or(server.server.as_ref()) {
            out.extend_from_slice(format!("Server: {name}\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "Date: {}\r\nConnection: close\r\nContent-type: {}\r\n",
                httpdate::fmt_http_date(now),
                self.content_type
            )
            .as_bytes(),
        );
        if let Some(realm) = &self.realm {
            out.extend_from_slice(
                format!("WWW-Authenticate: Basic realm=\"{realm}\"\r\n").as_bytes(),
            );
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        if !head_only {
            out.extend_from_slice(&self.body);
        }
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
        let bytes = Response::error(404).encode(&server, at, false);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "HTTP/1.1 404 Not Found\r\nServer: JAWS/1.0\r\nDate: Wed, 18 Nov 2026 11:06:40 GMT\r\nConnection: close\r\nContent-type: text/html\r\nContent-Length: 124\r\n\r\n<HTML><HEAD><TITLE>404 Not Found</TITLE></HEAD>\n<BODY><H1>404 Not Found</H1>\nThe requested URL was not found\n</BODY></HTML>\n"
        );
    }
}

//! Reading one request off the wire: the head parsed by `httparse` once it is whole,
//! then the body by its `Content-Length`. Every part is bounded; what passes a bound
//! is answered with the status a small server gives and the connection closes.

use crate::HttpLimits;

/// A whole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query (after `?`), raw.
    pub query: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'static str,
    /// The headers, in order, values as text (bytes past ASCII replaced).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Bytes this request holds.
    pub fn heap(&self) -> usize {
        self.method.capacity()
            + self.path.capacity()
            + self.query.capacity()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity() + 48)
                .sum::<usize>()
            + self.body.capacity()
    }
}

/// Why a request cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not HTTP, or malformed: `400 Bad Request`.
    Malformed,
    /// A head past `max_head_bytes` or more than `max_headers` headers: `431`.
    HeadTooLarge,
    /// A body past `max_body_bytes`: `413`.
    BodyTooLarge,
    /// `Transfer-Encoding` (a chunked body): `501`, as servers without it answer.
    TransferEncoding,
}

impl Refusal {
    /// The status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::Malformed => 400,
            Refusal::HeadTooLarge => 431,
            Refusal::BodyTooLarge => 413,
            Refusal::TransferEncoding => 501,
        }
    }

    /// The limit it is recorded as, if a limit was passed.
    pub fn limit(self) -> Option<&'static str> {
        match self {
            Refusal::HeadTooLarge => Some("http_max_head_bytes"),
            Refusal::BodyTooLarge => Some("http_max_body_bytes"),
            Refusal::Malformed | Refusal::TransferEncoding => None,
        }
    }
}

/// What the reader has.
#[derive(Debug)]
pub enum Read {
    /// More bytes are needed.
    Incomplete,
    /// A whole request.
    Done(Request),
    /// A request that will not be served.
    Refused(Refusal),
}

/// Accumulates one request's bytes.
#[derive(Debug, Default)]
pub struct RequestReader {
    buf: Vec<u8>,
    /// The head, once parsed, and the body's length.
    head: Option<(Request, usize, usize)>,
}

impl RequestReader {
    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.buf.capacity() + self.head.as_ref().map_or(0, |(r, _, _)| r.heap())
    }

    /// Whether any byte of a request came.
    pub fn started(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The bytes received so far (what a refused request is recorded by).
    pub fn raw(&self) -> &[u8] {
        &self.buf
    }

    /// Takes `input`; says whether a request is whole.
    pub fn feed(&mut self, input: &[u8], limits: &HttpLimits) -> Read {
        let room = (limits.max_head_bytes + limits.max_body_bytes).saturating_sub(self.buf.len());
        let taken = input.get(..input.len().min(room)).unwrap_or_default();
        self.buf.extend_from_slice(taken);
        if self.head.is_none() {
            // The head is parsed again only when a line ended: a request trickled a
            // byte at a time costs a parse per line (at most `max_headers` + 2 of
            // them before a refusal), not one per byte.
            if !taken.contains(&b'\n') && self.buf.len() <= limits.max_head_bytes {
                return Read::Incomplete;
            }
            match parse_head(&self.buf, limits) {
                Ok(Some(parsed)) => self.head = Some(parsed),
                Ok(None) => {
                    if self.buf.len() > limits.max_head_bytes {
                        return Read::Refused(Refusal::HeadTooLarge);
                    }
                    return Read::Incomplete;
                }
                Err(r) => return Read::Refused(r),
            }
        }
        let Some((_, head_len, body_len)) = &self.head else {
            return Read::Incomplete;
        };
        let (head_len, body_len) = (*head_len, *body_len);
        if self.buf.len() < head_len + body_len {
            return Read::Incomplete;
        }
        let Some((mut request, _, _)) = self.head.take() else {
            return Read::Incomplete;
        };
        request.body = self
            .buf
            .get(head_len..head_len + body_len)
            .unwrap_or_default()
            .to_vec();
        self.buf = Vec::new();
        Read::Done(request)
    }
}

/// The head, its length and the body's, once the head is whole.
fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<(Request, usize, usize)>, Refusal> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    // A header line httparse finds invalid (control bytes in a value, a bad name)
    // is skipped, not fatal: BusyBox's httpd reads lines and serves such a request.
    let mut config = httparse::ParserConfig::default();
    config.ignore_invalid_headers_in_requests(true);
    let head_len = match config.parse_request(&mut parsed, buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::Malformed),
    };
    if head_len > limits.max_head_bytes {
        return Err(Refusal::HeadTooLarge);
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(Refusal::Malformed);
    };
    let version = if minor == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version,
        headers,
        body: Vec::new(),
    };
    if request.header("Transfer-Encoding").is_some() {
        return Err(Refusal::TransferEncoding);
    }
    let body_len = match request.header("Content-Length") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| Refusal::Malformed)?,
    };
    if body_len > limits.max_body_bytes {
        return Err(Refusal::BodyTooLarge);
    }
    Ok(Some((request, head_len, body_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> HttpLimits {
        HttpLimits {
            max_head_bytes: 256,
            max_headers: 4,
            max_body_bytes: 16,
            ..HttpLimits::default()
        }
    }

    #[test]
    fn a_request_in_pieces_is_whole_once_its_body_is() {
        let mut r = RequestReader::default();
        let l = limits();
        assert!(matches!(
            r.feed(b"POST /a?b=1 HTTP/1.1\r\nContent-Le", &l),
            Read::Incomplete
        ));
        assert!(matches!(r.feed(b"ngth: 5\r\n\r\nab", &l), Read::Incomplete));
        let Read::Done(req) = r.feed(b"cde", &l) else {
            panic!("not done");
        };
        assert_eq!(
            (
                req.method.as_str(),
                req.path.as_str(),
                req.query.as_str(),
                req.version
            ),
            ("POST", "/a", "b=1", "HTTP/1.1")
        );
        assert_eq!(req.body, b"abcde");
        assert!(!r.started());
    }

    #[test]
    fn a_trickled_request_is_parsed_once_per_line_and_still_whole_at_its_end() {
        let l = limits();
        let mut r = RequestReader::default();
        let request = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        let (last, all_but) = request.split_last().unwrap();
        for b in all_but {
            assert!(matches!(r.feed(&[*b], &l), Read::Incomplete));
        }
        let Read::Done(req) = r.feed(&[*last], &l) else {
            panic!("not done");
        };
        assert_eq!((req.path.as_str(), req.headers.len()), ("/x", 1));
        // A bad request line is refused when its line ends, not at the timeout.
        let mut r = RequestReader::default();
        assert!(matches!(
            r.feed(b"\x01\x02 / HTTP/1.1", &l),
            Read::Incomplete
        ));
        assert!(matches!(
            r.feed(b"\r\n", &l),
            Read::Refused(Refusal::Malformed)
        ));
    }

    #[test]
    fn bounds_are_refused_with_their_status() {
        let l = limits();
        let long_target = [&b"GET /"[..], &[b'a'; 300]].concat();
        let cases: [(&[u8], u16); 5] = [
            (b"\x01\x02 / HTTP/1.1\r\n\r\n", 400),
            (&long_target, 431),
            (
                b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n",
                431,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 413),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                501,
            ),
        ];
        for (input, status) in cases {
            let mut r = RequestReader::default();
            match r.feed(input, &l) {
                Read::Refused(refusal) => assert_eq!(refusal.status(), status),
                other => panic!("{other:?} for {:?}", String::from_utf8_lossy(input)),
            }
        }
    }
}

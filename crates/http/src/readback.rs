//! Pages that show what an earlier request's command printed: GPON's `diag.html`
//! holds the output of the ping its `diag_Form` ran, and bots read it back to see
//! their command's result. The device keeps the last output per source address (its
//! web server's state, shared by the source's connections), bounded in sources and
//! bytes; the oldest source is forgotten first.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Sources whose last output is kept.
pub const MAX_SOURCES: usize = 1024;
/// Bytes of output kept per source.
pub const MAX_BYTES: usize = 4096;

/// The last output per source, for the page that shows it.
#[derive(Debug, Default)]
pub struct Readbacks {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Source to (page path, body template, output).
    by_source: HashMap<IpAddr, Kept>,
    /// Sources, oldest first.
    order: VecDeque<IpAddr>,
}

#[derive(Debug, Clone)]
struct Kept {
    path: String,
    body: String,
    output: Vec<u8>,
}

impl Readbacks {
    /// Keeps `output` for `src`, shown at `path` through `body` (`{output}` in it).
    pub fn keep(&self, src: IpAddr, path: &str, body: &str, output: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let kept = Kept {
            path: path.to_string(),
            body: body.to_string(),
            output: output
                .get(..output.len().min(MAX_BYTES))
                .unwrap_or_default()
                .to_vec(),
        };
        if inner.by_source.insert(src, kept).is_none() {
            inner.order.push_back(src);
        }
        while inner.order.len() > MAX_SOURCES {
            if let Some(oldest) = inner.order.pop_front() {
                inner.by_source.remove(&oldest);
            }
        }
    }

    /// The page at `path` for `src`, if its last command left one there.
    pub fn page(&self, src: IpAddr, path: &str) -> Option<Vec<u8>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let kept = inner.by_source.get(&src).filter(|k| k.path == path)?;
        Some(
            kept.body
                .replace("{output}", &String::from_utf8_lossy(&kept.output))
                .into_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_sees_its_own_last_output_and_the_oldest_goes_first() {
        let r = Readbacks::default();
        let a: IpAddr = "127.0.0.5".parse().unwrap();
        r.keep(a, "/diag.html", "<pre>{output}</pre>", b"first");
        r.keep(a, "/diag.html", "<pre>{output}</pre>", b"second");
        assert_eq!(r.page(a, "/diag.html").unwrap(), b"<pre>second</pre>");
        assert_eq!(r.page(a, "/other.html"), None);
        assert_eq!(r.page("127.0.0.6".parse().unwrap(), "/diag.html"), None);
        for i in 0..MAX_SOURCES {
            r.keep(
                IpAddr::from([127, 1, (i >> 8) as u8, i as u8]),
                "/d",
                "{output}",
                &[b'x'; 10_000],
            );
        }
        assert_eq!(
            r.page(a, "/diag.html"),
            None,
            "the oldest source went first"
        );
        let last = IpAddr::from([127, 1, 3, 255]);
        assert_eq!(r.page(last, "/d").unwrap().len(), MAX_BYTES);
    }
}

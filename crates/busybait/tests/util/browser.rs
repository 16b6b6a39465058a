//! Headless Chromium driven through ChromeDriver's WebDriver protocol (Debian's
//! `chromium` and `chromium-driver`; scripts/test installs them), for the console's
//! tests: load a page, run a script in it, read the browser's console log, take a
//! screenshot. ChromeDriver listens on loopback only; the browser is started with
//! no background networking (the machine has no network beyond loopback).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::web::request;

/// A ChromeDriver with one browser session; both end when dropped.
pub struct Browser {
    driver: super::Process,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Self {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is needed (./scripts/test installs Debian's chromium and chromium-driver)"
            );
        }
        // A free port: ChromeDriver takes no port 0.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("/usr/bin/chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut driver = super::Process::spawn(cmd);
        loop {
            let line = driver.line();
            assert!(!line.is_empty(), "chromedriver exited before it started");
            if line.contains("started successfully") {
                break;
            }
        }
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--window-size=1400,1000".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let answer = call(
            addr,
            "POST",
            "/session",
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
                "goog:loggingPrefs": {"browser": "ALL"},
            }}}),
        );
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        Self {
            driver,
            addr,
            session,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        call(
            self.addr,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
    }

    /// Loads `url` and waits until the page has loaded.
    pub fn open(&self, url: &str) {
        let answer = self.call("POST", "/url", &json!({ "url": url }));
        assert!(answer.is_null(), "{url}: {answer}");
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            &json!({ "script": script, "args": [] }),
        )
    }

    /// Runs `script` until it returns `true`.
    pub fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.run(script) == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The browser console's entries since the last call: `(level, message)`.
    pub fn console_log(&self) -> Vec<(String, String)> {
        let answer = self.call("POST", "/se/log", &json!({ "type": "browser" }));
        answer
            .as_array()
            .unwrap_or_else(|| panic!("no log: {answer}"))
            .iter()
            .map(|e| {
                (
                    e["level"].as_str().unwrap_or("").to_string(),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The text of an open alert, confirm or prompt dialog, if one is open.
    pub fn dialog(&self) -> Option<String> {
        let answer = self.call("GET", "/alert/text", &Value::Null);
        answer.as_str().map(str::to_string)
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let answer = self.call("GET", "/screenshot", &Value::Null);
        use base64ct::Encoding;
        base64ct::Base64::decode_vec(answer.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            "",
        );
        let _ = &self.driver;
    }
}

/// A WebDriver command; its `value` (errors other than "no such alert" fail).
fn call(addr: SocketAddr, method: &str, path: &str, body: &Value) -> Value {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let answer = request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        &body,
    );
    let value: Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", answer.body));
    let value = value["value"].clone();
    if answer.status != 200 {
        if value["error"] == "no such alert" {
            return Value::Null;
        }
        panic!("{method} {path}: {}: {value}", answer.status);
    }
    value
}

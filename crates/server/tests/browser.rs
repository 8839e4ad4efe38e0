//! The reference web client (`static/`) end to end: two people chat in headless Chromium.
//!
//! The browser side is `tests/browser/two_browsers.mjs` (Playwright driving Debian's
//! `chromium`); this test provides what it needs and fails with a clear message when that
//! cannot be had: Node.js, Chromium (installed with apt-get on a bare Debian machine, as the
//! Postgres harness does for Postgres) and the script's one npm package.

#![allow(clippy::unwrap_used, reason = "a test fails loudly")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chatty-server");

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn static_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static")
}

fn succeeds(program: &str, args: &[&str], dir: &Path) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `CHROMIUM`, else Debian's `chromium` (installed with apt-get when this process may).
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    common::debian_program("chromium", "chromium").unwrap_or_else(|| {
        panic!(
            "the browser test needs Chromium: install Debian's `chromium` package \
             (apt-get install chromium) or set CHROMIUM to a Chromium binary"
        )
    })
}

/// Installs the script's locked npm dependencies (playwright-core, no browser download).
fn npm_dependencies(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return;
    }
    assert!(
        succeeds(
            "npm",
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
            dir
        ),
        "`npm ci` failed in {}: the browser test needs npm and the npm registry",
        dir.display()
    );
}

#[test]
fn two_people_chat_through_the_web_client_in_chromium() {
    let dir = script_dir();
    assert!(
        succeeds("node", &["--version"], &dir),
        "the browser test needs Node.js 18 or newer (`node` on the path)"
    );
    let chromium = chromium();
    npm_dependencies(&dir);

    let mut child = Command::new("node")
        .arg("two_browsers.mjs")
        .current_dir(&dir)
        .env("CHATTY_BIN", BIN)
        .env("CHATTY_STATIC", static_dir())
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    // The script bounds every step; this bounds the whole, should the browser hang.
    let deadline = Instant::now() + Duration::from_secs(240);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("every step passed"), "{stdout}");
}

//! An SMTP server on 127.0.0.1 for tests (feature `testing`): it speaks enough SMTP for
//! lettre, records what it receives, and can refuse, reject or hang on demand.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test support: failing loudly is the point"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A mail as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (dot-unstuffed, CRLF line ends).
    pub data: String,
}

impl Received {
    /// The value of the first header named `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut()
                && line.starts_with([' ', '\t'])
            {
                v.push_str(line);
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The body, decoded from quoted-printable when it was sent so, as a mail client would.
    pub fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if quoted {
            decode_quoted_printable(&raw)
        } else {
            raw
        }
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How the sink answers new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    Accept,
    /// `421` at once: a temporary refusal.
    Refuse,
    /// `550` to every recipient: a permanent rejection.
    Reject,
    /// Accepts the connection and never says anything.
    Hang,
}

/// The running sink, on a thread and runtime of its own so that a test blocking its own
/// thread cannot stall it. Dropping it stops it.
pub struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<SinkMode>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a given port (0 for any).
    pub async fn start_on(port: u16) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(SinkMode::Accept));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let (received, mode) = (received.clone(), mode.clone());
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the sink");
                runtime.block_on(async move {
                    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("binds");
                    bound_tx
                        .send(listener.local_addr().unwrap().port())
                        .unwrap();
                    let accepting = async {
                        while let Ok((socket, _)) = listener.accept().await {
                            let current = *mode.lock().unwrap();
                            tokio::spawn(serve(socket, current, received.clone()));
                        }
                    };
                    tokio::select! {
                        () = accepting => {}
                        _ = stopped => {}
                    }
                });
            }
        });
        let port = tokio::task::spawn_blocking(move || bound_rx.recv().expect("the sink starts"))
            .await
            .expect("the sink starts");
        Self {
            port,
            received,
            mode,
            stop: Some(stop),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_mode(&self, mode: SinkMode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to `within`) until at least `n` mails arrived, and returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve(socket: TcpStream, mode: SinkMode, received: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = socket.into_split();
    match mode {
        SinkMode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        SinkMode::Refuse => {
            let _ = write.write_all(b"421 4.3.2 try again later\r\n").await;
            return;
        }
        SinkMode::Accept | SinkMode::Reject => {}
    }
    let mut lines = BufReader::new(read).lines();
    let reply = async |w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str| {
        w.write_all(text.as_bytes()).await.is_ok()
    };
    if !reply(&mut write, "220 sink ESMTP\r\n").await {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            "250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().trim_matches(['<', '>']).to_owned();
            to.clear();
            "250 ok\r\n".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            if mode == SinkMode::Reject {
                "550 5.1.1 no such mailbox\r\n".to_owned()
            } else {
                to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                "250 ok\r\n".to_owned()
            }
        } else if upper == "DATA" {
            if !reply(&mut write, "354 go ahead\r\n").await {
                return;
            }
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                let line = line
                    .strip_prefix('.')
                    .filter(|_| line.starts_with(".."))
                    .unwrap_or(&line);
                data.push_str(line);
                data.push_str("\r\n");
            }
            received.lock().unwrap().push(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            "250 queued\r\n".to_owned()
        } else if upper == "QUIT" {
            let _ = reply(&mut write, "221 bye\r\n").await;
            return;
        } else if upper == "RSET" || upper == "NOOP" {
            "250 ok\r\n".to_owned()
        } else {
            "500 unknown command\r\n".to_owned()
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

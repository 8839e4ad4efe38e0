//! One virtual user of the HTTP API: its own session cookie, and one method per call the
//! scenarios make (login, join, post, the two long polls, the event stream, logout).
//!
//! The cookie is kept by hand rather than by a cookie jar because many users share one awc
//! `Client` (and its connection pool) per worker thread: each request carries its user's
//! `Cookie: chatty=…` header.

use std::fmt;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use awc::Client;
use awc::http::header::{COOKIE as COOKIE_HEADER, HeaderValue};
use awc::http::{Method, Uri};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The session cookie's name (api.md §1).
const COOKIE: &str = "chatty";

/// Long enough for the server's 30 s long polls plus a slow moment under load.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);

/// Larger than any response the scenarios ask for (getLastMessages, a poll batch).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Why a call failed. A non-200 answer is kept apart from a transport failure because the
/// request scenario counts the former per request kind.
#[derive(Debug, Clone)]
pub enum Error {
    /// The server answered, with another status than 200.
    Status {
        what: &'static str,
        status: u16,
        body: String,
    },
    /// No answer: connect, send, timeout or body errors.
    Http { what: &'static str, message: String },
    /// Anything else (an unexpected body, a scenario that could not proceed).
    Other(String),
}

impl Error {
    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { what, status, body } => {
                let body: String = body.chars().take(200).collect();
                write!(f, "{what}: HTTP {status} {body}")
            }
            Self::Http { what, message } => {
                write!(f, "{what}: {message}")?;
                if message.contains("os error 24") || message.contains("Too many open files") {
                    write!(
                        f,
                        " (out of file descriptors: lower --idle-clients or --clients, or raise \
                         `ulimit -n`)"
                    )?;
                }
                Ok(())
            }
            Self::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::Other(message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The instant every time stamp of the run is measured from, shared by all threads.
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the run's epoch: comparable across worker threads.
pub fn now_us() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// An awc client for one worker thread: a connection limit far above the number of
/// simultaneous long polls (awc's default of 100 would queue them), timeouts longer than a
/// long poll.
pub fn new_client() -> Client {
    let connector = awc::Connector::new()
        .limit(20_000)
        .timeout(Duration::from_secs(15))
        // Well below the servers' idle keep-alive (actix: 5 s), so that a pooled connection is
        // never reused just as the server closes it: the age is checked when the connection
        // is taken, and a busy bench thread on a slow machine has written its request more
        // than 2 s later (joinChat: connection reset by peer, in the 10,000-client set-up).
        .conn_keep_alive(Duration::from_secs(1))
        .conn_lifetime(Duration::from_secs(3600));
    Client::builder()
        .connector(connector)
        .timeout(REQUEST_TIMEOUT)
        .disable_redirects()
        .finish()
}

/// A successful (200) answer.
pub struct Reply {
    pub body: Vec<u8>,
    /// `Chatty-Event-Id` of snapshot responses (api.md §3).
    pub event_id: Option<u64>,
}

/// One poll envelope: `{"event":{...},"type":"MessageEvent","id":N}`, reduced to what the
/// scenarios read: its id, its type and, for a message, the message's chat, id and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub id: Option<u64>,
    pub kind: String,
    message: Option<Posted>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Posted {
    chat: String,
    id: u64,
    text: String,
}

/// An envelope as serde reads it straight from the JSON text, skipping the fields nobody
/// reads: the receivers parse 100,000s of envelopes per second, and a `Value` tree per
/// envelope made the load generator cost as much CPU as the server it measures.
#[derive(serde::Deserialize)]
struct WireEnvelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<u64>,
    #[serde(default)]
    event: WireEvent,
}

#[derive(serde::Deserialize, Default)]
struct WireEvent {
    chat: Option<String>,
    id: Option<u64>,
    text: Option<String>,
}

impl From<WireEnvelope> for Envelope {
    fn from(wire: WireEnvelope) -> Self {
        let event = wire.event;
        let message = match (wire.kind.as_str(), event.chat, event.id, event.text) {
            ("MessageEvent", Some(chat), Some(id), Some(text)) => Some(Posted { chat, id, text }),
            _ => None,
        };
        Self {
            id: wire.id,
            kind: wire.kind,
            message,
        }
    }
}

impl Envelope {
    pub fn parse(value: Value) -> Result<Self> {
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::other(format!("an envelope without type: {value}")))?
            .to_owned();
        let event = value.get("event");
        let field = |name: &str| event.and_then(|e| e.get(name));
        let message = match (
            kind.as_str(),
            field("chat").and_then(Value::as_str),
            field("id").and_then(Value::as_u64),
            field("text").and_then(Value::as_str),
        ) {
            ("MessageEvent", Some(chat), Some(id), Some(text)) => Some(Posted {
                chat: chat.to_owned(),
                id,
                text: text.to_owned(),
            }),
            _ => None,
        };
        Ok(Self {
            id: value.get("id").and_then(Value::as_u64),
            kind,
            message,
        })
    }

    /// One envelope from its JSON text: the typed fast path, or through a `Value` for an
    /// envelope whose fields have other types than chatty's (another server of the API).
    pub fn from_json(text: &str) -> Result<Self> {
        match serde_json::from_str::<WireEnvelope>(text) {
            Ok(wire) => Ok(wire.into()),
            Err(_) => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| Error::other(format!("not JSON: {e}")))?;
                Self::parse(value)
            }
        }
    }

    /// The message id and text if this is a `MessageEvent` of `chat`.
    pub fn message_in(&self, chat: &str) -> Option<(u64, &str)> {
        let message = self.message.as_ref().filter(|m| m.chat == chat)?;
        Some((message.id, &message.text))
    }
}

/// A virtual user: a name, a cookie once logged in, and the thread's shared client.
pub struct User {
    client: Rc<Client>,
    base: Rc<str>,
    pub name: String,
    /// `Cookie: chatty=…` as sent, built when the cookie changes rather than per request.
    cookie_header: Option<HeaderValue>,
    /// The compatible poll's URL, parsed once: a receiver sends it once per event.
    poll_url: Option<Uri>,
}

impl User {
    pub fn new(client: Rc<Client>, base: Rc<str>, name: String) -> Self {
        Self {
            client,
            base,
            name,
            cookie_header: None,
            poll_url: None,
        }
    }

    /// A cookie value that cannot be sent back counts as none (login then says so).
    fn set_cookie(&mut self, cookie: Option<String>) {
        self.cookie_header =
            cookie.and_then(|c| HeaderValue::try_from(format!("{COOKIE}={c}")).ok());
    }

    fn url(&self, what: &str, path: &str) -> Result<Uri> {
        Uri::try_from(format!("{}{path}", self.base))
            .map_err(|e| Error::other(format!("{what}: bad URL: {e}")))
    }

    /// One request; a 200 answer or an error. Every `Set-Cookie: chatty=` updates the cookie.
    async fn call(
        &mut self,
        what: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply> {
        let url = self.url(what, path)?;
        self.call_url(what, method, url, body).await
    }

    async fn call_url(
        &mut self,
        what: &'static str,
        method: Method,
        url: Uri,
        body: Option<Value>,
    ) -> Result<Reply> {
        let mut request = self.client.request(method, url).timeout(REQUEST_TIMEOUT);
        if let Some(cookie) = &self.cookie_header {
            request = request.insert_header((COOKIE_HEADER, cookie.clone()));
        }
        let sent = match body {
            Some(body) => {
                request
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(body.to_string())
                    .await
            }
            None => request.send().await,
        };
        let mut response = sent.map_err(|e| Error::Http {
            what,
            message: e.to_string(),
        })?;
        for value in response.headers().get_all("set-cookie") {
            if let Some(update) = value.to_str().ok().and_then(session_cookie) {
                self.set_cookie(update);
            }
        }
        let event_id = response
            .headers()
            .get("chatty-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let status = response.status().as_u16();
        let body = response
            .body()
            .limit(BODY_LIMIT)
            .await
            .map_err(|e| Error::Http {
                what,
                message: format!("reading the body: {e}"),
            })?
            .to_vec();
        if status != 200 {
            return Err(Error::Status {
                what,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(Reply { body, event_id })
    }

    /// `POST /api/login {"user":NAME}`: a guest login; the answer must set the cookie.
    pub async fn login(&mut self) -> Result<()> {
        let body = json!({ "user": self.name });
        self.call("login", Method::POST, "/api/login", Some(body))
            .await?;
        if self.cookie_header.is_none() {
            return Err(Error::other("login: 200 but no `chatty` cookie"));
        }
        Ok(())
    }

    /// `POST /api/loggedonly/joinChat`; the snapshot's `Chatty-Event-Id`.
    pub async fn join(&mut self, chat: &str) -> Result<Option<u64>> {
        let body = json!({ "chat": chat });
        let reply = self
            .call(
                "joinChat",
                Method::POST,
                "/api/loggedonly/joinChat",
                Some(body),
            )
            .await?;
        Ok(reply.event_id)
    }

    /// `PUT /api/loggedonly/keepalive`: the session counts as active.
    pub async fn keepalive(&mut self) -> Result<()> {
        self.call("keepalive", Method::PUT, "/api/loggedonly/keepalive", None)
            .await
            .map(drop)
    }

    /// `POST /api/loggedonly/postMessage`; the stored message's id.
    pub async fn post(&mut self, chat: &str, text: &str) -> Result<u64> {
        let body = json!({ "chat": chat, "text": text });
        let reply = self
            .call(
                "postMessage",
                Method::POST,
                "/api/loggedonly/postMessage",
                Some(body),
            )
            .await?;
        let message: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| Error::other(format!("postMessage: not JSON: {e}")))?;
        message
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::other(format!("postMessage: no id in {message}")))
    }

    /// `GET /api/loggedonly/getChats`: its `Chatty-Event-Id` (a cursor with no gap).
    pub async fn get_chats(&mut self) -> Result<u64> {
        let reply = self
            .call("getChats", Method::GET, "/api/loggedonly/getChats", None)
            .await?;
        reply
            .event_id
            .ok_or_else(|| Error::other("getChats: no Chatty-Event-Id header"))
    }

    /// `POST /api/loggedonly/getLastMessages`.
    pub async fn get_last_messages(&mut self, chat: &str) -> Result<()> {
        let body = json!({ "chat": chat });
        self.call(
            "getLastMessages",
            Method::POST,
            "/api/loggedonly/getLastMessages",
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `POST /api/loggedonly/logout`.
    pub async fn logout(&mut self) -> Result<()> {
        self.call("logout", Method::POST, "/api/loggedonly/logout", None)
            .await?;
        self.set_cookie(None);
        Ok(())
    }

    /// The compatible long poll (no query): one envelope, or `None` on the server's timeout.
    pub async fn poll(&mut self) -> Result<Option<Envelope>> {
        let url = match &self.poll_url {
            Some(url) => url.clone(),
            None => {
                let url = self.url("poll", "/api/loggedonly/poll")?;
                self.poll_url.insert(url).clone()
            }
        };
        let reply = self.call_url("poll", Method::GET, url, None).await?;
        parse_one(&reply.body)
    }

    /// The long poll with the `limit` extension: up to `limit` envelopes of the server-side
    /// cursor in one answer. A server without the extension answers one envelope as the plain
    /// poll does, which is read as a batch of one.
    pub async fn poll_batch(&mut self, limit: usize) -> Result<Vec<Envelope>> {
        let path = format!("/api/loggedonly/poll?limit={limit}");
        let reply = self.call("poll", Method::GET, &path, None).await?;
        parse_many(&reply.body)
    }

    /// The extension's long poll with a client-held cursor: the next envelope after `after`.
    pub async fn poll_after(&mut self, after: u64) -> Result<Option<Envelope>> {
        let path = format!("/api/loggedonly/poll?after={after}");
        let reply = self.call("poll", Method::GET, &path, None).await?;
        parse_one(&reply.body)
    }

    /// Opens `GET /api/loggedonly/events[?after=ID]`, the Server-Sent Events stream.
    pub async fn events(&mut self, after: Option<u64>) -> Result<EventStream> {
        let what = "events";
        let path = match after {
            Some(after) => format!("{}/api/loggedonly/events?after={after}", self.base),
            None => format!("{}/api/loggedonly/events", self.base),
        };
        let mut request = self.client.get(path).timeout(REQUEST_TIMEOUT);
        if let Some(cookie) = &self.cookie_header {
            request = request.insert_header((COOKIE_HEADER, cookie.clone()));
        }
        let mut response = request.send().await.map_err(|e| Error::Http {
            what,
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response
                .body()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            return Err(Error::Status {
                what,
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(EventStream {
            response,
            parser: SseParser::default(),
            ready: std::collections::VecDeque::new(),
        })
    }
}

/// A poll body: empty on timeout, else one envelope.
fn parse_one(body: &[u8]) -> Result<Option<Envelope>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    std::str::from_utf8(body)
        .map_err(|e| Error::other(format!("poll: not UTF-8: {e}")))
        .and_then(Envelope::from_json)
        .map(Some)
        .map_err(|e| Error::other(format!("poll: {e}")))
}

/// An array of envelopes, one envelope, or nothing.
fn parse_many(body: &[u8]) -> Result<Vec<Envelope>> {
    match poll_body(body)? {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items.into_iter().map(Envelope::parse).collect(),
        Some(one) => Envelope::parse(one).map(|e| vec![e]),
    }
}

/// A poll answer's JSON, or `None` for the empty answer of a poll that timed out.
fn poll_body(body: &[u8]) -> Result<Option<Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| Error::other(format!("poll: not JSON: {e}")))
}

/// The new value of the session cookie if this `Set-Cookie` is about it: `Some(None)` when it
/// clears the cookie (logout), `None` when it is another cookie.
fn session_cookie(set_cookie: &str) -> Option<Option<String>> {
    let pair = set_cookie.split(';').next()?.trim();
    let value = pair.strip_prefix(COOKIE)?.strip_prefix('=')?;
    let cleared = value.is_empty()
        || set_cookie
            .to_ascii_lowercase()
            .split(';')
            .any(|attr| attr.trim() == "max-age=0");
    Some(if cleared {
        None
    } else {
        Some(value.to_owned())
    })
}

/// An open event stream: parses chunks into events as they come.
pub struct EventStream {
    response: awc::ClientResponse,
    parser: SseParser,
    ready: std::collections::VecDeque<SseEvent>,
}

impl EventStream {
    /// The next event; `None` when the server ends the stream.
    pub async fn next(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.response.next().await {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(Error::Http {
                        what: "events",
                        message: e.to_string(),
                    });
                }
                Some(Ok(chunk)) => self.ready.extend(self.parser.feed(&chunk)),
            }
        }
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// The poll envelope in `data:`.
    pub fn envelope(&self) -> Result<Envelope> {
        Envelope::from_json(&self.data).map_err(|e| Error::other(format!("events: data: {e}")))
    }
}

/// The `text/event-stream` format (WHATWG HTML §9.2): lines end in LF, CRLF or CR; a blank
/// line dispatches the event; `:` starts a comment (the server's heartbeats); `data:` lines
/// are joined with LF; one space after the colon is dropped. Chunks may split anywhere.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    /// Comment lines seen (heartbeats).
    pub comments: u64,
}

impl SseParser {
    /// Feeds one chunk; the events it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            // The LF of a CRLF split across chunks.
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
            self.after_cr = false;
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            if self.line.is_empty() {
                self.line_done(&rest[..end], &mut out);
            } else {
                self.line.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.line);
                self.line_done(&line, &mut out);
            }
            let cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        out
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let line = match std::str::from_utf8(line) {
            Ok(valid) => std::borrow::Cow::Borrowed(valid),
            Err(_) => String::from_utf8_lossy(line),
        };
        if line.is_empty() {
            let (id, event) = (self.id.take(), self.event.take());
            if let Some(data) = self.data.take() {
                out.push(SseEvent { id, event, data });
            }
            return;
        }
        if line.starts_with(':') {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" => self.id = Some(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            _ => {} // `retry:` and unknown fields
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, data: &str) -> SseEvent {
        SseEvent {
            id: Some(id.into()),
            event: Some(kind.into()),
            data: data.into(),
        }
    }

    #[test]
    fn sse_events_split_across_chunks_and_heartbeats() {
        let mut p = SseParser::default();
        assert!(p.feed(b"retry: 2000\n\n").is_empty());
        assert!(p.feed(b"id: 7\nevent: MessageEv").is_empty());
        assert!(p.feed(b"ent\ndata: {\"a\":1}\n").is_empty());
        let got = p.feed(b"\n: keep-alive\n\nid: 8\nevent: X\ndata:x\n\n");
        assert_eq!(
            got,
            vec![
                event("7", "MessageEvent", "{\"a\":1}"),
                event("8", "X", "x")
            ]
        );
        assert_eq!(p.comments, 1);
    }

    #[test]
    fn sse_crlf_multiline_data_and_no_data() {
        let mut p = SseParser::default();
        // CR and LF in different chunks count as one line end.
        assert!(p.feed(b"id: 1\r").is_empty());
        let got = p.feed(b"\ndata: a\r\ndata: b\r\n\r\nevent: empty\n\n");
        assert_eq!(
            got,
            vec![SseEvent {
                id: Some("1".into()),
                event: None,
                data: "a\nb".into()
            }]
        );
    }

    #[test]
    fn cookies_are_read_and_cleared() {
        assert_eq!(
            session_cookie("chatty=abc%2F; Path=/; HttpOnly; Max-Age=86400"),
            Some(Some("abc%2F".into()))
        );
        assert_eq!(session_cookie("chatty=; Path=/; Max-Age=0"), Some(None));
        assert_eq!(session_cookie("chattyx=1"), None);
        assert_eq!(session_cookie("other=1; Path=/"), None);
    }

    #[test]
    fn message_events_of_the_chat_only() {
        let v = json!({"type":"MessageEvent","id":5,"event":{"chat":"Main","id":3,"text":"hi"}});
        let e = Envelope::parse(v).unwrap();
        assert_eq!(e.message_in("Main"), Some((3, "hi")));
        assert_eq!(e.message_in("Other"), None);
        let v = json!({"type":"LoginEvent","id":6,"event":{"user":"a","Time":1}});
        assert_eq!(Envelope::parse(v).unwrap().message_in("Main"), None);
        assert!(parse_one(b"").unwrap().is_none());
    }

    #[test]
    fn typed_and_value_parsing_agree() {
        for text in [
            r#"{"type":"MessageEvent","id":5,"event":{"user":"a","chat":"Main","id":3,"text":"h\u00e9 \"x\"","time":"t"}}"#,
            r#"{"event":{"user":"a","chat":"","Time":"t"},"type":"LoginEvent","id":6}"#,
            r#"{"type":"ResyncEvent","id":9}"#,
            r#"{"type":"LoginEvent"}"#,
            // Another server's envelope with a differently typed field takes the slow path.
            r#"{"type":"MessageEvent","event":{"chat":"Main","id":"3","text":"x"}}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                Envelope::from_json(text).unwrap(),
                Envelope::parse(value).unwrap(),
                "{text}"
            );
        }
        let e = parse_one(
            br#"{"type":"MessageEvent","id":5,"event":{"chat":"Main","id":3,"text":"h\u00e9"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (e.id, e.message_in("Main")),
            (Some(5), Some((3, "h\u{e9}")))
        );
        assert!(Envelope::from_json(r#"{"id":1}"#).is_err());
        assert!(parse_one(b"{").is_err());
    }

    #[test]
    fn sse_line_ends_of_every_kind_and_split_crlf() {
        let mut p = SseParser::default();
        assert!(p.feed(b"id: 1\r").is_empty());
        let got = p.feed(b"\ndata: a\r\rid: 2\rdata: b\n\ndata: c\r");
        let plain = |id: Option<&str>, data: &str| SseEvent {
            id: id.map(Into::into),
            event: None,
            data: data.into(),
        };
        assert_eq!(got, vec![plain(Some("1"), "a"), plain(Some("2"), "b")]);
        // A CR at a chunk's end followed by another CR: a blank line, not a CRLF.
        assert_eq!(p.feed(b"\r"), vec![plain(None, "c")]);
    }
}

//! Settings, in layers (lowest priority first): built-in defaults, the TOML file (the original
//! server's `config.toml` loads unchanged, keys matched case-insensitively as Go's TOML library
//! did), `CHATTY_<KEY>` environment variables, the original's bare `PORT`, `DATABASE_URL`,
//! `SECRET_KEY`, `SENDGRID_KEY`, and the flags.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chatty_domain::{ChatName, UserName};
use config::{FileFormat, Value, ValueKind};

use crate::cli::Cli;
use crate::duration::parse_go_duration;

/// A secret from the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration problem, as one line naming the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The server's settings. Keys in parentheses are those of `config.toml`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-dev`, or no `DATABASE_URL`: in-memory store, mail written to the log.
    pub dev: bool,
    /// Address to listen on (`ServerListenAddress`, default `:$PORT`, `:8080`).
    pub listen: String,
    /// Period of the inactivity sweep (`CleanInactiveUsersInterval`, 60s).
    pub clean_inactive_users_interval: Duration,
    /// Sessions idle longer than this end (`InactivityTimeout`, 60s).
    pub inactivity_timeout: Duration,
    /// `Max-Age` of the session cookie (`CookieMaxAge`, seconds, 604800).
    pub cookie_max_age: Duration,
    /// Time allowed to receive a request's head (`RequestTimeout`, 15s).
    pub request_timeout: Duration,
    /// How long an idle HTTP/1.1 connection is kept open for the next request
    /// (`KeepAliveTimeout`, 5s). Behind a proxy that keeps connections to chatty open, it must
    /// be longer than the proxy's own idle timeout, or the proxy may send a request on a
    /// connection chatty is closing.
    pub keep_alive: Duration,
    /// A long poll answers within this (`ResponseTimeout`, 30s; it waits 1 s less).
    pub response_timeout: Duration,
    /// Chats created at start-up (`Chats`, `["Main"]`).
    pub chats: Vec<ChatName>,
    /// Messages in chat reports (`LastMessages`, 50).
    pub last_messages: usize,
    /// Users who are admins once registered and verified (`Admins`).
    pub admins: Vec<UserName>,
    /// Origins that get CORS headers (`AllowedOrigins`; in dev mode, empty means any).
    pub allowed_origins: Vec<String>,
    /// Absolute base address used in mailed links (`PublicUrl`); without it,
    /// `http://localhost:<the port bound>`.
    pub public_url: Option<String>,
    /// Directory of the web client (`StaticDir`, `./static`).
    pub static_dir: PathBuf,
    /// bcrypt cost (`BcryptCost`, 12).
    pub bcrypt_cost: u32,
    /// Events older than this are dropped (`EventRetention`, 10m).
    pub event_retention: Duration,
    /// Events kept in the log (`EventRetentionCount`, 10000).
    pub event_retention_count: usize,
    /// Activation links work this long (`ActivationTokenTtl`, 48h).
    pub activation_token_ttl: Duration,
    /// Reset tokens work this long (`ResetTokenTtl`, 1h).
    pub reset_token_ttl: Duration,
    /// Largest request body (`MaxBodyBytes`, 65536).
    pub max_body_bytes: usize,
    /// Longest message (`MaxMessageChars`, 4000).
    pub max_message_chars: usize,
    /// `Secure` cookie attribute (`CookieSecure`, default on outside dev mode).
    pub cookie_secure: bool,
    /// The web client's password-reset form, linked from reset mails (`ResetFormUrl`).
    pub reset_form_url: Option<String>,
    /// How mail leaves: written to the log, or sent over SMTP (`MailTransport`, `log` in dev
    /// mode, `smtp` otherwise).
    pub mail_transport: MailTransport,
    /// SMTP server (`SmtpHost`, `smtp.sendgrid.net`).
    pub smtp_host: String,
    /// SMTP port (`SmtpPort`, 587).
    pub smtp_port: u16,
    /// `starttls` (required STARTTLS), `tls` (implicit TLS) or `none` (`SmtpTls`, `starttls`).
    pub smtp_tls: SmtpTls,
    /// SMTP user (`SmtpUser`, `apikey` as SendGrid wants); empty for no authentication. The
    /// password is `SENDGRID_KEY`.
    pub smtp_user: String,
    /// Longest one delivery attempt may take (`SmtpTimeout`, 30s).
    pub smtp_timeout: Duration,
    /// Sender address (`MailFrom`), required to send mail.
    pub mail_from: Option<String>,
    /// Sender name (`MailFromName`, `chatty`).
    pub mail_from_name: String,
    pub database_url: Option<Secret>,
    pub secret_key: Option<Secret>,
    pub sendgrid_key: Option<Secret>,
}

/// How mail leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTransport {
    /// Logged at info level (`activation link: …`), never sent: dev mode.
    Log,
    Smtp,
}

/// Transport security of the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

/// Every key of `config.toml`, as the original server named them.
const KEYS: &[&str] = &[
    "ServerListenAddress",
    "CleanInactiveUsersInterval",
    "InactivityTimeout",
    "CookieMaxAge",
    "RequestTimeout",
    "ResponseTimeout",
    "KeepAliveTimeout",
    "Chats",
    "LastMessages",
    "Admins",
    "AllowedOrigins",
    "PublicUrl",
    "StaticDir",
    "BcryptCost",
    "EventRetention",
    "EventRetentionCount",
    "ActivationTokenTtl",
    "ResetTokenTtl",
    "MaxBodyBytes",
    "MaxMessageChars",
    "CookieSecure",
    "ResetFormUrl",
    "DatabaseUrl",
    "MailTransport",
    "SmtpHost",
    "SmtpPort",
    "SmtpTls",
    "SmtpUser",
    "SmtpTimeout",
    "MailFrom",
    "MailFromName",
];

/// `LastMessages` → `CHATTY_LAST_MESSAGES`.
pub fn env_name(key: &str) -> String {
    let mut name = String::from("CHATTY_");
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// A value and where it came from, for error messages.
struct Sourced {
    value: Value,
    source: String,
}

/// The layered raw values, by canonical key.
struct Layers(BTreeMap<&'static str, Sourced>);

impl Layers {
    fn fail(&self, key: &str, problem: impl fmt::Display) -> ConfigError {
        match self.0.get(key) {
            Some(s) => ConfigError(format!("{}: {key}: {problem}", s.source)),
            None => ConfigError(format!("{key}: {problem}")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(s) => match &s.value.kind {
                ValueKind::String(text) => Ok(Some(text.clone())),
                other => Err(self.fail(key, format!("expected a string, got {}", shown(other)))),
            },
        }
    }

    fn duration(&self, key: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.0.get(key).map(|s| &s.value.kind) {
            None => Ok(default),
            Some(ValueKind::String(text)) => parse_go_duration(text).map_err(|e| self.fail(key, e)),
            Some(other) => Err(self.fail(
                key,
                format!(
                    "expected a duration string such as \"60s\" or \"1m30s\", got {}",
                    shown(other)
                ),
            )),
        }
    }

    fn integer(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let value = match self.0.get(key) {
            None => return Ok(default),
            Some(s) => match &s.value.kind {
                ValueKind::I64(n) => u64::try_from(*n).ok(),
                ValueKind::U64(n) => Some(*n),
                ValueKind::I128(n) => u64::try_from(*n).ok(),
                ValueKind::U128(n) => u64::try_from(*n).ok(),
                ValueKind::String(text) => text.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                self.fail(
                    key,
                    format!(
                        "expected a non-negative integer, got {}",
                        shown(&s.value.kind)
                    ),
                )
            })?,
        };
        if value < min || value > max {
            return Err(self.fail(key, format!("must be between {min} and {max}, got {value}")));
        }
        Ok(value)
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.0.get(key) {
            None => Ok(default),
            Some(s) => match &s.value.kind {
                ValueKind::Boolean(b) => Ok(*b),
                ValueKind::String(text) => match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(true),
                    "false" | "0" | "no" => Ok(false),
                    _ => Err(self.fail(key, format!("expected true or false, got {text:?}"))),
                },
                other => {
                    Err(self.fail(key, format!("expected true or false, got {}", shown(other))))
                }
            },
        }
    }

    fn list(&self, key: &str, default: &[&str]) -> Result<Vec<String>, ConfigError> {
        match self.0.get(key) {
            None => Ok(default.iter().map(|s| (*s).to_owned()).collect()),
            Some(s) => match &s.value.kind {
                ValueKind::Array(items) => items
                    .iter()
                    .map(|item| match &item.kind {
                        ValueKind::String(text) => Ok(text.clone()),
                        other => Err(self.fail(
                            key,
                            format!("expected a list of strings, got an item {}", shown(other)),
                        )),
                    })
                    .collect(),
                // From the environment: comma-separated.
                ValueKind::String(text) => Ok(text
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(ToOwned::to_owned)
                    .collect()),
                other => Err(self.fail(
                    key,
                    format!("expected a list of strings, got {}", shown(other)),
                )),
            },
        }
    }
}

/// A raw value for an error message: strings quoted, tables summarised.
fn shown(kind: &ValueKind) -> String {
    match kind {
        ValueKind::String(text) => format!("{text:?}"),
        ValueKind::Table(_) => "a table".to_owned(),
        ValueKind::Array(_) => "a list".to_owned(),
        other => other.to_string(),
    }
}

fn string_value(text: &str) -> Value {
    Value::new(None, ValueKind::String(text.to_owned()))
}

impl Settings {
    /// Loads the layers. Returns the settings and warnings to log once logging is up.
    ///
    /// # Errors
    /// An unreadable or malformed file, a bad value; the message names key and source.
    pub fn load(
        cli: &Cli,
        env: &HashMap<String, String>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let mut layers = Layers(BTreeMap::new());
        let file_label = cli.config.display().to_string();

        match std::fs::read_to_string(&cli.config) {
            Ok(text) => {
                let table = config::Config::builder()
                    .add_source(config::File::from_str(&text, FileFormat::Toml))
                    .build()
                    .and_then(config::Config::try_deserialize::<config::Map<String, Value>>)
                    .map_err(|e| {
                        ConfigError(format!("{file_label}: {}", one_line(&e.to_string())))
                    })?;
                // The original's TOML library matched keys case-insensitively.
                let mut spellings: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
                for (key, value) in table {
                    match KEYS.iter().find(|k| k.eq_ignore_ascii_case(&key)) {
                        Some(canonical) => {
                            spellings.entry(canonical).or_default().push(key);
                            layers.0.insert(
                                canonical,
                                Sourced {
                                    value,
                                    source: file_label.clone(),
                                },
                            );
                        }
                        None => {
                            warnings.push(format!("unknown key {key:?} in {file_label} ignored"));
                        }
                    }
                }
                if let Some((canonical, mut keys)) =
                    spellings.into_iter().find(|(_, keys)| keys.len() > 1)
                {
                    keys.sort();
                    return Err(ConfigError(format!(
                        "{file_label}: {canonical}: set more than once (as {}); keys are \
                         matched ignoring case",
                        keys.iter()
                            .map(|k| format!("{k:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warnings.push(format!("{file_label} not found: using the defaults"));
            }
            Err(e) => return Err(ConfigError(format!("cannot read {file_label}: {e}"))),
        }
        warnings.sort();

        for key in KEYS {
            let name = env_name(key);
            if let Some(text) = env.get(&name).filter(|v| !v.is_empty()) {
                layers.0.insert(
                    key,
                    Sourced {
                        value: string_value(text),
                        source: name,
                    },
                );
            }
        }
        if let Some(url) = env.get("DATABASE_URL").filter(|v| !v.is_empty()) {
            layers.0.insert(
                "DatabaseUrl",
                Sourced {
                    value: string_value(url),
                    source: "DATABASE_URL".into(),
                },
            );
        }
        let secret = |name: &str| {
            env.get(name)
                .filter(|v| !v.is_empty())
                .map(|v| Secret(v.clone()))
        };

        let port = match env.get("PORT").filter(|v| !v.is_empty()) {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| ConfigError(format!("PORT: expected a port number, got {port:?}")))?,
            None => 8080,
        };
        let listen = match layers.string("ServerListenAddress")? {
            Some(address) => {
                normalise_listen(&address).map_err(|e| layers.fail("ServerListenAddress", e))?
            }
            None => format!("0.0.0.0:{port}"),
        };

        let database_url = layers.string("DatabaseUrl")?.map(Secret);
        let dev = cli.dev || database_url.is_none();

        let chats = layers
            .list("Chats", &["Main"])?
            .iter()
            .map(|name| {
                ChatName::parse(name).map_err(|e| {
                    layers.fail("Chats", format!("{name:?} is not a valid chat name: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let admins = layers
            .list("Admins", &[])?
            .iter()
            .map(|name| {
                UserName::parse(name).map_err(|e| {
                    layers.fail("Admins", format!("{name:?} is not a valid user name: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let public_url = layers.string("PublicUrl")?;
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(layers.fail(
                "PublicUrl",
                format!("must start with http:// or https://, got {url:?}"),
            ));
        }
        let response_timeout = layers.duration("ResponseTimeout", Duration::from_secs(30))?;
        if response_timeout < Duration::from_secs(2) {
            return Err(layers.fail(
                "ResponseTimeout",
                "must be at least 2s (a long poll waits 1 s less)",
            ));
        }
        let usize_of =
            |key: &str, default: u64, min: u64, max: u64| -> Result<usize, ConfigError> {
                let n = layers.integer(key, default, min, max)?;
                usize::try_from(n).map_err(|_| layers.fail(key, "too large"))
            };

        let settings = Settings {
            dev,
            listen,
            clean_inactive_users_interval: nonzero(
                &layers,
                "CleanInactiveUsersInterval",
                Duration::from_secs(60),
            )?,
            inactivity_timeout: layers.duration("InactivityTimeout", Duration::from_secs(60))?,
            cookie_max_age: Duration::from_secs(layers.integer(
                "CookieMaxAge",
                604_800,
                1,
                10 * 365 * 86_400,
            )?),
            request_timeout: nonzero(&layers, "RequestTimeout", Duration::from_secs(15))?,
            keep_alive: nonzero(&layers, "KeepAliveTimeout", Duration::from_secs(5))?,
            response_timeout,
            chats,
            last_messages: usize_of("LastMessages", 50, 0, 10_000)?,
            admins,
            allowed_origins: layers.list("AllowedOrigins", &[])?,
            public_url: public_url.map(|url| url.trim_end_matches('/').to_owned()),
            static_dir: PathBuf::from(
                layers
                    .string("StaticDir")?
                    .unwrap_or_else(|| "./static".into()),
            ),
            bcrypt_cost: u32::try_from(layers.integer("BcryptCost", 12, 4, 31)?).unwrap_or(12),
            event_retention: nonzero(&layers, "EventRetention", Duration::from_secs(600))?,
            event_retention_count: usize_of("EventRetentionCount", 10_000, 1, 10_000_000)?,
            activation_token_ttl: nonzero(
                &layers,
                "ActivationTokenTtl",
                Duration::from_secs(48 * 3600),
            )?,
            reset_token_ttl: nonzero(&layers, "ResetTokenTtl", Duration::from_secs(3600))?,
            max_body_bytes: usize_of("MaxBodyBytes", 65_536, 1024, 64 * 1024 * 1024)?,
            max_message_chars: usize_of("MaxMessageChars", 4000, 1, 1_000_000)?,
            cookie_secure: layers.boolean("CookieSecure", !dev)?,
            reset_form_url: layers.string("ResetFormUrl")?.filter(|u| !u.is_empty()),
            mail_transport: match layers.string("MailTransport")?.as_deref() {
                None => {
                    if dev {
                        MailTransport::Log
                    } else {
                        MailTransport::Smtp
                    }
                }
                Some("log") => MailTransport::Log,
                Some("smtp") => MailTransport::Smtp,
                Some(other) => {
                    return Err(layers.fail(
                        "MailTransport",
                        format!("expected log or smtp, got {other:?}"),
                    ));
                }
            },
            smtp_host: layers
                .string("SmtpHost")?
                .unwrap_or_else(|| "smtp.sendgrid.net".into()),
            smtp_port: u16::try_from(layers.integer("SmtpPort", 587, 1, 65_535)?).unwrap_or(587),
            smtp_tls: match layers.string("SmtpTls")?.as_deref() {
                None | Some("starttls") => SmtpTls::StartTls,
                Some("tls") => SmtpTls::Tls,
                Some("none") => SmtpTls::None,
                Some(other) => {
                    return Err(layers.fail(
                        "SmtpTls",
                        format!("expected starttls, tls or none, got {other:?}"),
                    ));
                }
            },
            smtp_user: layers
                .string("SmtpUser")?
                .unwrap_or_else(|| "apikey".into()),
            smtp_timeout: nonzero(&layers, "SmtpTimeout", Duration::from_secs(30))?,
            mail_from: layers.string("MailFrom")?.filter(|a| !a.is_empty()),
            mail_from_name: layers
                .string("MailFromName")?
                .unwrap_or_else(|| "chatty".into()),
            database_url,
            secret_key: secret("SECRET_KEY"),
            sendgrid_key: secret("SENDGRID_KEY"),
        };
        Ok((settings, warnings))
    }

    /// Checks what only matters when serving.
    ///
    /// # Errors
    /// A missing `SECRET_KEY` outside dev mode.
    pub fn validate_for_start(&self) -> Result<(), ConfigError> {
        let no_secret = self
            .secret_key
            .as_ref()
            .is_none_or(|key| key.expose().trim().is_empty());
        if !self.dev && no_secret {
            return Err(ConfigError(
                "SECRET_KEY must be set outside dev mode (run with -dev to use a random key)"
                    .into(),
            ));
        }
        if self.mail_transport == MailTransport::Smtp {
            if self.mail_from.is_none() {
                return Err(ConfigError(
                    "MailFrom must be set to send mail (or run with -dev to log mail instead)"
                        .into(),
                ));
            }
            if !self.smtp_user.is_empty() && self.sendgrid_key.is_none() {
                return Err(ConfigError(format!(
                    "SENDGRID_KEY must be set: it is the SMTP password of user {:?} \
                     (or run with -dev to log mail instead)",
                    self.smtp_user
                )));
            }
        }
        Ok(())
    }
}

/// A parser's multi-line report (source excerpt, caret) as one line.
fn one_line(report: &str) -> String {
    report
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with('|')
                && !l.chars().all(|c| c.is_ascii_digit() || " |^".contains(c))
        })
        .filter(|l| !l.contains(" | "))
        .collect::<Vec<_>>()
        .join("; ")
}

fn nonzero(layers: &Layers, key: &str, default: Duration) -> Result<Duration, ConfigError> {
    let d = layers.duration(key, default)?;
    if d.is_zero() {
        return Err(layers.fail(key, "must be longer than 0s"));
    }
    Ok(d)
}

/// Go's `":8080"` means every interface.
fn normalise_listen(address: &str) -> Result<String, String> {
    let address = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_owned()
    };
    // An IP address (`[::1]:80` for IPv6), or a host name and a port.
    let valid = address.parse::<SocketAddr>().is_ok()
        || address.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && port.parse::<u16>().is_ok()
        });
    if valid {
        Ok(address)
    } else {
        Err(format!("expected host:port or :port, got {address:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn cli(dev: bool, config: PathBuf) -> Cli {
        Cli {
            dev,
            config,
            log_level: None,
            command: Command::Serve,
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A TOML file under the temp directory, unique to this process and call, removed on drop.
    struct TempFile(PathBuf);
    impl TempFile {
        fn new(name: &str, contents: &str) -> Self {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "chatty-config-{}-{n}-{name}.toml",
                std::process::id()
            ));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const ORIGINAL: &str = "ServerListenAddress = \":8080\"\nCleanInactiveUsersInterval = \"60s\"\nInactivityTimeout = \"60s\"\nCookieMaxAge = 604800\nRequestTimeout = \"15s\"\nResponseTimeout = \"30s\"\nChats = [\"Main\", \"Random\"]\nLastMessages = 50\n";

    #[test]
    fn the_original_config_loads_unchanged() {
        let file = TempFile::new("original", ORIGINAL);
        let (s, warnings) = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.listen, "0.0.0.0:8080");
        assert_eq!(s.clean_inactive_users_interval, Duration::from_secs(60));
        assert_eq!(s.cookie_max_age, Duration::from_secs(604_800));
        assert_eq!(s.request_timeout, Duration::from_secs(15));
        assert_eq!(s.keep_alive, Duration::from_secs(5));
        assert_eq!(s.response_timeout, Duration::from_secs(30));
        let chats: Vec<_> = s.chats.iter().map(ChatName::as_str).collect();
        assert_eq!(chats, ["Main", "Random"]);
        assert_eq!(s.last_messages, 50);
        assert!(s.dev, "no DATABASE_URL means dev mode");
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let (s, warnings) =
            Settings::load(&cli(false, "/nonexistent/c.toml".into()), &env(&[])).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(s.listen, "0.0.0.0:8080");
        assert_eq!(s.public_url, None);
        assert_eq!(s.chats, vec![ChatName::parse("Main").unwrap()]);
        assert_eq!(
            (s.bcrypt_cost, s.max_body_bytes, s.max_message_chars),
            (12, 65_536, 4000)
        );
        assert_eq!(s.event_retention, Duration::from_secs(600));
        assert!(!s.cookie_secure, "dev mode");
    }

    #[test]
    fn keys_match_case_insensitively_and_unknown_keys_warn() {
        let file = TempFile::new(
            "case",
            "lastMessages = 7\ninactivitytimeout = \"1m30s\"\nFoo = 1\n",
        );
        let (s, warnings) = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap();
        assert_eq!(s.last_messages, 7);
        assert_eq!(s.inactivity_timeout, Duration::from_secs(90));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("\"foo\"") || warnings[0].contains("\"Foo\""),
            "{warnings:?}"
        );
    }

    #[test]
    fn environment_overrides_the_file_and_port_only_the_default() {
        let file = TempFile::new("env", "LastMessages = 7\nChats = [\"A\"]\n");
        let vars = env(&[
            ("CHATTY_LAST_MESSAGES", "9"),
            ("CHATTY_ADMINS", "root, ops"),
            ("PORT", "9000"),
        ]);
        let (s, _) = Settings::load(&cli(false, file.0.clone()), &vars).unwrap();
        assert_eq!(s.last_messages, 9);
        assert_eq!(s.admins.len(), 2);
        assert_eq!(s.listen, "0.0.0.0:9000");
        let vars = env(&[
            ("PORT", "9000"),
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:7000"),
        ]);
        let (s, _) = Settings::load(&cli(false, file.0.clone()), &vars).unwrap();
        assert_eq!(s.listen, "127.0.0.1:7000");
        assert_eq!(
            env_name("ServerListenAddress"),
            "CHATTY_SERVER_LISTEN_ADDRESS"
        );
    }

    #[test]
    fn database_url_decides_dev_mode_unless_the_flag_says_dev() {
        let vars = env(&[
            ("DATABASE_URL", "postgres://u:pw@db/chatty"),
            ("SECRET_KEY", "s3cret-key"),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert!(!s.dev && s.cookie_secure);
        assert_eq!(
            s.database_url.as_ref().unwrap().expose(),
            "postgres://u:pw@db/chatty"
        );
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("pw@db") && !printed.contains("s3cret"),
            "{printed}"
        );
        let (s, _) = Settings::load(&cli(true, "/nonexistent".into()), &vars).unwrap();
        assert!(s.dev && s.database_url.is_some());
    }

    #[test]
    fn bad_values_name_their_key_and_source() {
        let cases = [
            ("InactivityTimeout = \"abc\"\n", "InactivityTimeout"),
            ("LastMessages = \"many\"\n", "LastMessages"),
            ("Chats = [\"\"]\n", "Chats"),
            ("BcryptCost = 3\n", "BcryptCost"),
            ("ResponseTimeout = \"1s\"\n", "ResponseTimeout"),
            ("ServerListenAddress = \"nowhere\"\n", "ServerListenAddress"),
            ("PublicUrl = \"chat.example\"\n", "PublicUrl"),
            ("Chats = \n", ".toml"),
        ];
        for (contents, needle) in cases {
            let file = TempFile::new("bad", contents);
            let err = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap_err();
            assert!(err.to_string().contains(needle), "{contents:?}: {err}");
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
        let err = Settings::load(
            &cli(false, "/nonexistent".into()),
            &env(&[("CHATTY_LAST_MESSAGES", "x")]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CHATTY_LAST_MESSAGES: LastMessages"),
            "{err}"
        );
    }

    #[test]
    fn sending_mail_needs_a_sender_and_the_sendgrid_key() {
        let vars = env(&[
            ("DATABASE_URL", "postgres://db/chatty"),
            ("SECRET_KEY", "k"),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert_eq!(s.mail_transport, MailTransport::Smtp);
        assert!(
            s.validate_for_start()
                .unwrap_err()
                .to_string()
                .contains("MailFrom")
        );
        let vars = env(&[
            ("DATABASE_URL", "postgres://db/chatty"),
            ("SECRET_KEY", "k"),
            ("CHATTY_MAIL_FROM", "a@b.org"),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert!(
            s.validate_for_start()
                .unwrap_err()
                .to_string()
                .contains("SENDGRID_KEY")
        );
        let vars = env(&[
            ("DATABASE_URL", "postgres://db/chatty"),
            ("SECRET_KEY", "k"),
            ("CHATTY_MAIL_FROM", "a@b.org"),
            ("SENDGRID_KEY", "SG.secret"),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        s.validate_for_start().unwrap();
        assert_eq!(
            (s.smtp_host.as_str(), s.smtp_port, s.smtp_tls),
            ("smtp.sendgrid.net", 587, SmtpTls::StartTls)
        );
        assert!(!format!("{s:?}").contains("SG.secret"));
        let (s, _) = Settings::load(&cli(true, "/nonexistent".into()), &env(&[])).unwrap();
        assert_eq!(s.mail_transport, MailTransport::Log);
        s.validate_for_start().unwrap();
        let err = Settings::load(
            &cli(true, "/nonexistent".into()),
            &env(&[("CHATTY_SMTP_TLS", "ssl")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("SmtpTls"), "{err}");
    }

    #[test]
    fn secret_key_is_required_outside_dev_mode_only() {
        let vars = env(&[("DATABASE_URL", "postgres://db/chatty")]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert!(
            s.validate_for_start()
                .unwrap_err()
                .to_string()
                .contains("SECRET_KEY")
        );
        let (s, _) = Settings::load(&cli(true, "/nonexistent".into()), &vars).unwrap();
        s.validate_for_start().unwrap();
    }

    fn load_file(contents: &str) -> Result<(Settings, Vec<String>), ConfigError> {
        let file = TempFile::new("t", contents);
        Settings::load(&cli(false, file.0.clone()), &env(&[]))
    }

    fn load_err(contents: &str) -> String {
        let message = load_file(contents).unwrap_err().to_string();
        assert!(!message.contains('\n'), "one line: {message}");
        message
    }

    #[test]
    fn error_messages_are_precise() {
        let file = TempFile::new("precise", "InactivityTimeout = \"abc\"\n");
        let label = file.0.display().to_string();
        let err = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{label}: InactivityTimeout: invalid duration \"abc\": expected a number at \"abc\""
            )
        );
        assert!(
            load_err("LastMessages = \"many\"\n")
                .ends_with("LastMessages: expected a non-negative integer, got \"many\"")
        );
        assert!(
            load_err("LastMessages = -3\n")
                .ends_with("LastMessages: expected a non-negative integer, got -3")
        );
        assert!(
            load_err("Chats = [\"\"]\n")
                .ends_with("Chats: \"\" is not a valid chat name: chat: must not be empty")
        );
        assert!(load_err("Chats = [1]\n").contains("Chats: expected a list of strings"));
        assert!(load_err("Admins = [\" bob\"]\n").contains("Admins: \" bob\" is not a valid"));
        assert!(
            load_err("BcryptCost = 3\n").ends_with("BcryptCost: must be between 4 and 31, got 3")
        );
        assert!(load_err("BcryptCost = 32\n").contains("got 32"));
        assert!(
            load_err("InactivityTimeout = 60\n")
                .contains("InactivityTimeout: expected a duration string such as \"60s\"")
        );
        assert!(load_err("CookieSecure = \"perhaps\"\n").contains("CookieSecure: expected true"));
        assert!(load_err("EventRetentionCount = 0\n").contains("EventRetentionCount"));
        assert!(load_err("MaxBodyBytes = 1023\n").contains("MaxBodyBytes"));
        assert!(load_err("MaxMessageChars = 0\n").contains("MaxMessageChars"));
        assert!(load_err("CleanInactiveUsersInterval = \"0s\"\n").contains("longer than 0s"));
        let parse = load_err("Chats = \n");
        assert!(parse.contains("line 1"), "{parse}");
        let err = Settings::load(
            &cli(false, "/nonexistent".into()),
            &env(&[("PORT", "http")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PORT: expected a port number, got \"http\""
        );
        let err = Settings::load(
            &cli(false, "/nonexistent".into()),
            &env(&[("CHATTY_LAST_MESSAGES", "x")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "CHATTY_LAST_MESSAGES: LastMessages: expected a non-negative integer, got \"x\""
        );
    }

    #[test]
    fn a_file_that_exists_but_cannot_be_read_is_an_error() {
        let dir = std::env::temp_dir();
        let err = Settings::load(&cli(false, dir.clone()), &env(&[])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", dir.display())),
            "{err}"
        );
        let file = TempFile::new("binary", "");
        std::fs::write(&file.0, [0xff, 0xfe, 0x00]).unwrap();
        let err = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap_err();
        assert!(
            err.to_string().contains(&file.0.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_key_spelled_twice_is_ambiguous() {
        let err = load_err("LastMessages = 1\nlastmessages = 2\n");
        assert!(
            err.ends_with(
                "LastMessages: set more than once (as \"LastMessages\", \"lastmessages\"); \
                 keys are matched ignoring case"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_each_get_a_warning() {
        let file = TempFile::new("unknown", "Foo = 1\nLASTMESSAGES = 3\n[Bar]\nx = 2\n");
        let (s, warnings) = Settings::load(&cli(false, file.0.clone()), &env(&[])).unwrap();
        assert_eq!(s.last_messages, 3);
        let label = file.0.display();
        assert_eq!(
            warnings,
            [
                format!("unknown key \"Bar\" in {label} ignored"),
                format!("unknown key \"Foo\" in {label} ignored"),
            ]
        );
        let (_, warnings) =
            Settings::load(&cli(false, "/nonexistent/c.toml".into()), &env(&[])).unwrap();
        assert_eq!(
            warnings,
            ["/nonexistent/c.toml not found: using the defaults"]
        );
    }

    #[test]
    fn listen_addresses() {
        for (given, expected) in [
            (":8080", "0.0.0.0:8080"),
            (":0", "0.0.0.0:0"),
            ("127.0.0.1:9000", "127.0.0.1:9000"),
            ("localhost:8080", "localhost:8080"),
            ("[::1]:8080", "[::1]:8080"),
            ("chat-1.example.org:80", "chat-1.example.org:80"),
        ] {
            let (s, _) = load_file(&format!("ServerListenAddress = {given:?}\n")).unwrap();
            assert_eq!(s.listen, expected);
        }
        for bad in [
            "8080", ":", ":99999", "host:", "::1:8080", " :8080", "a b:80",
        ] {
            let err = load_err(&format!("ServerListenAddress = {bad:?}\n"));
            assert!(
                err.contains("ServerListenAddress: expected host:port"),
                "{err}"
            );
        }
        // PORT moves the default only.
        let vars = env(&[("PORT", "0")]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert_eq!(s.listen, "0.0.0.0:0");
        let file = TempFile::new("port", "ServerListenAddress = \":7000\"\n");
        let (s, _) =
            Settings::load(&cli(false, file.0.clone()), &env(&[("PORT", "9000")])).unwrap();
        assert_eq!(s.listen, "0.0.0.0:7000");
    }

    #[test]
    fn lists_values_and_urls() {
        let (s, _) = load_file("Chats = []\nPublicUrl = \"https://chat.example/\"\n").unwrap();
        assert!(s.chats.is_empty());
        assert_eq!(s.public_url.as_deref(), Some("https://chat.example"));
        let vars = env(&[
            ("CHATTY_CHATS", " Main , ,Random,"),
            (
                "CHATTY_ALLOWED_ORIGINS",
                "https://a.example,https://b.example",
            ),
            ("CHATTY_COOKIE_SECURE", "true"),
            ("CHATTY_INACTIVITY_TIMEOUT", "2m"),
            ("CHATTY_STATIC_DIR", "/srv/www"),
        ]);
        let (s, _) = Settings::load(&cli(true, "/nonexistent".into()), &vars).unwrap();
        let chats: Vec<_> = s.chats.iter().map(ChatName::as_str).collect();
        assert_eq!(chats, ["Main", "Random"]);
        assert_eq!(
            s.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(s.dev && s.cookie_secure);
        assert_eq!(s.inactivity_timeout, Duration::from_secs(120));
        assert_eq!(s.static_dir, PathBuf::from("/srv/www"));
        for key in KEYS {
            let name = env_name(key);
            assert!(
                name.starts_with("CHATTY_") && !name.contains("__"),
                "{name}"
            );
            assert_eq!(name, name.to_ascii_uppercase());
        }
        assert_eq!(
            env_name("ActivationTokenTtl"),
            "CHATTY_ACTIVATION_TOKEN_TTL"
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose(), "hunter2");
        let vars = env(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/chatty"),
            ("SECRET_KEY", "hunter2-key"),
            ("SENDGRID_KEY", "SG.hunter2"),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        let printed = format!("{s:?} {s:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("***"));
    }

    #[test]
    fn a_blank_secret_key_counts_as_missing() {
        let vars = env(&[("DATABASE_URL", "postgres://db/chatty"), ("SECRET_KEY", "")]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert_eq!(
            s.validate_for_start().unwrap_err().to_string(),
            "SECRET_KEY must be set outside dev mode (run with -dev to use a random key)"
        );
        let vars = env(&[
            ("DATABASE_URL", "postgres://db/chatty"),
            ("SECRET_KEY", "   "),
        ]);
        let (s, _) = Settings::load(&cli(false, "/nonexistent".into()), &vars).unwrap();
        assert!(s.validate_for_start().is_err());
    }
}

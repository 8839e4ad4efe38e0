//! Scratch databases for tests (feature `testing`): each test gets its own database, cloned
//! from a migrated template, and dropped when the guard goes.
//!
//! The server to create them on is, in order: `TEST_DATABASE_URL`, `DATABASE_URL`, a server
//! answering on 127.0.0.1:5432 (user `postgres`), the machine's Debian cluster started with
//! `pg_ctlcluster`, or a throwaway cluster made with `initdb` in a temporary directory. If none
//! can be had, the test fails with a message that says what to install.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: failing loudly is the point"
)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;

use crate::migrate::migrate;

static SERVER: OnceCell<String> = OnceCell::const_new();
static TEMPLATE: OnceCell<String> = OnceCell::const_new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A scratch database, dropped with the guard.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// A fresh, migrated, empty database.
    pub async fn new() -> Self {
        let admin_url = SERVER.get_or_init(find_server).await.clone();
        let template = TEMPLATE
            .get_or_init(|| make_template(admin_url.clone()))
            .await
            .clone();
        let name = format!(
            "chatty_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        execute(
            &admin_url,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await;
        Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await: a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(mut c) = AsyncPgConnection::establish(&admin_url).await {
                        let _ = diesel::sql_query(sql).execute(&mut c).await;
                    }
                });
            }
        })
        .join();
    }
}

async fn execute(url: &str, sql: &str) {
    let mut c = AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"));
    diesel::sql_query(sql)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The template of this test process: migrated once, then cloned by every test.
async fn make_template(admin_url: String) -> String {
    sweep_leftovers(&admin_url).await;
    let name = format!("chatty_test_{}_template", std::process::id());
    execute(
        &admin_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )
    .await;
    execute(&admin_url, &format!("CREATE DATABASE {name}")).await;
    migrate(&with_database(&admin_url, &name))
        .await
        .unwrap_or_else(|e| panic!("migrating the test template failed: {e}"));
    name
}

/// Drops the scratch databases of test processes that no longer run (a crash, a kill).
async fn sweep_leftovers(admin_url: &str) {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let Ok(mut c) = AsyncPgConnection::establish(admin_url).await else {
        return;
    };
    let names: Vec<Name> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'chatty\\_test\\_%'")
            .load(&mut c)
            .await
            .unwrap_or_default();
    for Name { datname } in names {
        let pid = datname
            .split('_')
            .nth(2)
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"))
                .execute(&mut c)
                .await;
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

fn answers(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

async fn find_server() -> String {
    for var in ["TEST_DATABASE_URL", "DATABASE_URL"] {
        if let Ok(url) = std::env::var(var)
            && !url.is_empty()
        {
            return url;
        }
    }
    let local = "postgres://postgres@127.0.0.1:5432/postgres".to_owned();
    if answers(5432) {
        return local;
    }
    if start_debian_cluster() {
        return local;
    }
    if let Some(url) = start_throwaway_cluster() {
        return url;
    }
    panic!(
        "no PostgreSQL server for the tests: nothing answers on 127.0.0.1:5432, no Debian \
         cluster could be started and initdb is not available. Set TEST_DATABASE_URL to a \
         server where the user may create databases, or install PostgreSQL \
         (apt-get install postgresql)."
    );
}

/// Starts the cluster of a Debian `postgresql` package, if there is one.
fn start_debian_cluster() -> bool {
    let Ok(versions) = std::fs::read_dir("/etc/postgresql") else {
        return false;
    };
    for version in versions.flatten() {
        let version = version.file_name().to_string_lossy().into_owned();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status();
    }
    (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        answers(5432)
    })
}

fn postgres_binary(name: &str) -> Option<PathBuf> {
    let in_path = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if in_path {
        return Some(PathBuf::from(name));
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|v| v.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    candidates.sort();
    candidates.pop()
}

/// A cluster of our own in a temporary directory, on a free port. It is left running for
/// the rest of the machine's test runs, as a database server would be.
fn start_throwaway_cluster() -> Option<String> {
    let (initdb, pg_ctl) = (postgres_binary("initdb")?, postgres_binary("pg_ctl")?);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let dir = std::env::temp_dir().join(format!("chatty-pg-{port}"));
    std::fs::create_dir_all(&dir).ok()?;
    // initdb refuses to run as root; the postgres system user does it then.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| o.stdout.starts_with(b"0"));
    let run = |program: &Path, args: &[&str]| {
        let mut command = if as_root {
            let _ = Command::new("chown")
                .args(["-R", "postgres", &dir.to_string_lossy()])
                .status();
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).status().is_ok_and(|s| s.success())
    };
    let data = dir.join("data");
    let data = data.to_string_lossy();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1",
        dir.display()
    );
    let log = dir.join("log").to_string_lossy().into_owned();
    let ok = run(&initdb, &["-D", &data, "-U", "postgres", "--auth=trust"])
        && run(
            &pg_ctl,
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
    ok.then(|| format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

/// Logs `name` in on `store` as a guest, with the token `token-<name>`, at time 0: the session
/// the store tests read and write as.
pub async fn guest(store: &crate::PgStore, name: &str) -> chatty_domain::ports::SessionKey {
    use chatty_domain::ports::{SessionKey, SessionRepository};
    use chatty_domain::{LoginMode, NewSession, Timestamp, Token, UserFlags, UserName};
    let user = UserName::parse(name).expect("a user name");
    let token = Token::new(format!("token-{name}"));
    let new = NewSession {
        user: user.clone(),
        token: token.clone(),
        flags: UserFlags::default(),
        registered: false,
    };
    store
        .start(&new, LoginMode::Guest, Timestamp::from_millis(0))
        .await
        .expect("a guest logs in");
    SessionKey { user, token }
}

/// Posts `text` to `chat` as `who` at `at`, as the store tests' users do.
pub async fn say(
    store: &crate::PgStore,
    who: &chatty_domain::ports::SessionKey,
    chat: &chatty_domain::ChatName,
    text: &str,
    at: chatty_domain::Timestamp,
) {
    use chatty_domain::ports::MessageRepository;
    use chatty_domain::{MessageText, NewMessage, UserFlags};
    let message = NewMessage {
        chat: chat.clone(),
        author: who.user.clone(),
        flags: UserFlags::default(),
        text: MessageText::parse(text, 100).expect("a message text"),
        membership_required: true,
    };
    store
        .post(&message, at)
        .await
        .expect("the message is posted");
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}

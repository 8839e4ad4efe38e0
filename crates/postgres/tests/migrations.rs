//! Every migration goes up, down and up again, so every `down.sql` is exercised.

use chatty_postgres::testing::{self, TestDatabase};
use diesel::Connection;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::MigrationHarness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_go_down_and_up_again() {
    let db = TestDatabase::new().await;
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = <AsyncConnectionWrapper<AsyncPgConnection> as Connection>::establish(&url)
            .expect("connects");
        let applied = conn.applied_migrations().expect("lists applied migrations");
        assert!(!applied.is_empty(), "the template is migrated");
        conn.revert_all_migrations(chatty_postgres::MIGRATIONS)
            .expect("every down.sql runs");
        assert!(conn.applied_migrations().expect("lists").is_empty());
        let again = conn
            .run_pending_migrations(chatty_postgres::MIGRATIONS)
            .expect("every up.sql runs again");
        assert_eq!(again.len(), applied.len());
    })
    .await
    .expect("the blocking task");
}

type Wrapped = AsyncConnectionWrapper<AsyncPgConnection>;

/// Reverts the migrations down to and including `version` (its digits), whichever came after
/// it, runs `meanwhile` on the older schema, and migrates up again.
async fn down_and_up_again(
    url: &str,
    version: &'static str,
    meanwhile: impl FnOnce(&mut Wrapped) + Send + 'static,
) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = <Wrapped as Connection>::establish(&url).expect("connects");
        loop {
            let reverted = conn
                .revert_last_migration(chatty_postgres::MIGRATIONS)
                .expect("a migration goes down");
            if reverted.to_string().replace('-', "").starts_with(version) {
                break;
            }
        }
        meanwhile(&mut conn);
        conn.run_pending_migrations(chatty_postgres::MIGRATIONS)
            .expect("and up again");
    })
    .await
    .expect("the blocking task");
}

/// Chat events written before the membership spans keep the recipient list they were written
/// with; those written after follow the spans. Going down turns spans back into lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_events_keep_their_readers_across_the_spans_migration() {
    use chatty_domain::contract::describe;
    use chatty_domain::ports::{ChatRepository, EventLog, SessionKey};
    use chatty_domain::{ChatName, EventId, Timestamp};
    use chatty_postgres::{PgSettings, PgStore};

    let db = TestDatabase::new().await;
    let main = ChatName::parse("Main").expect("a chat name");
    let at = Timestamp::from_millis(0);
    let say = async |store: &PgStore, who: &SessionKey, text: &str| {
        testing::say(store, who, &main, text, at).await;
    };
    let texts = async |store: &PgStore, who: &SessionKey| -> Vec<String> {
        let read = store
            .read_after(who, EventId(0), 1000)
            .await
            .expect("reads");
        describe(&read)
            .into_iter()
            .filter(|d| d.contains("MessageEvent"))
            .collect()
    };

    let before = PgStore::new(db.url(), PgSettings::default()).expect("a pool");
    before.create_chat(&main, at).await.expect("creates");
    let alice = testing::guest(&before, "alice").await;
    let bob = testing::guest(&before, "bob").await;
    before.join(&alice.user, &main, at).await.expect("joins");
    say(&before, &alice, "only alice was in").await;
    before.join(&bob.user, &main, at).await.expect("joins");
    let alice_saw = texts(&before, &alice).await;
    assert_eq!(alice_saw.len(), 1, "{alice_saw:?}");
    assert!(texts(&before, &bob).await.is_empty());
    drop(before);

    down_and_up_again(db.url(), "20261125000002", |_| {}).await;

    let after = PgStore::new(db.url(), PgSettings::default()).expect("a pool");
    assert_eq!(texts(&after, &alice).await, alice_saw);
    assert!(texts(&after, &bob).await.is_empty());
    say(&after, &bob, "both are in").await;
    after.leave(&bob.user, &main, at).await.expect("leaves");
    say(&after, &alice, "bob has left").await;
    let alice_now = texts(&after, &alice).await;
    let bob_now = texts(&after, &bob).await;
    assert_eq!(alice_now.len(), 3, "{alice_now:?}");
    assert_eq!(bob_now.len(), 1, "{bob_now:?}");
    assert!(bob_now[0].contains("both are in"), "{bob_now:?}");
}

/// Member lists read each membership's own copy of its session's flags: migrating a database
/// whose memberships had none copies them from the sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_take_their_sessions_flags_when_migrated() {
    use chatty_domain::ports::ChatRepository;
    use chatty_domain::{ChatName, Timestamp, UserFlags};
    use chatty_postgres::{PgSettings, PgStore};

    let db = TestDatabase::new().await;
    let main = ChatName::parse("Main").expect("a chat name");
    let at = Timestamp::from_millis(0);
    let store = PgStore::new(db.url(), PgSettings::default()).expect("a pool");
    store.create_chat(&main, at).await.expect("creates");
    for name in ["alice", "bob"] {
        let session = testing::guest(&store, name).await;
        store.join(&session.user, &main, at).await.expect("joins");
    }
    drop(store);

    down_and_up_again(db.url(), "20261130000005", |conn| {
        // Before it, the flags were the session's alone.
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE sessions SET verified = TRUE, admin = TRUE WHERE user_key = 'bob'",
            ),
            conn,
        )
        .expect("updates");
    })
    .await;

    let store = PgStore::new(db.url(), PgSettings::default()).expect("a pool");
    let members = store.members(&main).await.expect("lists").value;
    let listed: Vec<(&str, UserFlags)> =
        members.iter().map(|m| (m.user.as_str(), m.flags)).collect();
    let admin = UserFlags {
        verified: true,
        admin: true,
        bot: false,
    };
    assert_eq!(
        listed,
        [("alice", UserFlags::default()), ("bob", admin)],
        "{members:?}"
    );
}

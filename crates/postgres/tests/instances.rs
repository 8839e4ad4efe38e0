//! Two store instances on one database, as two server processes would have: concurrent
//! appends through both never let a reader skip an id that becomes visible later, and a
//! waiter on one instance is woken by an append on the other.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chatty_domain::ports::{ChatRepository, EventLog, SessionKey, SessionRepository};
use chatty_domain::{
    ChatName, Delivery, EventId, LoginMode, NewSession, Timestamp, Token, UserFlags,
};
use chatty_postgres::testing::{self, TestDatabase};
use chatty_postgres::{PgSettings, PgStore};

fn store(db: &TestDatabase) -> Arc<PgStore> {
    let settings = PgSettings {
        pool_size: 6,
        ..PgSettings::default()
    };
    Arc::new(PgStore::new(db.url(), settings).expect("a pool"))
}

async fn member(store: &PgStore, name: &str) -> SessionKey {
    let key = testing::guest(store, name).await;
    store
        .join(
            &key.user,
            &ChatName::parse("Main").unwrap(),
            Timestamp::from_millis(0),
        )
        .await
        .unwrap();
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_through_two_instances_are_never_skipped() {
    const WRITERS: usize = 10;
    const EACH: usize = 30;
    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    a.create_chat(&ChatName::parse("Main").unwrap(), Timestamp::from_millis(0))
        .await
        .unwrap();
    let reader = member(&a, "reader").await;
    let start = a.last_id().await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let instance = if w % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let key = member(&instance, &format!("writer{w}")).await;
        tasks.push(tokio::spawn(async move {
            let main = ChatName::parse("Main").unwrap();
            for i in 0..EACH {
                testing::say(
                    &instance,
                    &key,
                    &main,
                    &i.to_string(),
                    Timestamp::from_millis(1),
                )
                .await;
            }
        }));
    }
    // The writers' joins come first; the reader only counts messages.
    let mut cursor = start;
    let mut seen = BTreeSet::new();
    let mut finished = false;
    loop {
        let done = finished;
        finished = tasks.iter().all(tokio::task::JoinHandle::is_finished);
        // What the instance's LISTEN connection does when another instance appends: reads
        // of b then reach everything committed before it.
        b.refresh().await.unwrap();
        let batch = b.read_after(&reader, cursor, 13).await.unwrap();
        for delivery in &batch {
            assert!(delivery.id() > cursor);
            cursor = delivery.id();
            if let Delivery::Event(e) = delivery
                && e.event.type_name() == "MessageEvent"
            {
                assert!(seen.insert(e.id), "{} twice", e.id);
            }
        }
        if batch.is_empty() {
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(seen.len(), WRITERS * EACH, "the reader skipped events");
    let everything = a.read_after(&reader, start, 100_000).await.unwrap();
    let messages: BTreeSet<EventId> = everything
        .iter()
        .filter(|d| d.type_name() == "MessageEvent")
        .map(Delivery::id)
        .collect();
    assert_eq!(
        messages, seen,
        "nothing appeared behind the reader's cursor"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_one_instance_wakes_on_an_append_on_the_other() {
    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    tokio::spawn(Arc::clone(&a).follow());
    a.create_chat(&ChatName::parse("Main").unwrap(), Timestamp::from_millis(0))
        .await
        .unwrap();
    let alice = member(&a, "alice").await;
    let bob = member(&b, "bob").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let wakeup = a.subscribe(&alice).await.unwrap();
    let main = ChatName::parse("Main").unwrap();
    testing::say(&b, &bob, &main, "wake", Timestamp::from_millis(1)).await;
    // Well below the follower's 5 s safety tick: it was the notification that woke it.
    tokio::time::timeout(Duration::from_secs(3), wakeup)
        .await
        .expect("woken by the other instance's append");
}

/// Readers get the same events whether an instance serves them from its window of recent
/// events or, further behind than the window reaches, from the table: in order, each once,
/// with the same visibility.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recent_events_window_and_the_table_agree() {
    use chatty_domain::contract::describe;

    let db = TestDatabase::new().await;
    let wide = store(&db);
    let narrow = Arc::new(
        PgStore::new(
            db.url(),
            PgSettings {
                pool_size: 4,
                recent_events: 3,
                ..PgSettings::default()
            },
        )
        .unwrap(),
    );
    let main = ChatName::parse("Main").unwrap();
    let at = Timestamp::from_millis(0);
    wide.create_chat(&main, at).await.unwrap();
    let alice = member(&wide, "alice").await;
    let bob = member(&wide, "bob").await;
    let say = async |who: &SessionKey, text: &str| {
        testing::say(&wide, who, &main, text, at).await;
    };
    for i in 0..5 {
        say(&alice, &format!("a{i}")).await;
    }
    let carol = member(&wide, "carol").await;
    for i in 0..5 {
        say(&bob, &format!("b{i}")).await;
    }
    wide.leave(&carol.user, &main, at).await.unwrap();
    say(&alice, "after carol").await;

    for reader in [&alice, &bob, &carol] {
        let whole = wide.read_after(reader, EventId(0), 1000).await.unwrap();
        assert!(whole.len() > 5, "{:?}", describe(&whole));
        // The narrow instance reads in steps: early ones from the table, the last from its
        // window of three.
        let mut stepped: Vec<Delivery> = Vec::new();
        let mut cursor = EventId(0);
        loop {
            let batch = narrow.read_after(reader, cursor, 2).await.unwrap();
            let Some(last) = batch.last() else { break };
            cursor = last.id();
            stepped.extend(batch);
        }
        assert_eq!(describe(&stepped), describe(&whole), "{}", reader.user);
        let taken = narrow.take(reader, 1000).await.unwrap();
        assert_eq!(describe(&taken), describe(&whole), "{}", reader.user);
    }
}

/// An instance that answers a known session's reads from its window of recent events still
/// notices, from the logout event, when the session ends or is replaced on another instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_is_noticed_by_a_reading_instance() {
    use chatty_domain::ports::{Missing, StoreError};

    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    let at = Timestamp::from_millis(0);
    a.create_chat(&ChatName::parse("Main").unwrap(), at)
        .await
        .unwrap();
    let alice = member(&a, "alice").await;
    let bob = member(&a, "bob").await;
    for key in [&alice, &bob] {
        // Read once through the table, then from the window.
        b.read_after(key, EventId(0), 100).await.unwrap();
        b.read_after(key, EventId(0), 100).await.unwrap();
    }

    assert!(a.end(&alice, false, at).await.unwrap());
    let replaced = NewSession {
        user: bob.user.clone(),
        token: Token::new("token-bob-2".to_owned()),
        flags: UserFlags::default(),
        registered: false,
    };
    a.start(&replaced, LoginMode::Replace, at).await.unwrap();
    b.refresh().await.unwrap();

    for key in [&alice, &bob] {
        match b.read_after(key, EventId(0), 100).await {
            Err(StoreError::NotFound(Missing::Session)) => {}
            other => panic!(
                "{}: expected the session to be gone, got {other:?}",
                key.user
            ),
        }
    }
    let bob2 = SessionKey {
        user: bob.user.clone(),
        token: replaced.token.clone(),
    };
    assert!(
        !b.read_after(&bob2, EventId(0), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The compatible poll's cursor moved alternately by two instances: an instance's remembered
/// cursor goes stale when the other moves it, and must then not deliver anything twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_poll_cursors_moved_by_two_instances_deliver_each_event_once() {
    use chatty_domain::contract::describe;

    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    let main = ChatName::parse("Main").unwrap();
    let at = Timestamp::from_millis(0);
    a.create_chat(&main, at).await.unwrap();
    let alice = member(&a, "alice").await;
    let bob = member(&a, "bob").await;
    let say = async |text: String| {
        testing::say(&a, &bob, &main, &text, at).await;
    };
    // Takes everything there is through `on`, one event per answer as the poll does.
    let drain = async |on: &PgStore| -> Vec<String> {
        on.last_id().await.unwrap(); // what the LISTEN follower does in a server
        let mut got = Vec::new();
        loop {
            let batch = on.take(&alice, 1).await.unwrap();
            if batch.is_empty() {
                return got;
            }
            got.extend(describe(&batch));
        }
    };
    let mut seen = drain(&a).await;
    // Instance order a, a, b, a, b, b, a: each instance's cursor goes stale at least once.
    for (round, on) in [&a, &a, &b, &a, &b, &b, &a].into_iter().enumerate() {
        say(format!("m{round}")).await;
        say(format!("n{round}")).await;
        seen.extend(drain(on).await);
    }
    let messages: Vec<&String> = seen
        .iter()
        .filter(|d| d.starts_with("MessageEvent"))
        .collect();
    let expected: Vec<String> = (0..7)
        .flat_map(|r| [format!("m{r}"), format!("n{r}")])
        .map(|t| format!("MessageEvent(bob@Main:{t})"))
        .collect();
    assert_eq!(messages, expected.iter().collect::<Vec<_>>());
    // The table agrees: the cursor stands after the last event.
    assert!(drain(&b).await.is_empty());
    assert!(drain(&a).await.is_empty());
}

/// A thousand-odd polls answered at once move their cursors in a few batched statements; each
/// still gets every event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_polls_answered_together_each_get_every_event_once() {
    use chatty_domain::contract::describe;

    let db = TestDatabase::new().await;
    let store = store(&db);
    let main = ChatName::parse("Main").unwrap();
    let at = Timestamp::from_millis(0);
    store.create_chat(&main, at).await.unwrap();
    let mut readers = Vec::new();
    for i in 0..40 {
        readers.push(member(&store, &format!("r{i}")).await);
    }
    // Each reader's first take reads its cursor from the table; the next ones are batched.
    for r in &readers {
        while !store.take(r, 100).await.unwrap().is_empty() {}
    }
    let poster = readers[0].clone();
    for round in 0..5 {
        testing::say(&store, &poster, &main, &format!("t{round}"), at).await;
    }
    let takes = readers.iter().map(|r| {
        let store = Arc::clone(&store);
        let r = r.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store.take(&r, 1).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(describe(&batch));
            }
        })
    });
    let expected: Vec<String> = (0..5)
        .map(|t| format!("MessageEvent(r0@Main:t{t})"))
        .collect();
    for got in futures_util::future::join_all(takes).await {
        assert_eq!(got.unwrap(), expected);
    }
}

/// The session check of every request: an instance that checked a session recently answers
/// from its window of recent events, and still refuses the session once it ended or was
/// replaced on another instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_checked_recently_is_refused_once_it_ended_elsewhere() {
    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    let at = Timestamp::from_millis(0);
    a.create_chat(&ChatName::parse("Main").unwrap(), at)
        .await
        .unwrap();
    let alice = member(&a, "alice").await;
    let bob = member(&a, "bob").await;
    for key in [&alice, &bob] {
        // Checked once in the table, then from the window.
        for _ in 0..2 {
            let session = b.touch(key, at).await.unwrap().unwrap();
            assert_eq!(session.user, key.user);
        }
    }

    assert!(a.end(&alice, false, at).await.unwrap());
    let replaced = NewSession {
        user: bob.user.clone(),
        token: Token::new("token-bob-2".to_owned()),
        flags: UserFlags::default(),
        registered: false,
    };
    a.start(&replaced, LoginMode::Replace, at).await.unwrap();
    b.refresh().await.unwrap();

    for key in [&alice, &bob] {
        assert!(
            b.touch(key, at).await.unwrap().is_none(),
            "{}: the ended session is still accepted",
            key.user
        );
    }
    let bob2 = SessionKey {
        user: bob.user.clone(),
        token: replaced.token.clone(),
    };
    for _ in 0..2 {
        assert!(b.touch(&bob2, at).await.unwrap().is_some());
    }
    // Activity is still written, at most once a second.
    let later = Timestamp::from_millis(5_000);
    let touched = b.touch(&bob2, later).await.unwrap().unwrap();
    assert_eq!(touched.last_active, later);
    // Written off the request path: it reaches the table shortly.
    let mut in_the_table = None;
    for _ in 0..500 {
        let read = a.touch(&bob2, later).await.unwrap().unwrap();
        if read.last_active == later {
            in_the_table = Some(read);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_the_table.is_some(), "the activity was never written");
}

/// Events deleted by age on one instance leave the window of recent events of the others too:
/// a reader there behind them gets a `ResyncEvent`, as it would from the table, instead of
/// events the log no longer has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_deleted_by_age_on_one_instance_leave_the_window_of_another() {
    use chatty_domain::contract::describe;

    let db = TestDatabase::new().await;
    let (a, b) = (store(&db), store(&db));
    tokio::spawn(Arc::clone(&a).follow());
    let main = ChatName::parse("Main").unwrap();
    a.create_chat(&main, Timestamp::from_millis(0))
        .await
        .unwrap();
    let alice = member(&a, "alice").await;
    while !a.take(&alice, 100).await.unwrap().is_empty() {}
    // Posted through `a`, so its window holds them.
    for (text, at) in [("old", 10), ("recent", 100)] {
        testing::say(&a, &alice, &main, text, Timestamp::from_millis(at)).await;
    }
    assert!(b.prune(Timestamp::from_millis(50)).await.unwrap() >= 1);
    // Well below the follower's 5 s safety tick: the notification brings the news.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    loop {
        let batch = a.take(&alice, 1).await.unwrap();
        if batch.is_empty() {
            break;
        }
        got.extend(describe(&batch));
    }
    assert_eq!(got, ["ResyncEvent", "MessageEvent(alice@Main:recent)"]);
}

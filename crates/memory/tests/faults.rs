//! The fault switch: an unavailable store fails every use case with `Unavailable`, changes
//! nothing, and everything works again once it is back.

use std::sync::Arc;

use chatty_domain::contract::Stores;
use chatty_domain::contract::use_cases::Fixture;
use chatty_domain::{ChatName, Error};
use chatty_memory::MemoryStore;

#[tokio::test]
async fn an_unavailable_store_fails_cleanly_and_recovers() {
    let store = Arc::new(MemoryStore::default());
    let f = Fixture::new(Stores::from_store(Arc::clone(&store)));
    f.services
        .ensure_chats(&[ChatName::parse("Main").unwrap()])
        .await
        .unwrap();
    let alice = f.guest("alice").await;
    f.services.join_chat(&alice, "Main").await.unwrap();

    store.set_unavailable(true);
    let failures = [
        f.services
            .post_message(&alice, "Main", "lost?")
            .await
            .map(|_| ()),
        f.services.guest_login("bob").await.map(|_| ()),
        f.services
            .register("carol", "carol@example.org", "secret1")
            .await,
        f.services.chat_reports(&alice).await.map(|_| ()),
        f.services.sweep().await.map(|_| ()),
        f.services.deliver_due_mail().await.map(|_| ()),
    ];
    for failure in failures {
        assert!(matches!(failure, Err(Error::Unavailable(_))), "{failure:?}");
    }

    store.set_unavailable(false);
    let report = f.services.last_messages(&alice, "Main").await.unwrap();
    assert!(
        report.value.is_empty(),
        "the failed post left nothing behind"
    );
    f.services.guest_login("bob").await.unwrap();
    f.services
        .register("carol", "carol@example.org", "secret1")
        .await
        .unwrap();
}

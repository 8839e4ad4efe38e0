//! Exact JSON of every wire shape (original-spec.md §3 and §6.1, api.md §1 and §3): keys, key
//! order and value types, as the original clients expect them.

use std::sync::Arc;

use chatty_domain::model::event::{ChatChange, ChatJoin, ChatLeave, PresenceChange, SystemMessage};
use chatty_domain::{
    Audience, ChatName, ChatReport, Delivery, Event, EventId, Message, MessageId, StoredEvent,
    Timestamp, UserFlags, UserName, UserWithStatus,
};

/// 2020-06-10T08:16:05.123Z: the wire shows whole seconds only.
const T: Timestamp = Timestamp::from_millis(1_591_776_965_123);

fn user(raw: &str) -> UserName {
    UserName::parse(raw).expect("valid user name")
}

fn chat(raw: &str) -> ChatName {
    ChatName::parse(raw).expect("valid chat name")
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn verified() -> UserFlags {
    UserFlags {
        verified: true,
        admin: false,
        bot: false,
    }
}

fn message() -> Message {
    Message {
        user: user("alice"),
        flags: verified(),
        chat: chat("Main"),
        id: MessageId(3),
        text: "hello".to_owned(),
        time: T,
    }
}

fn envelope(id: u64, event: Event) -> String {
    json(&Delivery::Event(Arc::new(StoredEvent::new(
        EventId(id),
        event,
    ))))
}

/// One event of every kind, with whole-second times so that they survive a round trip.
fn one_of_each_kind() -> Vec<Event> {
    let t = Timestamp::from_unix_seconds(1_591_776_965);
    let alice = user("alice");
    let main = chat("Main");
    let [join, join_message] = Event::joined(&alice, verified(), &main, t);
    let [leave, leave_message] = Event::left(&alice, &main, t);
    let mut msg = message();
    msg.time = t;
    vec![
        Event::login(&alice, t),
        Event::logout(&alice, t),
        join,
        leave,
        join_message,
        leave_message,
        Event::chat_created(&main, t),
        Event::chat_removed(&main, t),
        Event::Message(msg),
    ]
}

// ---------------------------------------------------------------------------------------------
// Scalars and records
// ---------------------------------------------------------------------------------------------

#[test]
fn timestamp_serializes_as_integer_unix_seconds() {
    assert_eq!(json(&T), "1591776965");
    assert_eq!(T.unix_seconds(), 1_591_776_965);
    assert_eq!(T.millis(), 1_591_776_965_123);
}

#[test]
fn timestamp_deserializes_from_unix_seconds() {
    let t: Timestamp = serde_json::from_str("1591776965").unwrap();
    assert_eq!(t, Timestamp::from_unix_seconds(1_591_776_965));
    assert_eq!(t.millis(), 1_591_776_965_000);
}

#[test]
fn names_serialize_as_plain_strings_with_their_spelling() {
    assert_eq!(json(&user("Alice")), r#""Alice""#);
    assert_eq!(json(&chat("Main")), r#""Main""#);
}

#[test]
fn user_with_status_of_a_guest_has_all_flags_false() {
    let guest = UserWithStatus {
        user: user("alice"),
        flags: UserFlags::default(),
    };
    assert_eq!(
        json(&guest),
        r#"{"user":"alice","verified":false,"admin":false,"bot":false}"#
    );
}

#[test]
fn user_with_status_shows_each_flag_under_its_own_key() {
    let bot = UserWithStatus {
        user: user("Bot"),
        flags: UserFlags {
            verified: true,
            admin: false,
            bot: true,
        },
    };
    assert_eq!(
        json(&bot),
        r#"{"user":"Bot","verified":true,"admin":false,"bot":true}"#
    );
    let admin = UserWithStatus {
        user: user("root"),
        flags: UserFlags {
            verified: false,
            admin: true,
            bot: false,
        },
    };
    assert_eq!(
        json(&admin),
        r#"{"user":"root","verified":false,"admin":true,"bot":false}"#
    );
}

#[test]
fn message_has_the_original_keys_in_order_and_time_in_seconds() {
    assert_eq!(
        json(&message()),
        r#"{"user":"alice","verified":true,"admin":false,"bot":false,"chat":"Main","id":3,"text":"hello","time":1591776965}"#
    );
}

#[test]
fn message_deserializes_from_its_wire_shape() {
    let wire = r#"{"user":"alice","verified":true,"admin":false,"bot":false,"chat":"Main","id":3,"text":"hello","time":1591776965}"#;
    let parsed: Message = serde_json::from_str(wire).unwrap();
    let mut expected = message();
    expected.time = Timestamp::from_unix_seconds(1_591_776_965);
    assert_eq!(parsed, expected);
}

#[test]
fn chat_report_of_a_joined_chat_lists_messages_and_users() {
    let report = ChatReport {
        user: user("alice"),
        chat: chat("Main"),
        joined: true,
        messages: vec![message()],
        users: vec![UserWithStatus {
            user: user("alice"),
            flags: verified(),
        }],
    };
    assert_eq!(
        json(&report),
        concat!(
            r#"{"user":"alice","chat":"Main","joined":true,"messages":["#,
            r#"{"user":"alice","verified":true,"admin":false,"bot":false,"chat":"Main","id":3,"text":"hello","time":1591776965}"#,
            r#"],"users":[{"user":"alice","verified":true,"admin":false,"bot":false}]}"#
        )
    );
}

#[test]
fn chat_report_of_a_joined_chat_without_messages_has_empty_arrays() {
    let report = ChatReport {
        user: user("alice"),
        chat: chat("Main"),
        joined: true,
        messages: vec![],
        users: vec![],
    };
    assert_eq!(
        json(&report),
        r#"{"user":"alice","chat":"Main","joined":true,"messages":[],"users":[]}"#
    );
}

#[test]
fn chat_report_of_a_chat_not_joined_has_empty_arrays_not_null() {
    let report = ChatReport {
        user: user("bob"),
        chat: chat("Random"),
        joined: false,
        messages: Vec::new(),
        users: Vec::new(),
    };
    assert_eq!(
        json(&report),
        r#"{"user":"bob","chat":"Random","joined":false,"messages":[],"users":[]}"#
    );
}

// ---------------------------------------------------------------------------------------------
// Poll envelopes of the nine events and of the resync notice
// ---------------------------------------------------------------------------------------------

#[test]
fn login_event_envelope() {
    assert_eq!(
        envelope(7, Event::login(&user("alice"), T)),
        r#"{"event":{"user":"alice","chat":"","Time":1591776965},"type":"LoginEvent","id":7}"#
    );
}

#[test]
fn logout_event_envelope() {
    assert_eq!(
        envelope(7, Event::logout(&user("alice"), T)),
        r#"{"event":{"user":"alice","chat":"","Time":1591776965},"type":"LogoutEvent","id":7}"#
    );
}

#[test]
fn chat_join_event_envelope_carries_the_joiners_flags() {
    let [join, _] = Event::joined(&user("alice"), verified(), &chat("Main"), T);
    assert_eq!(
        envelope(7, join),
        r#"{"event":{"user":"alice","chat":"Main","Time":1591776965,"verified":true,"admin":false,"bot":false},"type":"ChatJoinEvent","id":7}"#
    );
}

#[test]
fn chat_leave_event_envelope() {
    let [leave, _] = Event::left(&user("alice"), &chat("Main"), T);
    assert_eq!(
        envelope(7, leave),
        r#"{"event":{"user":"alice","chat":"Main","Time":1591776965},"type":"ChatLeaveEvent","id":7}"#
    );
}

#[test]
fn system_message_chat_join_event_envelope_has_lower_case_time() {
    let [_, system] = Event::joined(&user("alice"), verified(), &chat("Main"), T);
    assert_eq!(
        envelope(7, system),
        r#"{"event":{"chat":"Main","user":"alice","time":1591776965},"type":"SystemMessageChatJoinEvent","id":7}"#
    );
}

#[test]
fn system_message_chat_leave_event_envelope_has_lower_case_time() {
    let [_, system] = Event::left(&user("alice"), &chat("Main"), T);
    assert_eq!(
        envelope(7, system),
        r#"{"event":{"chat":"Main","user":"alice","time":1591776965},"type":"SystemMessageChatLeaveEvent","id":7}"#
    );
}

#[test]
fn chat_created_event_envelope() {
    assert_eq!(
        envelope(7, Event::chat_created(&chat("Random"), T)),
        r#"{"event":{"chat":"Random","Time":1591776965},"type":"ChatCreatedEvent","id":7}"#
    );
}

#[test]
fn chat_removed_event_envelope() {
    assert_eq!(
        envelope(7, Event::chat_removed(&chat("Random"), T)),
        r#"{"event":{"chat":"Random","Time":1591776965},"type":"ChatRemovedEvent","id":7}"#
    );
}

#[test]
fn message_event_envelope_carries_the_message() {
    assert_eq!(
        envelope(7, Event::Message(message())),
        r#"{"event":{"user":"alice","verified":true,"admin":false,"bot":false,"chat":"Main","id":3,"text":"hello","time":1591776965},"type":"MessageEvent","id":7}"#
    );
}

#[test]
fn resync_envelope_carries_only_the_time_of_the_last_dropped_event() {
    let resync = Delivery::Resync {
        id: EventId(9),
        time: T,
    };
    assert_eq!(
        json(&resync),
        r#"{"event":{"Time":1591776965},"type":"ResyncEvent","id":9}"#
    );
    assert_eq!(resync.id(), EventId(9));
    assert_eq!(resync.type_name(), "ResyncEvent");
}

#[test]
fn delivery_id_and_type_name_come_from_the_stored_event() {
    let delivery = Delivery::Event(Arc::new(StoredEvent::new(
        EventId(42),
        Event::chat_created(&chat("Main"), T),
    )));
    assert_eq!(delivery.id(), EventId(42));
    assert_eq!(delivery.type_name(), "ChatCreatedEvent");
}

#[test]
fn event_type_names_are_the_original_go_struct_names() {
    let names: Vec<&str> = one_of_each_kind().iter().map(Event::type_name).collect();
    assert_eq!(
        names,
        [
            "LoginEvent",
            "LogoutEvent",
            "ChatJoinEvent",
            "ChatLeaveEvent",
            "SystemMessageChatJoinEvent",
            "SystemMessageChatLeaveEvent",
            "ChatCreatedEvent",
            "ChatRemovedEvent",
            "MessageEvent",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Event constructors
// ---------------------------------------------------------------------------------------------

#[test]
fn joined_yields_the_join_then_its_system_message_with_the_same_time() {
    let alice = user("alice");
    let main = chat("Main");
    let events = Event::joined(&alice, verified(), &main, T);
    assert_eq!(
        events,
        [
            Event::ChatJoin(ChatJoin {
                user: alice.clone(),
                chat: main.clone(),
                time: T,
                flags: verified(),
            }),
            Event::SystemMessageChatJoin(SystemMessage {
                chat: main,
                user: alice,
                time: T,
            }),
        ]
    );
}

#[test]
fn left_yields_the_leave_then_its_system_message_with_the_same_time() {
    let alice = user("alice");
    let main = chat("Main");
    let events = Event::left(&alice, &main, T);
    assert_eq!(
        events,
        [
            Event::ChatLeave(ChatLeave {
                user: alice.clone(),
                chat: main.clone(),
                time: T,
            }),
            Event::SystemMessageChatLeave(SystemMessage {
                chat: main,
                user: alice,
                time: T,
            }),
        ]
    );
}

#[test]
fn presence_and_chat_constructors_build_the_matching_variant() {
    let alice = user("alice");
    let main = chat("Main");
    let presence = PresenceChange {
        user: alice.clone(),
        time: T,
    };
    let change = ChatChange {
        chat: main.clone(),
        time: T,
    };
    assert_eq!(Event::login(&alice, T), Event::Login(presence.clone()));
    assert_eq!(Event::logout(&alice, T), Event::Logout(presence));
    assert_eq!(
        Event::chat_created(&main, T),
        Event::ChatCreated(change.clone())
    );
    assert_eq!(Event::chat_removed(&main, T), Event::ChatRemoved(change));
}

#[test]
fn logged_out_yields_logout_then_leave_and_system_message_per_chat_in_order() {
    let bob = user("bob");
    let chats = [chat("Main"), chat("Random")];
    let events = Event::logged_out(&bob, &chats, T);

    let mut expected = vec![Event::logout(&bob, T)];
    expected.extend(Event::left(&bob, &chats[0], T));
    expected.extend(Event::left(&bob, &chats[1], T));
    assert_eq!(events, expected);

    let kinds: Vec<&str> = events.iter().map(Event::type_name).collect();
    assert_eq!(
        kinds,
        [
            "LogoutEvent",
            "ChatLeaveEvent",
            "SystemMessageChatLeaveEvent",
            "ChatLeaveEvent",
            "SystemMessageChatLeaveEvent",
        ]
    );
    let chats_of: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.chat().map(ChatName::as_str))
        .collect();
    assert_eq!(
        chats_of,
        [
            None,
            Some("Main"),
            Some("Main"),
            Some("Random"),
            Some("Random")
        ]
    );
    assert!(events.iter().all(|e| e.time() == T));
}

#[test]
fn logged_out_without_chats_yields_only_the_logout() {
    let bob = user("bob");
    assert_eq!(
        Event::logged_out(&bob, &[], T),
        vec![Event::logout(&bob, T)]
    );
}

// ---------------------------------------------------------------------------------------------
// Audiences (original-spec.md §6.2, api.md §1)
// ---------------------------------------------------------------------------------------------

#[test]
fn login_goes_to_everyone_including_the_user() {
    assert_eq!(
        Event::login(&user("alice"), T).audience(),
        Audience::Everyone
    );
}

#[test]
fn logout_goes_to_everyone_but_the_user() {
    let alice = user("alice");
    let event = Event::logout(&alice, T);
    assert_eq!(event.audience(), Audience::EveryoneBut(&alice));
    assert_ne!(event.audience(), Audience::EveryoneBut(&user("bob")));
}

#[test]
fn chat_created_and_removed_go_to_everyone() {
    let main = chat("Main");
    assert_eq!(Event::chat_created(&main, T).audience(), Audience::Everyone);
    assert_eq!(Event::chat_removed(&main, T).audience(), Audience::Everyone);
}

#[test]
fn chat_events_go_to_the_members_of_their_chat() {
    let alice = user("alice");
    let main = chat("Main");
    let [join, join_message] = Event::joined(&alice, verified(), &main, T);
    let [leave, leave_message] = Event::left(&alice, &main, T);
    for event in [
        join,
        join_message,
        leave,
        leave_message,
        Event::Message(message()),
    ] {
        assert_eq!(
            event.audience(),
            Audience::ChatMembers(&main),
            "{}",
            event.type_name()
        );
        assert_eq!(event.chat(), Some(&main), "{}", event.type_name());
    }
}

#[test]
fn global_events_belong_to_no_chat() {
    let alice = user("alice");
    let main = chat("Main");
    for event in [
        Event::login(&alice, T),
        Event::logout(&alice, T),
        Event::chat_created(&main, T),
        Event::chat_removed(&main, T),
    ] {
        assert_eq!(event.chat(), None, "{}", event.type_name());
    }
}

// ---------------------------------------------------------------------------------------------
// Stored payloads: from_payload
// ---------------------------------------------------------------------------------------------

#[test]
fn every_event_kind_round_trips_through_its_payload() {
    for event in one_of_each_kind() {
        let payload = json(&event);
        let rebuilt = Event::from_payload(
            event.type_name(),
            &mut serde_json::Deserializer::from_str(&payload),
        )
        .unwrap_or_else(|e| panic!("{} from {payload}: {e}", event.type_name()));
        assert_eq!(rebuilt, event, "{payload}");
    }
}

#[test]
fn payload_keeps_whole_seconds_only() {
    let event = Event::login(&user("alice"), T);
    let payload = json(&event);
    let rebuilt = Event::from_payload(
        "LoginEvent",
        &mut serde_json::Deserializer::from_str(&payload),
    )
    .unwrap();
    assert_eq!(rebuilt.time(), Timestamp::from_unix_seconds(1_591_776_965));
}

#[test]
fn unknown_event_type_name_is_an_error() {
    let payload = r#"{"user":"alice","chat":"","Time":1591776965}"#;
    let err = Event::from_payload(
        "BogusEvent",
        &mut serde_json::Deserializer::from_str(payload),
    )
    .unwrap_err();
    assert!(err.to_string().contains("BogusEvent"), "{err}");
    assert!(
        Event::from_payload(
            "ResyncEvent",
            &mut serde_json::Deserializer::from_str(r#"{"Time":1}"#)
        )
        .is_err()
    );
}

#[test]
fn payload_that_does_not_fit_its_type_is_an_error() {
    let chat_change = r#"{"chat":"Main","Time":1591776965}"#;
    assert!(
        Event::from_payload(
            "LoginEvent",
            &mut serde_json::Deserializer::from_str(chat_change)
        )
        .is_err()
    );
    let bad_name = r#"{"user":"","chat":"","Time":1591776965}"#;
    assert!(
        Event::from_payload(
            "LoginEvent",
            &mut serde_json::Deserializer::from_str(bad_name)
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Characters that Go escaped
// ---------------------------------------------------------------------------------------------

#[test]
fn names_with_markup_characters_serialize_as_valid_json_that_round_trips() {
    let raw = "<b>&amp;</b> \"q\" \\ 'x'";
    let name = user(raw);
    let who = UserWithStatus {
        user: name.clone(),
        flags: UserFlags::default(),
    };
    let wire = json(&who);
    let value: serde_json::Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(value["user"], raw);
    let back: UserWithStatus = serde_json::from_str(&wire).unwrap();
    assert_eq!(back.user.as_str(), raw);

    let room = chat("R&D <team>");
    let wire = envelope(1, Event::chat_created(&room, T));
    let value: serde_json::Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(value["event"]["chat"], "R&D <team>");
    assert_eq!(value["type"], "ChatCreatedEvent");
}

#[test]
fn message_text_with_line_breaks_and_markup_round_trips_through_json() {
    let mut msg = message();
    msg.text = "line\n\ttab \u{2028} <script> & \"quote\" 😀".to_owned();
    let wire = json(&msg);
    let value: serde_json::Value = serde_json::from_str(&wire).unwrap();
    assert_eq!(value["text"], msg.text.as_str());
}

#[test]
fn the_shared_envelope_encoding_is_the_serde_encoding() {
    let events = [
        Event::chat_created(&chat("Main"), T),
        Event::login(&user("alice"), T),
    ];
    for (i, event) in events.into_iter().enumerate() {
        let delivery = Delivery::Event(Arc::new(StoredEvent::new(EventId(i as u64 + 1), event)));
        assert_eq!(delivery.envelope_json(), json(&delivery));
        // The second call returns the cached text.
        assert_eq!(delivery.envelope_json(), json(&delivery));
    }
    let resync = Delivery::Resync {
        id: EventId(9),
        time: T,
    };
    assert_eq!(resync.envelope_json(), json(&resync));
}

//! Events: everything that happens in the rooms, in one total order.
//!
//! Wire shapes are those of original-spec.md §6.1; note the capital `Time` key on presence,
//! join/leave and chat events and the lower-case `time` on messages and system messages.
//! A poll delivers each event in an envelope `{"event":{…},"type":"<TypeName>","id":<id>}`
//! (the `id` is ours, api.md §3; old clients ignore it).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::message::Message;
use super::name::{ChatName, UserName};
use super::time::Timestamp;
use super::user::UserFlags;

/// Position of an event in the total order. Ids are strictly increasing; `EventId(0)` comes
/// before every event and is the cursor of a reader that has seen nothing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `LoginEvent` / `LogoutEvent`: `{"user":"alice","chat":"","Time":T}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PresenceChange {
    pub user: UserName,
    #[serde(rename = "Time")]
    pub time: Timestamp,
}

impl Serialize for PresenceChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PresenceChange", 3)?;
        st.serialize_field("user", &self.user)?;
        // The original put these events through a type that also had a chat; it is always
        // empty here, and kept because clients may read it.
        st.serialize_field("chat", "")?;
        st.serialize_field("Time", &self.time)?;
        st.end()
    }
}

/// `ChatJoinEvent`: `{"user","chat","Time","verified","admin","bot"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatJoin {
    pub user: UserName,
    pub chat: ChatName,
    #[serde(rename = "Time")]
    pub time: Timestamp,
    #[serde(flatten)]
    pub flags: UserFlags,
}

/// `ChatLeaveEvent`: `{"user","chat","Time"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLeave {
    pub user: UserName,
    pub chat: ChatName,
    #[serde(rename = "Time")]
    pub time: Timestamp,
}

/// `SystemMessageChatJoinEvent` / `SystemMessageChatLeaveEvent`: `{"chat","user","time"}`.
/// Clients render the text ("alice joined chat Main") themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMessage {
    pub chat: ChatName,
    pub user: UserName,
    pub time: Timestamp,
}

/// `ChatCreatedEvent` / `ChatRemovedEvent`: `{"chat","Time"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatChange {
    pub chat: ChatName,
    #[serde(rename = "Time")]
    pub time: Timestamp,
}

/// Everything that can happen, with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Login(PresenceChange),
    Logout(PresenceChange),
    ChatJoin(ChatJoin),
    ChatLeave(ChatLeave),
    SystemMessageChatJoin(SystemMessage),
    SystemMessageChatLeave(SystemMessage),
    ChatCreated(ChatChange),
    ChatRemoved(ChatChange),
    Message(Message),
}

/// Who receives an event. It is evaluated when the event is appended, against the state of
/// that moment (api.md §1): a user who joins a chat later does not receive its earlier
/// messages, and a user who left keeps those sent while it was a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Every live session.
    Everyone,
    /// Every live session except those of this user.
    EveryoneBut(&'a UserName),
    /// The live sessions of the chat's members.
    ChatMembers(&'a ChatName),
}

impl Event {
    /// The wire type name (the original's Go struct name).
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Login(_) => "LoginEvent",
            Event::Logout(_) => "LogoutEvent",
            Event::ChatJoin(_) => "ChatJoinEvent",
            Event::ChatLeave(_) => "ChatLeaveEvent",
            Event::SystemMessageChatJoin(_) => "SystemMessageChatJoinEvent",
            Event::SystemMessageChatLeave(_) => "SystemMessageChatLeaveEvent",
            Event::ChatCreated(_) => "ChatCreatedEvent",
            Event::ChatRemoved(_) => "ChatRemovedEvent",
            Event::Message(_) => "MessageEvent",
        }
    }

    /// Who receives it (original-spec.md §6.2, api.md §1).
    ///
    /// The logged-in user receives its own `LoginEvent` (its session exists when the event is
    /// appended); the logged-out user does not receive its own `LogoutEvent`; the joiner
    /// receives its own join and the leaver does not receive its own leave, because the
    /// membership changes before the event is appended.
    pub fn audience(&self) -> Audience<'_> {
        match self {
            Event::Login(_) | Event::ChatCreated(_) | Event::ChatRemoved(_) => Audience::Everyone,
            Event::Logout(p) => Audience::EveryoneBut(&p.user),
            Event::ChatJoin(e) => Audience::ChatMembers(&e.chat),
            Event::ChatLeave(e) => Audience::ChatMembers(&e.chat),
            Event::SystemMessageChatJoin(e) | Event::SystemMessageChatLeave(e) => {
                Audience::ChatMembers(&e.chat)
            }
            Event::Message(m) => Audience::ChatMembers(&m.chat),
        }
    }

    /// The chat a chat-scoped event belongs to.
    pub fn chat(&self) -> Option<&ChatName> {
        match self.audience() {
            Audience::ChatMembers(chat) => Some(chat),
            Audience::Everyone | Audience::EveryoneBut(_) => None,
        }
    }

    pub fn time(&self) -> Timestamp {
        match self {
            Event::Login(p) | Event::Logout(p) => p.time,
            Event::ChatJoin(e) => e.time,
            Event::ChatLeave(e) => e.time,
            Event::SystemMessageChatJoin(e) | Event::SystemMessageChatLeave(e) => e.time,
            Event::ChatCreated(e) | Event::ChatRemoved(e) => e.time,
            Event::Message(m) => m.time,
        }
    }

    pub fn login(user: &UserName, time: Timestamp) -> Self {
        Event::Login(PresenceChange {
            user: user.clone(),
            time,
        })
    }

    pub fn logout(user: &UserName, time: Timestamp) -> Self {
        Event::Logout(PresenceChange {
            user: user.clone(),
            time,
        })
    }

    pub fn chat_created(chat: &ChatName, time: Timestamp) -> Self {
        Event::ChatCreated(ChatChange {
            chat: chat.clone(),
            time,
        })
    }

    pub fn chat_removed(chat: &ChatName, time: Timestamp) -> Self {
        Event::ChatRemoved(ChatChange {
            chat: chat.clone(),
            time,
        })
    }

    /// A join: the `ChatJoinEvent` followed by its system message, with the same time.
    pub fn joined(
        user: &UserName,
        flags: UserFlags,
        chat: &ChatName,
        time: Timestamp,
    ) -> [Self; 2] {
        [
            Event::ChatJoin(ChatJoin {
                user: user.clone(),
                chat: chat.clone(),
                time,
                flags,
            }),
            Event::SystemMessageChatJoin(SystemMessage {
                chat: chat.clone(),
                user: user.clone(),
                time,
            }),
        ]
    }

    /// A leave: the `ChatLeaveEvent` followed by its system message, with the same time.
    pub fn left(user: &UserName, chat: &ChatName, time: Timestamp) -> [Self; 2] {
        [
            Event::ChatLeave(ChatLeave {
                user: user.clone(),
                chat: chat.clone(),
                time,
            }),
            Event::SystemMessageChatLeave(SystemMessage {
                chat: chat.clone(),
                user: user.clone(),
                time,
            }),
        ]
    }

    /// The end of a session (logout, inactivity, password reset): `LogoutEvent`, then a leave
    /// and its system message for every chat the user was in (original-spec.md §6.5).
    pub fn logged_out(user: &UserName, chats: &[ChatName], time: Timestamp) -> Vec<Self> {
        let mut events = Vec::with_capacity(1 + 2 * chats.len());
        events.push(Event::logout(user, time));
        for chat in chats {
            events.extend(Event::left(user, chat, time));
        }
        events
    }

    /// Rebuilds an event from its type name and payload, as stored by an adapter.
    ///
    /// # Errors
    /// The deserializer's error, or a custom one for an unknown type name.
    pub fn from_payload<'de, D: Deserializer<'de>>(
        type_name: &str,
        d: D,
    ) -> Result<Self, D::Error> {
        Ok(match type_name {
            "LoginEvent" => Event::Login(PresenceChange::deserialize(d)?),
            "LogoutEvent" => Event::Logout(PresenceChange::deserialize(d)?),
            "ChatJoinEvent" => Event::ChatJoin(ChatJoin::deserialize(d)?),
            "ChatLeaveEvent" => Event::ChatLeave(ChatLeave::deserialize(d)?),
            "SystemMessageChatJoinEvent" => {
                Event::SystemMessageChatJoin(SystemMessage::deserialize(d)?)
            }
            "SystemMessageChatLeaveEvent" => {
                Event::SystemMessageChatLeave(SystemMessage::deserialize(d)?)
            }
            "ChatCreatedEvent" => Event::ChatCreated(ChatChange::deserialize(d)?),
            "ChatRemovedEvent" => Event::ChatRemoved(ChatChange::deserialize(d)?),
            "MessageEvent" => Event::Message(Message::deserialize(d)?),
            other => return Err(D::Error::custom(format!("unknown event type {other:?}"))),
        })
    }
}

/// Serializes the payload alone; the envelope adds the type name.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Login(p) | Event::Logout(p) => p.serialize(s),
            Event::ChatJoin(e) => e.serialize(s),
            Event::ChatLeave(e) => e.serialize(s),
            Event::SystemMessageChatJoin(e) | Event::SystemMessageChatLeave(e) => e.serialize(s),
            Event::ChatCreated(e) | Event::ChatRemoved(e) => e.serialize(s),
            Event::Message(m) => m.serialize(s),
        }
    }
}

/// An event with its place in the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: EventId,
    pub event: Event,
    envelope: EnvelopeCache,
}

impl StoredEvent {
    pub fn new(id: EventId, event: Event) -> Self {
        Self {
            id,
            event,
            envelope: EnvelopeCache::default(),
        }
    }

    /// The poll envelope as JSON. It is encoded by the first reader and shared by all the
    /// others: a message to a thousand members is encoded once, not a thousand times.
    pub fn envelope_json(&self) -> &str {
        self.envelope.0.get_or_init(|| {
            encode(&Envelope {
                event: &self.event,
                kind: self.event.type_name(),
                id: self.id,
            })
        })
    }
}

/// The encoded envelope of a stored event; a cache, so it takes no part in equality.
#[derive(Clone, Default)]
struct EnvelopeCache(OnceLock<Box<str>>);

impl PartialEq for EnvelopeCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for EnvelopeCache {}

impl fmt::Debug for EnvelopeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

/// `{"event":{…},"type":"…","id":N}`, fields in the original's order.
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    event: &'a T,
    #[serde(rename = "type")]
    kind: &'static str,
    id: EventId,
}

fn encode<T: Serialize>(envelope: &Envelope<'_, T>) -> Box<str> {
    // The domain's payloads are plain data (no maps with non-string keys, no custom errors):
    // encoding cannot fail.
    serde_json::to_string(envelope)
        .unwrap_or_else(|_| "null".to_owned())
        .into_boxed_str()
}

/// What a reader receives: an event, or the notice that events meant for it were dropped by
/// retention before it read them (api.md §2 item 11), after which it should refetch its chats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Event(Arc<StoredEvent>),
    /// `{"type":"ResyncEvent","event":{"Time":T},"id":N}`: events up to `id` (the last one
    /// dropped, at time `T`) are gone; continue reading after `id`.
    Resync {
        id: EventId,
        time: Timestamp,
    },
}

impl Delivery {
    /// The cursor position after this delivery.
    pub fn id(&self) -> EventId {
        match self {
            Delivery::Event(e) => e.id,
            Delivery::Resync { id, .. } => *id,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Delivery::Event(e) => e.event.type_name(),
            Delivery::Resync { .. } => "ResyncEvent",
        }
    }

    /// The poll envelope as JSON: shared for events, made for a resync notice.
    pub fn envelope_json(&self) -> Cow<'_, str> {
        match self {
            Delivery::Event(e) => Cow::Borrowed(e.envelope_json()),
            Delivery::Resync { id, time } => Cow::Owned(
                encode(&Envelope {
                    event: &ResyncPayload { time: *time },
                    kind: "ResyncEvent",
                    id: *id,
                })
                .into(),
            ),
        }
    }
}

#[derive(Serialize)]
struct ResyncPayload {
    #[serde(rename = "Time")]
    time: Timestamp,
}

/// The poll envelope: `{"event":{…},"type":"…","id":N}`.
impl Serialize for Delivery {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Delivery::Event(e) => Envelope {
                event: &e.event,
                kind: e.event.type_name(),
                id: e.id,
            }
            .serialize(s),
            Delivery::Resync { id, time } => Envelope {
                event: &ResyncPayload { time: *time },
                kind: "ResyncEvent",
                id: *id,
            }
            .serialize(s),
        }
    }
}

//! The domain's values: validated input types, records and events.

pub mod chat;
pub mod email;
pub mod event;
pub mod input;
pub mod mail;
pub mod message;
pub mod name;
pub mod secret;
pub mod session;
pub mod time;
pub mod user;

//! Validation failures of client input, worded so that the message names the offending field
//! (api.md §1: "decoder and validation messages may be worded our way, but must name the field").

use std::fmt;

/// The request field a validation failure is about, as the client spells it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    User,
    Chat,
    Email,
    Password,
    Text,
    Token,
    Limit,
}

impl Field {
    /// The JSON key of the field.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::User => "user",
            Field::Chat => "chat",
            Field::Email => "email",
            Field::Password => "password",
            Field::Text => "text",
            Field::Token => "passwordResetToken",
            Field::Limit => "limit",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Empty,
    TooLong {
        max: usize,
        unit: &'static str,
    },
    TooShort {
        min: usize,
        unit: &'static str,
    },
    /// Control, zero-width or direction-changing characters, which make names impersonate
    /// others or break the clients' layout.
    InvisibleCharacter,
    SurroundingWhitespace,
    NotAnEmailAddress,
    Reserved,
    OutOfRange {
        min: u64,
        max: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooLong { max, unit } => write!(f, "must be at most {max} {unit} long"),
            Problem::TooShort { min, unit } => write!(f, "must be at least {min} {unit} long"),
            Problem::InvisibleCharacter => {
                f.write_str("must not contain control, zero-width or direction-changing characters")
            }
            Problem::SurroundingWhitespace => f.write_str("must not start or end with white space"),
            Problem::NotAnEmailAddress => f.write_str("is not a valid e-mail address"),
            Problem::Reserved => f.write_str("is reserved"),
            Problem::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
        }
    }
}

/// A field of a request that breaks the rules of api.md §2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidInput {
    pub field: Field,
    pub problem: Problem,
}

impl InvalidInput {
    pub fn new(field: Field, problem: Problem) -> Self {
        Self { field, problem }
    }
}

/// Characters that are invisible or reorder text: C0/C1 controls plus the zero-width and
/// bidirectional formatting characters (Unicode category Cf) that are used to spoof names.
pub(crate) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                  // soft hyphen
            | '\u{061C}'                // arabic letter mark
            | '\u{180E}'                // mongolian vowel separator
            | '\u{034F}'                // combining grapheme joiner
            | '\u{115F}' | '\u{1160}'   // hangul fillers
            | '\u{3164}' | '\u{FFA0}'   // hangul fillers that render blank
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}'   // bidi embeddings and overrides
            | '\u{2028}' | '\u{2029}'     // line and paragraph separators
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'   // bidi isolates
            | '\u{FEFF}'                // zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotations
            | '\u{E0000}'..='\u{E007F}') // tag characters
}

//! Bad and good input for every validated type of chatty-domain (api.md §2 items 6, 7, 8, 14;
//! original-spec.md §3.1 where api.md is silent).

use std::collections::HashMap;

use chatty_domain::{
    ChatName, Email, Field, InvalidInput, MAX_NAME_CHARS, MessageText, Password, Problem, Token,
    UserName,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn too_long(max: usize, unit: &'static str) -> Problem {
    Problem::TooLong { max, unit }
}

fn names_too_long() -> Problem {
    too_long(50, "characters")
}

/// The error of `UserName::parse`, checking that it is about the `user` field.
fn user_error(raw: &str) -> Problem {
    let err = UserName::parse(raw).expect_err(&format!("user name {raw:?} should be refused"));
    assert_eq!(err.field, Field::User, "field of the error for {raw:?}");
    err.problem
}

/// The error of `ChatName::parse`, checking that it is about the `chat` field.
fn chat_error(raw: &str) -> Problem {
    let err = ChatName::parse(raw).expect_err(&format!("chat name {raw:?} should be refused"));
    assert_eq!(err.field, Field::Chat, "field of the error for {raw:?}");
    err.problem
}

/// Asserts that `raw` is refused with `problem` as a user name and as a chat name.
fn assert_name_refused(raw: &str, problem: &Problem) {
    assert_eq!(&user_error(raw), problem, "user name {raw:?}");
    assert_eq!(&chat_error(raw), problem, "chat name {raw:?}");
}

/// Asserts that `raw` is accepted, unchanged, as a user name and as a chat name.
fn assert_name_accepted(raw: &str) {
    let user = UserName::parse(raw).unwrap_or_else(|e| panic!("user name {raw:?}: {e}"));
    assert_eq!(user.as_str(), raw);
    let chat = ChatName::parse(raw).unwrap_or_else(|e| panic!("chat name {raw:?}: {e}"));
    assert_eq!(chat.as_str(), raw);
}

fn email_error(raw: &str) -> Problem {
    let err = Email::parse(raw).expect_err(&format!("e-mail {raw:?} should be refused"));
    assert_eq!(err.field, Field::Email, "field of the error for {raw:?}");
    err.problem
}

fn assert_not_an_email(raw: &str) {
    assert_eq!(
        email_error(raw),
        Problem::NotAnEmailAddress,
        "e-mail {raw:?}"
    );
}

fn password_error(raw: &str) -> Problem {
    let err = Password::parse(raw).expect_err(&format!("password {raw:?} should be refused"));
    assert_eq!(err.field, Field::Password);
    err.problem
}

fn text_error(raw: &str, max_chars: usize) -> Problem {
    let err =
        MessageText::parse(raw, max_chars).expect_err(&format!("text {raw:?} should be refused"));
    assert_eq!(err.field, Field::Text);
    err.problem
}

fn token(raw: &str) -> Token {
    Token::from_client(Field::Token, raw).expect("valid token")
}

// ---------------------------------------------------------------------------------------------
// User and chat names: length
// ---------------------------------------------------------------------------------------------

#[test]
fn max_name_chars_is_fifty() {
    assert_eq!(MAX_NAME_CHARS, 50);
}

#[test]
fn empty_name_is_refused_as_empty() {
    assert_name_refused("", &Problem::Empty);
}

#[test]
fn one_character_name_is_accepted() {
    assert_name_accepted("a");
}

#[test]
fn name_of_50_ascii_characters_is_accepted() {
    assert_name_accepted(&"a".repeat(50));
}

#[test]
fn name_of_51_ascii_characters_is_too_long() {
    assert_name_refused(&"a".repeat(51), &names_too_long());
}

#[test]
fn name_of_50_two_byte_characters_is_accepted_because_length_counts_characters() {
    let name = "é".repeat(50);
    assert_eq!(name.len(), 100);
    assert_name_accepted(&name);
}

#[test]
fn name_of_51_two_byte_characters_is_too_long() {
    assert_name_refused(&"é".repeat(51), &names_too_long());
}

#[test]
fn name_of_50_emoji_is_accepted() {
    let name = "😀".repeat(50);
    assert_eq!(name.len(), 200);
    assert_name_accepted(&name);
}

#[test]
fn name_of_51_emoji_is_too_long() {
    assert_name_refused(&"😀".repeat(51), &names_too_long());
}

#[test]
fn name_of_5000_characters_is_too_long() {
    assert_name_refused(&"x".repeat(5000), &names_too_long());
}

#[test]
fn overlong_name_with_invisible_characters_reports_the_length_first() {
    let name = format!("{}\u{202E}", "x".repeat(60));
    assert_name_refused(&name, &names_too_long());
}

// ---------------------------------------------------------------------------------------------
// User and chat names: invisible characters and white space
// ---------------------------------------------------------------------------------------------

#[test]
fn names_with_control_characters_are_refused() {
    for raw in [
        "ali\nce",
        "ali\tce",
        "ali\0ce",
        "ali\rce",
        "ali\u{7f}ce",
        "ali\u{85}ce",
        "ali\u{1b}ce",
    ] {
        assert_name_refused(raw, &Problem::InvisibleCharacter);
    }
}

#[test]
fn names_with_zero_width_or_bidi_characters_are_refused() {
    for raw in [
        "ali\u{200B}ce", // zero-width space
        "ali\u{200D}ce", // zero-width joiner
        "ali\u{200E}ce", // left-to-right mark
        "ali\u{202E}ce", // right-to-left override
        "ali\u{FEFF}ce", // zero-width no-break space (BOM)
        "ali\u{2066}ce", // left-to-right isolate
        "ali\u{2069}ce", // pop directional isolate
        "ali\u{00AD}ce", // soft hyphen
        "ali\u{2060}ce", // word joiner
    ] {
        assert_name_refused(raw, &Problem::InvisibleCharacter);
    }
}

#[test]
fn name_made_only_of_an_invisible_character_is_refused() {
    assert_name_refused("\u{200B}", &Problem::InvisibleCharacter);
    assert_name_refused("\u{FEFF}", &Problem::InvisibleCharacter);
}

#[test]
fn leading_control_character_is_reported_as_invisible_not_as_white_space() {
    assert_name_refused("\talice", &Problem::InvisibleCharacter);
    assert_name_refused("alice\n", &Problem::InvisibleCharacter);
}

#[test]
fn names_with_leading_white_space_are_refused() {
    for raw in [" alice", "\u{3000}alice", "\u{a0}alice", "  alice"] {
        assert_name_refused(raw, &Problem::SurroundingWhitespace);
    }
}

#[test]
fn names_with_trailing_white_space_are_refused() {
    for raw in ["alice ", "alice\u{3000}", "alice\u{a0}"] {
        assert_name_refused(raw, &Problem::SurroundingWhitespace);
    }
}

#[test]
fn name_made_only_of_a_space_is_refused() {
    assert_name_refused(" ", &Problem::SurroundingWhitespace);
}

#[test]
fn names_with_inner_spaces_are_accepted() {
    assert_name_accepted("alice smith");
    assert_name_accepted("a b c");
    assert_name_accepted("Main  Room");
    assert_name_accepted("東京\u{3000}チャット");
}

#[test]
fn unicode_names_are_accepted() {
    for raw in [
        "Алиса",
        "Общий чат",
        "東京",
        "채팅방",
        "😀",
        "party 🎉",
        "Élodie",
        "Zoë",
    ] {
        assert_name_accepted(raw);
    }
}

#[test]
fn names_with_html_and_punctuation_are_accepted_verbatim() {
    assert_name_accepted("<b>bob</b> & co");
    assert_name_accepted("O'Brien \"the\" 1st");
}

// ---------------------------------------------------------------------------------------------
// User names: case-insensitive identity
// ---------------------------------------------------------------------------------------------

#[test]
fn user_names_differing_only_by_ascii_case_are_equal() {
    let upper = UserName::parse("Alice").unwrap();
    let lower = UserName::parse("alice").unwrap();
    assert_eq!(upper, lower);
    assert_eq!(upper.folded(), "alice");
    assert_eq!(lower.folded(), "alice");
    assert_eq!(upper.cmp(&lower), std::cmp::Ordering::Equal);
}

#[test]
fn user_names_differing_only_by_non_ascii_case_are_equal() {
    let upper = UserName::parse("ÉLODIE").unwrap();
    let lower = UserName::parse("élodie").unwrap();
    assert_eq!(upper, lower);
    assert_eq!(upper.folded(), "élodie");
    assert_eq!(
        UserName::parse("АЛИСА").unwrap(),
        UserName::parse("алиса").unwrap()
    );
}

#[test]
fn different_user_names_are_not_equal() {
    assert_ne!(
        UserName::parse("alice").unwrap(),
        UserName::parse("alicia").unwrap()
    );
    assert_ne!(
        UserName::parse("alice").unwrap(),
        UserName::parse("alice2").unwrap()
    );
}

#[test]
fn user_name_keeps_its_original_spelling_for_display() {
    let name = UserName::parse("ÉLodie").unwrap();
    assert_eq!(name.as_str(), "ÉLodie");
    assert_eq!(name.to_string(), "ÉLodie");
    assert_eq!(format!("{name:?}"), "\"ÉLodie\"");
    assert_eq!(String::from(name), "ÉLodie");
}

#[test]
fn user_names_differing_only_by_case_are_the_same_hash_map_key() {
    let mut map = HashMap::new();
    map.insert(UserName::parse("Alice").unwrap(), 1);
    map.insert(UserName::parse("ALICE").unwrap(), 2);
    assert_eq!(map.len(), 1);
    assert_eq!(map.get(&UserName::parse("alice").unwrap()), Some(&2));
    assert_eq!(map.get(&UserName::parse("aLiCe").unwrap()), Some(&2));
    assert_eq!(map.get(&UserName::parse("bob").unwrap()), None);

    let mut accents = HashMap::new();
    accents.insert(UserName::parse("ÉLODIE").unwrap(), ());
    assert!(accents.contains_key(&UserName::parse("élodie").unwrap()));
}

#[test]
fn user_names_sort_by_their_case_folded_form() {
    let mut names: Vec<UserName> = ["bob", "Alice", "carol", "ALBERT"]
        .into_iter()
        .map(|raw| UserName::parse(raw).unwrap())
        .collect();
    names.sort();
    let spelled: Vec<&str> = names.iter().map(UserName::as_str).collect();
    assert_eq!(spelled, ["ALBERT", "Alice", "bob", "carol"]);
}

// ---------------------------------------------------------------------------------------------
// Chat names: case-sensitive identity
// ---------------------------------------------------------------------------------------------

#[test]
fn chat_names_differing_by_case_are_different_chats() {
    let upper = ChatName::parse("Main").unwrap();
    let lower = ChatName::parse("main").unwrap();
    assert_ne!(upper, lower);

    let mut map = HashMap::new();
    map.insert(upper, 1);
    map.insert(lower, 2);
    assert_eq!(map.len(), 2);
    assert_eq!(map.get(&ChatName::parse("Main").unwrap()), Some(&1));
    assert_eq!(map.get(&ChatName::parse("MAIN").unwrap()), None);
}

#[test]
fn chat_name_keeps_its_spelling() {
    let chat = ChatName::parse("Général").unwrap();
    assert_eq!(chat.as_str(), "Général");
    assert_eq!(chat.to_string(), "Général");
    assert_eq!(String::from(chat), "Général");
}

// ---------------------------------------------------------------------------------------------
// Names through serde: deserialising validates too
// ---------------------------------------------------------------------------------------------

#[test]
fn deserialising_a_user_name_applies_the_rules() {
    assert!(serde_json::from_str::<UserName>(r#""""#).is_err());
    assert!(serde_json::from_str::<UserName>(r#"" alice""#).is_err());
    assert!(serde_json::from_str::<UserName>(r#""ali\u202Ece""#).is_err());
    let too_long = format!("\"{}\"", "a".repeat(51));
    assert!(serde_json::from_str::<UserName>(&too_long).is_err());

    let name: UserName = serde_json::from_str(r#""Alice""#).unwrap();
    assert_eq!(name.as_str(), "Alice");
    assert_eq!(name, UserName::parse("alice").unwrap());
}

#[test]
fn deserialising_a_chat_name_applies_the_rules() {
    assert!(serde_json::from_str::<ChatName>(r#""""#).is_err());
    assert!(serde_json::from_str::<ChatName>(r#""Main\n""#).is_err());
    assert!(serde_json::from_str::<ChatName>(r#""Main ""#).is_err());
    let chat: ChatName = serde_json::from_str(r#""Main""#).unwrap();
    assert_eq!(chat.as_str(), "Main");
}

#[test]
fn deserialising_an_email_applies_the_rules() {
    assert!(serde_json::from_str::<Email>(r#""user@example""#).is_err());
    let email: Email = serde_json::from_str(r#""user@example.org""#).unwrap();
    assert_eq!(email.as_str(), "user@example.org");
}

// ---------------------------------------------------------------------------------------------
// Error values and messages name the field
// ---------------------------------------------------------------------------------------------

#[test]
fn user_name_errors_name_the_user_field() {
    for raw in ["", " a", "a\u{200B}", &"a".repeat(51)] {
        let message = UserName::parse(raw).unwrap_err().to_string();
        assert!(message.starts_with("user: "), "{message:?}");
    }
}

#[test]
fn chat_name_errors_name_the_chat_field() {
    for raw in ["", " a", "a\u{200B}", &"a".repeat(51)] {
        let message = ChatName::parse(raw).unwrap_err().to_string();
        assert!(message.starts_with("chat: "), "{message:?}");
    }
}

#[test]
fn email_errors_name_the_email_field() {
    for raw in ["", "user@example", &"a".repeat(300)] {
        let message = Email::parse(raw).unwrap_err().to_string();
        assert!(message.starts_with("email: "), "{message:?}");
    }
}

#[test]
fn password_errors_name_the_password_field() {
    for raw in ["", "abc", &"a".repeat(73)] {
        let message = Password::parse(raw).unwrap_err().to_string();
        assert!(message.starts_with("password: "), "{message:?}");
    }
}

#[test]
fn message_text_errors_name_the_text_field() {
    for raw in ["", "a\0", &"a".repeat(11)] {
        let message = MessageText::parse(raw, 10).unwrap_err().to_string();
        assert!(message.starts_with("text: "), "{message:?}");
    }
}

#[test]
fn token_errors_name_the_wire_field_they_came_from() {
    let message = Token::from_client(Field::Token, "")
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("passwordResetToken: "), "{message:?}");
    let err = Token::from_client(Field::User, "").unwrap_err();
    assert_eq!(err.field, Field::User);
}

#[test]
fn error_messages_describe_the_problem() {
    assert_eq!(
        UserName::parse("").unwrap_err().to_string(),
        "user: must not be empty"
    );
    assert_eq!(
        ChatName::parse(&"a".repeat(51)).unwrap_err().to_string(),
        "chat: must be at most 50 characters long"
    );
    assert_eq!(
        UserName::parse("a\u{202E}b").unwrap_err().to_string(),
        "user: must not contain control, zero-width or direction-changing characters"
    );
    assert_eq!(
        ChatName::parse(" Main").unwrap_err().to_string(),
        "chat: must not start or end with white space"
    );
    assert_eq!(
        Password::parse("abc").unwrap_err().to_string(),
        "password: must be at least 6 bytes long"
    );
    assert_eq!(
        Password::parse(&"a".repeat(73)).unwrap_err().to_string(),
        "password: must be at most 72 bytes long"
    );
    assert_eq!(
        Email::parse("nope").unwrap_err().to_string(),
        "email: is not a valid e-mail address"
    );
    assert_eq!(
        MessageText::parse("", 4000).unwrap_err().to_string(),
        "text: must not be empty"
    );
}

#[test]
fn invalid_input_exposes_field_and_problem() {
    assert_eq!(
        UserName::parse(&"a".repeat(51)).unwrap_err(),
        InvalidInput {
            field: Field::User,
            problem: Problem::TooLong {
                max: 50,
                unit: "characters"
            },
        }
    );
    assert_eq!(
        InvalidInput::new(Field::Chat, Problem::Empty),
        ChatName::parse("").unwrap_err()
    );
}

#[test]
fn field_names_are_the_wire_keys() {
    let keys: Vec<&str> = [
        Field::User,
        Field::Chat,
        Field::Email,
        Field::Password,
        Field::Text,
        Field::Token,
        Field::Limit,
    ]
    .into_iter()
    .map(Field::as_str)
    .collect();
    assert_eq!(
        keys,
        [
            "user",
            "chat",
            "email",
            "password",
            "text",
            "passwordResetToken",
            "limit"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Passwords: 6..=72 bytes
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_password_is_refused_as_empty() {
    assert_eq!(password_error(""), Problem::Empty);
}

#[test]
fn password_of_5_bytes_is_too_short() {
    assert_eq!(
        password_error("abcde"),
        Problem::TooShort {
            min: 6,
            unit: "bytes"
        }
    );
}

#[test]
fn password_of_6_bytes_is_accepted() {
    assert_eq!(Password::parse("abcdef").unwrap().expose(), "abcdef");
}

#[test]
fn password_length_counts_bytes_not_characters() {
    // Three two-byte characters are six bytes: long enough.
    assert_eq!(Password::parse("ééé").unwrap().expose(), "ééé");
    // Two two-byte characters are four bytes: too short.
    assert_eq!(
        password_error("éé"),
        Problem::TooShort {
            min: 6,
            unit: "bytes"
        }
    );
}

#[test]
fn password_of_72_bytes_is_accepted() {
    let raw = "p".repeat(72);
    assert_eq!(Password::parse(&raw).unwrap().expose(), raw);
}

#[test]
fn password_of_73_bytes_is_too_long() {
    assert_eq!(password_error(&"p".repeat(73)), too_long(72, "bytes"));
}

#[test]
fn password_of_24_three_byte_characters_is_72_bytes_and_accepted() {
    let raw = "€".repeat(24);
    assert_eq!(raw.len(), 72);
    assert_eq!(Password::parse(&raw).unwrap().expose(), raw);
}

#[test]
fn password_of_25_three_byte_characters_is_75_bytes_and_too_long() {
    let raw = "€".repeat(25);
    assert_eq!(raw.chars().count(), 25);
    assert_eq!(password_error(&raw), too_long(72, "bytes"));
}

#[test]
fn password_is_not_trimmed() {
    assert_eq!(Password::parse(" secret ").unwrap().expose(), " secret ");
}

#[test]
fn password_debug_output_hides_the_password() {
    let password = Password::parse("hunter2-secret").unwrap();
    let debug = format!("{password:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("secret"), "{debug}");
    let nested = format!("{:?}", Some(&password));
    assert!(!nested.contains("hunter2"), "{nested}");
}

// ---------------------------------------------------------------------------------------------
// E-mail addresses
// ---------------------------------------------------------------------------------------------

#[test]
fn plain_email_is_accepted() {
    assert_eq!(
        Email::parse("user@example.org").unwrap().as_str(),
        "user@example.org"
    );
}

#[test]
fn email_with_dots_plus_and_subdomains_is_accepted() {
    let raw = "a.b+c@sub.example.co.uk";
    assert_eq!(Email::parse(raw).unwrap().as_str(), raw);
}

#[test]
fn email_with_digits_and_hyphens_in_the_domain_is_accepted() {
    for raw in [
        "user_1@mail-2.example.org",
        "x@123.example.com",
        "o'brien@example.ie",
    ] {
        assert_eq!(Email::parse(raw).unwrap().as_str(), raw, "{raw}");
    }
}

#[test]
fn empty_email_is_refused_as_empty() {
    assert_eq!(email_error(""), Problem::Empty);
}

#[test]
fn email_without_a_dot_in_the_domain_is_refused() {
    assert_not_an_email("user@example");
}

#[test]
fn email_without_an_at_sign_is_refused() {
    assert_not_an_email("user.example.org");
}

#[test]
fn email_with_empty_local_part_is_refused() {
    assert_not_an_email("@example.org");
}

#[test]
fn email_with_empty_domain_is_refused() {
    assert_not_an_email("user@");
}

#[test]
fn email_with_two_at_signs_is_refused() {
    assert_not_an_email("user@@example.org");
    assert_not_an_email("user@evil.org@example.org");
}

#[test]
fn email_with_white_space_is_refused() {
    assert_not_an_email("us er@example.org");
    assert_not_an_email("user@exa mple.org");
    assert_not_an_email(" user@example.org");
    assert_not_an_email("user@example.org ");
    assert_not_an_email("user\t@example.org");
}

#[test]
fn email_with_quoted_local_part_is_refused() {
    assert_not_an_email("\"quoted\"@example.org");
    assert_not_an_email("\"us er\"@example.org");
}

#[test]
fn email_whose_top_level_domain_does_not_start_and_end_with_a_letter_is_refused() {
    assert_not_an_email("user@example.c0m1");
    assert_not_an_email("user@example.1com");
    assert_not_an_email("user@example.123");
    assert_not_an_email("user@127.0.0.1");
}

#[test]
fn email_with_ip_literal_domain_is_refused() {
    assert_not_an_email("user@[127.0.0.1]");
}

#[test]
fn email_with_hyphen_at_the_edge_of_a_domain_label_is_refused() {
    assert_not_an_email("user@-example.org");
    assert_not_an_email("user@example-.org");
    assert_not_an_email("user@example.-org");
}

#[test]
fn email_with_empty_dot_atoms_is_refused() {
    for raw in [
        ".user@example.org",
        "user.@example.org",
        "us..er@example.org",
        "user@.example.org",
        "user@example..org",
        "user@example.org.",
    ] {
        assert_not_an_email(raw);
    }
}

#[test]
fn email_with_header_injection_characters_is_refused() {
    for raw in [
        "a@b.org\r\nBcc: x@y.org",
        "a@b.org\nBcc: x@y.org",
        "a@b.org\r",
        "a@b.org>",
        "<a@b.org>",
        "Alice <a@b.org>",
        "a@b.org,c@d.org",
        "a@b.org;c@d.org",
        "a(comment)@b.org",
        "a@b.org\0",
    ] {
        assert_not_an_email(raw);
    }
}

#[test]
fn email_with_non_ascii_characters_is_refused() {
    assert_not_an_email("élodie@example.org");
    assert_not_an_email("user@exämple.org");
    assert_not_an_email("user@example.org\u{202E}");
}

#[test]
fn email_of_254_bytes_is_accepted() {
    let raw = format!(
        "{}@{}.{}.{}.org",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(57)
    );
    assert_eq!(raw.len(), 254);
    assert_eq!(Email::parse(&raw).unwrap().as_str(), raw);
}

#[test]
fn email_of_255_bytes_is_too_long() {
    let raw = format!(
        "{}@{}.{}.{}.org",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(58)
    );
    assert_eq!(raw.len(), 255);
    assert_eq!(email_error(&raw), too_long(254, "bytes"));
}

#[test]
fn email_local_part_of_65_bytes_is_refused() {
    assert!(Email::parse(&format!("{}@example.org", "a".repeat(64))).is_ok());
    assert_not_an_email(&format!("{}@example.org", "a".repeat(65)));
}

#[test]
fn email_domain_label_of_64_bytes_is_refused() {
    assert!(Email::parse(&format!("user@{}.org", "a".repeat(63))).is_ok());
    assert_not_an_email(&format!("user@{}.org", "a".repeat(64)));
}

#[test]
fn email_folded_is_lower_case_and_keeps_the_original_spelling() {
    let email = Email::parse("Alice.Smith@Example.ORG").unwrap();
    assert_eq!(email.folded(), "alice.smith@example.org");
    assert_eq!(email.as_str(), "Alice.Smith@Example.ORG");
    assert_eq!(email.to_string(), "Alice.Smith@Example.ORG");
    assert_eq!(
        Email::parse("alice.smith@example.org").unwrap().folded(),
        email.folded()
    );
}

#[test]
fn email_masked_hides_the_local_part() {
    let email = Email::parse("alice@example.org").unwrap();
    assert_eq!(email.masked(), "a***@example.org");
    assert!(!email.masked().contains("alice"));
}

#[test]
fn email_debug_output_does_not_contain_the_full_address() {
    let email = Email::parse("alice.secret@example.org").unwrap();
    let debug = format!("{email:?}");
    assert!(!debug.contains("alice.secret"), "{debug}");
    assert!(!debug.contains("alice.secret@example.org"), "{debug}");
}

// ---------------------------------------------------------------------------------------------
// Message text
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_message_text_is_refused_as_empty() {
    assert_eq!(text_error("", 4000), Problem::Empty);
}

#[test]
fn white_space_only_message_text_is_accepted() {
    assert_eq!(MessageText::parse("   ", 4000).unwrap().as_str(), "   ");
}

#[test]
fn message_text_of_exactly_max_chars_is_accepted() {
    let raw = "a".repeat(10);
    assert_eq!(MessageText::parse(&raw, 10).unwrap().as_str(), raw);
}

#[test]
fn message_text_of_max_chars_plus_one_is_too_long() {
    assert_eq!(text_error(&"a".repeat(11), 10), too_long(10, "characters"));
}

#[test]
fn message_text_length_counts_characters_not_bytes() {
    let raw = "é".repeat(10);
    assert_eq!(raw.len(), 20);
    assert_eq!(MessageText::parse(&raw, 10).unwrap().as_str(), raw);
    assert_eq!(text_error(&"😀".repeat(11), 10), too_long(10, "characters"));
}

#[test]
fn message_text_at_the_default_limit_of_4000_characters() {
    assert!(MessageText::parse(&"x".repeat(4000), 4000).is_ok());
    assert_eq!(
        text_error(&"x".repeat(4001), 4000),
        too_long(4000, "characters")
    );
}

#[test]
fn message_text_may_contain_newlines_tabs_and_carriage_returns() {
    let raw = "line one\nline two\r\n\tindented";
    let text = MessageText::parse(raw, 4000).unwrap();
    assert_eq!(text.as_str(), raw);
    assert_eq!(text.into_string(), raw);
}

#[test]
fn message_text_with_nul_is_refused() {
    assert_eq!(text_error("a\0b", 4000), Problem::InvisibleCharacter);
}

#[test]
fn message_text_with_other_control_characters_is_refused() {
    for raw in ["ding\u{7}", "\u{1b}[31mred", "a\u{7f}", "a\u{8}b"] {
        assert_eq!(
            text_error(raw, 4000),
            Problem::InvisibleCharacter,
            "{raw:?}"
        );
    }
}

#[test]
fn message_text_with_unicode_and_markup_is_kept_verbatim() {
    let raw = "Привет 👋 <script>alert(1)</script> & \"quotes\"";
    assert_eq!(MessageText::parse(raw, 4000).unwrap().as_str(), raw);
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[test]
fn token_matches_an_equal_token() {
    assert!(token("abc123").matches(&token("abc123")));
    assert!(token("abc123").matches(&Token::new("abc123".to_owned())));
}

#[test]
fn token_does_not_match_a_different_token() {
    assert!(!token("abc123").matches(&token("abc124")));
    assert!(!token("abc123").matches(&token("ABC123")));
}

#[test]
fn token_does_not_match_its_prefix_or_extension() {
    assert!(!token("abc123").matches(&token("abc")));
    assert!(!token("abc").matches(&token("abc123")));
}

#[test]
fn empty_token_is_refused_as_empty() {
    let err = Token::from_client(Field::Token, "").unwrap_err();
    assert_eq!(err, InvalidInput::new(Field::Token, Problem::Empty));
}

#[test]
fn token_of_256_bytes_is_accepted() {
    let raw = "t".repeat(256);
    assert_eq!(token(&raw).expose(), raw);
}

#[test]
fn token_of_257_bytes_is_refused() {
    let err = Token::from_client(Field::Token, &"t".repeat(257)).unwrap_err();
    assert_eq!(err.field, Field::Token);
    assert_eq!(err.problem, too_long(256, "bytes"));
}

#[test]
fn token_debug_output_hides_the_value() {
    let value = "s3cr3t-t0ken-value";
    let debug = format!("{:?}", token(value));
    assert!(!debug.contains(value), "{debug}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    let debug_new = format!("{:?}", Token::new(value.to_owned()));
    assert!(!debug_new.contains("s3cr3t"), "{debug_new}");
}

#[test]
fn blank_rendering_and_separator_characters_are_refused_in_names() {
    for bad in [
        "\u{3164}",
        "a\u{3164}b",
        "a\u{115F}",
        "a\u{FFA0}b",
        "a\u{2028}b",
        "a\u{2029}b",
        "a\u{E0041}b",
        "a\u{034F}b",
    ] {
        let err = UserName::parse(bad).unwrap_err();
        assert_eq!(err.problem, Problem::InvisibleCharacter, "{bad:?}");
        let err = ChatName::parse(bad).unwrap_err();
        assert_eq!(err.problem, Problem::InvisibleCharacter, "{bad:?}");
    }
}

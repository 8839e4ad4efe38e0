//! The tables of `migrations/`, for diesel's query builder.

diesel::table! {
    accounts (name_key) {
        name_key -> Text,
        name -> Text,
        email -> Text,
        email_key -> Text,
        password_hash -> Text,
        verified -> Bool,
        admin -> Bool,
        bot -> Bool,
        activation_token -> Nullable<Text>,
        activation_expires_at -> Nullable<Timestamptz>,
        reset_token -> Nullable<Text>,
        reset_expires_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    chats (name) {
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (user_key) {
        user_key -> Text,
        user_name -> Text,
        token -> Text,
        verified -> Bool,
        admin -> Bool,
        bot -> Bool,
        registered -> Bool,
        last_active -> Timestamptz,
        first_event -> Int8,
        cursor -> Int8,
    }
}

diesel::table! {
    memberships (chat, user_key) {
        chat -> Text,
        user_key -> Text,
        user_name -> Text,
        verified -> Bool,
        admin -> Bool,
        bot -> Bool,
    }
}

diesel::table! {
    messages (id) {
        id -> Int8,
        chat -> Text,
        user_name -> Text,
        verified -> Bool,
        admin -> Bool,
        bot -> Bool,
        text -> Text,
        time -> Timestamptz,
    }
}

diesel::table! {
    events (id) {
        id -> Int8,
        kind -> Text,
        payload -> Jsonb,
        audience -> Int2,
        audience_user -> Nullable<Text>,
        recipients -> Nullable<Array<Text>>,
        time -> Timestamptz,
        audience_chat -> Nullable<Text>,
    }
}

diesel::table! {
    membership_spans (user_key, chat, from_event) {
        chat -> Text,
        user_key -> Text,
        from_event -> Int8,
        until_event -> Nullable<Int8>,
    }
}

diesel::table! {
    event_log (singleton) {
        singleton -> Bool,
        last_id -> Int8,
        pruned_through -> Int8,
        pruned_time -> Timestamptz,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Int8,
        kind -> Text,
        recipient -> Text,
        user_name -> Text,
        link -> Nullable<Text>,
        token -> Nullable<Text>,
        attempts -> Int4,
        due_at -> Timestamptz,
        failed -> Bool,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(memberships -> chats (chat));
diesel::joinable!(memberships -> sessions (user_key));
diesel::joinable!(messages -> chats (chat));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    chats,
    sessions,
    memberships,
    membership_spans,
    messages,
    events,
    event_log,
    mail_outbox,
);

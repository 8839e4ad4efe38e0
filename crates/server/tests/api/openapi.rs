//! docs/openapi.json stays true: every documented path is exercised against the running
//! server, and each answer's status must be documented and its JSON body must match the
//! documented schema (no missing keys, no undocumented ones), so a change of shape fails here.

use std::collections::BTreeSet;

use awc::http::Method;
use serde_json::Value;

use crate::helpers::{Reply, TestApp};

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &spec["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Why `value` does not match `schema`, if it does not.
fn mismatch(spec: &Value, schema: &Value, value: &Value, at: &str) -> Option<String> {
    let schema = resolve(spec, schema);
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        return if options
            .iter()
            .any(|o| mismatch(spec, o, value, at).is_none())
        {
            None
        } else {
            Some(format!("{at}: matches none of oneOf"))
        };
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Some(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let fits = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !fits {
        return Some(format!("{at}: {value} is not {}", schema["type"]));
    }
    if let (Some(object), Some(properties)) = (
        value.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap();
            if !object.contains_key(key) {
                return Some(format!("{at}: missing {key}"));
            }
        }
        for (key, item) in object {
            match properties.get(key) {
                Some(property) => {
                    if let Some(problem) = mismatch(spec, property, item, &format!("{at}.{key}")) {
                        return Some(problem);
                    }
                }
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    return Some(format!("{at}: undocumented key {key}"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            if let Some(problem) = mismatch(spec, item_schema, item, &format!("{at}[{i}]")) {
                return Some(problem);
            }
        }
    }
    None
}

/// Checks one answer against the documented operation `method path`.
fn conforms(spec: &Value, method: &str, path: &str, reply: &Reply) {
    let operation = &spec["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][reply.status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path}: status {} is not documented",
        reply.status
    );
    let content = response
        .get("content")
        .and_then(|c| c.get("application/json"));
    match content {
        Some(content) if !reply.body.is_empty() => {
            if let Some(problem) = mismatch(spec, &content["schema"], &reply.json(), "body") {
                panic!(
                    "{method} {path} {}: {problem}\n{}",
                    reply.status, reply.body
                );
            }
            if let Some(headers) = response.get("headers").and_then(Value::as_object) {
                for name in headers.keys() {
                    assert!(
                        reply.header(name).is_some(),
                        "{method} {path}: header {name} missing"
                    );
                }
            }
        }
        Some(_) => assert_eq!(
            path, "/api/loggedonly/poll",
            "{method} {path}: an empty body where JSON is documented"
        ),
        None => {
            let textual = response.get("content").is_some();
            assert!(
                textual || reply.body.is_empty(),
                "{method} {path}: an undocumented body {}",
                reply.body
            );
        }
    }
}

#[actix_web::test]
async fn every_documented_route_answers_as_documented() {
    let spec = spec();
    let app = TestApp::spawn().await;
    let root = app.member("root").await;
    let alice = app.guest("alice").await;
    let anonymous = app.client();
    let mut exercised = BTreeSet::new();
    let token = {
        anonymous
            .post(
                "/api/register",
                r#"{"user":"bob","email":"bob@example.org","password":"secret1"}"#,
            )
            .await;
        app.activation_token("bob").await
    };
    alice.join("Main").await;
    let calls: Vec<(&crate::helpers::Actor, Method, &str, String, &str)> = vec![
        (
            &anonymous,
            Method::POST,
            "/api/register",
            r#"{"user":"carol","email":"carol@example.org","password":"secret1"}"#.into(),
            "/api/register",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/register",
            r#"{"user":"carol","email":"c2@example.org","password":"secret1"}"#.into(),
            "/api/register",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/register",
            r#"{"user":"dave","email":"d@example.org"}"#.into(),
            "/api/register",
        ),
        (
            &anonymous,
            Method::GET,
            "",
            format!("/api/verifyEmail/bob/{token}"),
            "/api/verifyEmail/{user}/{token}",
        ),
        (
            &anonymous,
            Method::GET,
            "",
            "/api/verifyEmail/bob/wrong".into(),
            "/api/verifyEmail/{user}/{token}",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/resendVerification",
            r#"{"user":"carol"}"#.into(),
            "/api/resendVerification",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/requestResetPassword",
            r#"{"user":"bob"}"#.into(),
            "/api/requestResetPassword",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/resetPassword",
            r#"{"user":"bob","passwordResetToken":"x","password":"newpass1"}"#.into(),
            "/api/resetPassword",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/authorize",
            r#"{"user":"bob","password":"wrong1"}"#.into(),
            "/api/authorize",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/authorize",
            r#"{"user":"carol","password":"secret1"}"#.into(),
            "/api/authorize",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/login",
            r#"{"user":"alice"}"#.into(),
            "/api/login",
        ),
        (
            &anonymous,
            Method::POST,
            "/api/loggedonly/logout",
            String::new(),
            "/api/loggedonly/logout",
        ),
        (
            &alice,
            Method::PUT,
            "/api/loggedonly/keepalive",
            String::new(),
            "/api/loggedonly/keepalive",
        ),
        (
            &alice,
            Method::GET,
            "/api/loggedonly/poll?limit=10",
            String::new(),
            "/api/loggedonly/poll",
        ),
        (
            &alice,
            Method::GET,
            "/api/loggedonly/poll?after=x",
            String::new(),
            "/api/loggedonly/poll",
        ),
        (
            &alice,
            Method::GET,
            "/api/loggedonly/events?after=x",
            String::new(),
            "/api/loggedonly/events",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/joinChat",
            r#"{"chat":"Random"}"#.into(),
            "/api/loggedonly/joinChat",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/joinChat",
            r#"{"chat":"Nope"}"#.into(),
            "/api/loggedonly/joinChat",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/leaveChat",
            r#"{"chat":"Random"}"#.into(),
            "/api/loggedonly/leaveChat",
        ),
        (
            &alice,
            Method::GET,
            "/api/loggedonly/getChats",
            String::new(),
            "/api/loggedonly/getChats",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/getUsers",
            r#"{"chat":"Main"}"#.into(),
            "/api/loggedonly/getUsers",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/postMessage",
            r#"{"chat":"Main","text":"hi"}"#.into(),
            "/api/loggedonly/postMessage",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/postMessage",
            r#"{"chat":"Main","text":""}"#.into(),
            "/api/loggedonly/postMessage",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/getLastMessages",
            r#"{"chat":"Main"}"#.into(),
            "/api/loggedonly/getLastMessages",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/getMessages",
            r#"{"chat":"Main","limit":5}"#.into(),
            "/api/loggedonly/getMessages",
        ),
        (
            &alice,
            Method::POST,
            "/api/adminonly/createChat",
            r#"{"chat":"X"}"#.into(),
            "/api/adminonly/createChat",
        ),
        (
            &root,
            Method::POST,
            "/api/adminonly/createChat",
            r#"{"chat":"X"}"#.into(),
            "/api/adminonly/createChat",
        ),
        (
            &root,
            Method::POST,
            "/api/adminonly/removeChat",
            r#"{"chat":"X"}"#.into(),
            "/api/adminonly/removeChat",
        ),
        (
            &anonymous,
            Method::GET,
            "/healthz",
            String::new(),
            "/healthz",
        ),
        (&anonymous, Method::GET, "/readyz", String::new(), "/readyz"),
        (
            &anonymous,
            Method::GET,
            "/metrics",
            String::new(),
            "/metrics",
        ),
        (
            &alice,
            Method::POST,
            "/api/loggedonly/login",
            "{}".into(),
            "/api/loggedonly/login",
        ),
    ];
    for (actor, method, url, body, documented) in calls {
        let (url, body) = if url.is_empty() {
            (body, None)
        } else {
            (url.to_owned(), Some(body))
        };
        let reply = actor.send(method.clone(), &url, body.as_deref(), &[]).await;
        conforms(&spec, &method.as_str().to_lowercase(), documented, &reply);
        exercised.insert(documented.to_owned());
    }
    let documented: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(exercised, documented, "every documented path is exercised");
}

#[test]
fn the_checker_catches_a_changed_shape() {
    let spec = spec();
    let message = serde_json::json!({"user":"a","verified":false,"admin":false,"bot":false,"chat":"Main","id":1,"text":"t","time":1});
    let schema = serde_json::json!({"$ref": "#/components/schemas/Message"});
    assert!(mismatch(&spec, &schema, &message, "body").is_none());
    let mut extra = message.clone();
    extra["LoginToken"] = "secret".into();
    assert!(
        mismatch(&spec, &schema, &extra, "body")
            .unwrap()
            .contains("undocumented key LoginToken")
    );
    let mut missing = message.clone();
    missing.as_object_mut().unwrap().remove("time");
    assert!(
        mismatch(&spec, &schema, &missing, "body")
            .unwrap()
            .contains("missing time")
    );
    let mut retyped = message;
    retyped["id"] = "3".into();
    assert!(mismatch(&spec, &schema, &retyped, "body").is_some());
}

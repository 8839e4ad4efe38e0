//! Settings of the database server that chatty's writes depend on, checked at start-up.
//!
//! The rows of `sessions` are rewritten all the time: every answer of the compatible poll
//! moves its session's cursor and every active session's last activity is written once a
//! second. Postgres reclaims the old versions of a row only when it vacuums the table; with
//! autovacuum off (or the statistics it decides from, `track_counts`), the table and its
//! indexes grow for as long as the server runs (with 1,000 clients polling a chat of 12
//! messages a second, by about 40 KB a second), index-only scans have to visit the table, and
//! the planner never learns how large the tables are. Nothing breaks at once, so the server
//! says so when it starts.

use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The settings checked.
const CHECKED: [&str; 2] = ["autovacuum", "track_counts"];

#[derive(QueryableByName)]
pub(crate) struct Setting {
    #[diesel(sql_type = Text)]
    pub(crate) name: String,
    #[diesel(sql_type = Text)]
    pub(crate) setting: String,
}

/// The checked settings as the server reports them.
pub(crate) async fn read(c: &mut AsyncPgConnection) -> Result<Vec<Setting>, diesel::result::Error> {
    diesel::sql_query("SELECT name, setting FROM pg_settings WHERE name = ANY($1) ORDER BY name")
        .bind::<diesel::sql_types::Array<Text>, _>(CHECKED.as_slice())
        .load(c)
        .await
}

/// What an operator should change, one sentence per setting that is off.
pub(crate) fn warnings(settings: &[Setting]) -> Vec<&'static str> {
    settings
        .iter()
        .filter(|s| s.setting == "off")
        .filter_map(|s| match s.name.as_str() {
            "autovacuum" => Some(
                "autovacuum is off on the database server: the sessions table, rewritten on \
                 every poll answer, will grow without bound; turn it on",
            ),
            "track_counts" => Some(
                "track_counts is off on the database server: autovacuum cannot tell which \
                 tables need vacuuming; turn it on",
            ),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(name: &str, value: &str) -> Setting {
        Setting {
            name: name.to_owned(),
            setting: value.to_owned(),
        }
    }

    #[test]
    fn a_setting_that_is_off_is_named_in_a_warning() {
        let off = warnings(&[setting("autovacuum", "off"), setting("track_counts", "on")]);
        assert_eq!(off.len(), 1);
        assert!(off[0].starts_with("autovacuum is off"), "{off:?}");

        let both = warnings(&[setting("autovacuum", "off"), setting("track_counts", "off")]);
        assert_eq!(both.len(), 2);
        assert!(both[1].starts_with("track_counts is off"), "{both:?}");
    }

    #[test]
    fn settings_that_are_on_give_no_warning() {
        assert!(warnings(&[setting("autovacuum", "on"), setting("track_counts", "on")]).is_empty());
    }

    /// The names are Postgres's own: a misspelt one would read nothing and never warn.
    #[tokio::test]
    async fn every_checked_setting_is_read_from_the_server() {
        let (_db, pool) = crate::PgStore::test_pool().await;
        let mut conn = pool.get().await.expect("a connection");
        let read = read(&mut conn).await.expect("the settings are read");
        let names: Vec<&str> = read.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, CHECKED);
        for s in &read {
            assert!(matches!(s.setting.as_str(), "on" | "off"), "{}", s.setting);
        }
    }
}

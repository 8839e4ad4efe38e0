//! The mail outbox.

use async_trait::async_trait;
use chatty_domain::ports::{MailOutbox, StoreError};
use chatty_domain::{Email, MailId, MailJob, OutgoingMail, Timestamp, Token, UserName};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::mail_outbox;
use crate::{PgStore, TxError, store_error, to_db_time};

/// Queues `mail`, due at once, inside the caller's transaction.
pub(crate) async fn enqueue(
    c: &mut AsyncPgConnection,
    mail: &OutgoingMail,
    created: Timestamp,
) -> Result<(), TxError> {
    let (kind, link, token) = match mail {
        OutgoingMail::Activation { link, .. } => ("activation", Some(link.clone()), None),
        OutgoingMail::PasswordReset { token, link, .. } => (
            "password_reset",
            link.clone(),
            Some(token.expose().to_owned()),
        ),
    };
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::kind.eq(kind),
            mail_outbox::recipient.eq(mail.to().as_str()),
            mail_outbox::user_name.eq(mail.user().as_str()),
            mail_outbox::link.eq(link),
            mail_outbox::token.eq(token),
            // Due before any clock reading, so a sender picks it up whatever its clock says.
            mail_outbox::due_at.eq(diesel::dsl::sql::<Timestamptz>("'-infinity'")),
            mail_outbox::created_at.eq(to_db_time(created)),
        ))
        .execute(c)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct JobRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    user_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    link: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    token: Option<String>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

fn job(row: JobRow) -> Result<MailJob, StoreError> {
    let JobRow {
        id,
        kind,
        recipient,
        user_name: user,
        link,
        token,
        attempts,
    } = row;
    let invalid = |e: chatty_domain::InvalidInput| StoreError::Unavailable(Box::new(e));
    let to = Email::parse(&recipient).map_err(invalid)?;
    let user = UserName::parse(&user).map_err(invalid)?;
    let mail = match (kind.as_str(), link, token) {
        ("activation", Some(link), _) => OutgoingMail::Activation { to, user, link },
        ("password_reset", link, Some(token)) => OutgoingMail::PasswordReset {
            to,
            user,
            token: Token::new(token),
            link,
        },
        _ => {
            return Err(StoreError::Unavailable(
                format!("malformed mail job {id}").into(),
            ));
        }
    };
    Ok(MailJob {
        id: MailId(u64::try_from(id).unwrap_or(0)),
        mail,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

fn row_id(id: MailId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

#[async_trait]
impl MailOutbox for PgStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<MailJob>, StoreError> {
        // Claimed rows are hidden until the lease ends; SKIP LOCKED lets senders on other
        // instances take other rows instead of waiting.
        let rows: Vec<JobRow> = diesel::sql_query(
            "UPDATE mail_outbox SET due_at = $1 WHERE id IN \
               (SELECT id FROM mail_outbox WHERE NOT failed AND due_at <= $2 \
                ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, recipient, user_name, link, token, attempts",
        )
        .bind::<Timestamptz, _>(to_db_time(lease_until))
        .bind::<Timestamptz, _>(to_db_time(now))
        .bind::<BigInt, _>(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(&mut *self.conn().await?)
        .await
        .map_err(store_error)?;
        let mut jobs = rows.into_iter().map(job).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    async fn mark_sent(&self, id: MailId) -> Result<(), StoreError> {
        diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq(row_id(id))))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn retry_later(
        &self,
        id: MailId,
        retry_at: Timestamp,
        error: &str,
    ) -> Result<(), StoreError> {
        diesel::update(mail_outbox::table.filter(mail_outbox::id.eq(row_id(id))))
            .set((
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::due_at.eq(to_db_time(retry_at)),
                mail_outbox::last_error.eq(error),
            ))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn mark_failed(&self, id: MailId, error: &str) -> Result<(), StoreError> {
        diesel::update(mail_outbox::table.filter(mail_outbox::id.eq(row_id(id))))
            .set((
                mail_outbox::attempts.eq(mail_outbox::attempts + 1),
                mail_outbox::failed.eq(true),
                mail_outbox::last_error.eq(error),
            ))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        let n: i64 = mail_outbox::table
            .filter(mail_outbox::failed.eq(false))
            .count()
            .get_result(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

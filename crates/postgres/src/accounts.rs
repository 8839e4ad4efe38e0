//! Registered accounts, with the mail their changes queue in the same transaction.

use async_trait::async_trait;
use chatty_domain::ports::{AccountRepository, Missing, StoreError};
use chatty_domain::{
    Account, Email, ExpiringToken, NewAccount, OutgoingMail, PasswordHash, Timestamp, Token,
    UserName,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::outbox::enqueue;
use crate::schema::accounts;
use crate::{PgStore, TxError, from_db_time, store_error, to_db_time};

#[derive(Queryable, Selectable)]
#[diesel(table_name = accounts)]
struct AccountRow {
    name: String,
    email: String,
    password_hash: String,
    verified: bool,
    admin: bool,
    bot: bool,
    activation_token: Option<String>,
    activation_expires_at: Option<DateTime<Utc>>,
    reset_token: Option<String>,
    reset_expires_at: Option<DateTime<Utc>>,
}

fn expiring(token: Option<String>, expires: Option<DateTime<Utc>>) -> Option<ExpiringToken> {
    Some(ExpiringToken {
        token: Token::new(token?),
        expires_at: from_db_time(expires?),
    })
}

impl AccountRow {
    fn into_account(self) -> Result<Account, StoreError> {
        let invalid = |e: chatty_domain::InvalidInput| StoreError::Unavailable(Box::new(e));
        Ok(Account {
            name: UserName::parse(&self.name).map_err(invalid)?,
            email: Email::parse(&self.email).map_err(invalid)?,
            password_hash: PasswordHash::new(self.password_hash),
            verified: self.verified,
            admin: self.admin,
            bot: self.bot,
            activation: expiring(self.activation_token, self.activation_expires_at),
            reset: expiring(self.reset_token, self.reset_expires_at),
        })
    }
}

async fn find_row(
    c: &mut AsyncPgConnection,
    name: &UserName,
    lock: bool,
) -> Result<Option<AccountRow>, TxError> {
    let query = accounts::table
        .filter(accounts::name_key.eq(name.folded()))
        .select(AccountRow::as_select());
    Ok(if lock {
        query.for_update().first(c).await.optional()?
    } else {
        query.first(c).await.optional()?
    })
}

#[async_trait]
impl AccountRepository for PgStore {
    async fn register(&self, account: &NewAccount, mail: &OutgoingMail) -> Result<(), StoreError> {
        let (account, mail) = (account.clone(), mail.clone());
        let mut conn = self.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async move |c| {
                diesel::insert_into(accounts::table)
                    .values((
                        accounts::name_key.eq(account.name.folded()),
                        accounts::name.eq(account.name.as_str()),
                        accounts::email.eq(account.email.as_str()),
                        accounts::email_key.eq(account.email.folded()),
                        accounts::password_hash.eq(account.password_hash.as_str()),
                        accounts::activation_token.eq(account.activation.token.expose()),
                        accounts::activation_expires_at
                            .eq(to_db_time(account.activation.expires_at)),
                        accounts::created_at.eq(to_db_time(account.created_at)),
                    ))
                    .execute(c)
                    .await?;
                enqueue(c, &mail, account.created_at).await
            })
            .await?)
    }

    async fn find(&self, name: &UserName) -> Result<Option<Account>, StoreError> {
        let row = find_row(&mut *self.conn().await?, name, false).await?;
        row.map(AccountRow::into_account).transpose()
    }

    async fn mark_verified(&self, name: &UserName) -> Result<(), StoreError> {
        let updated = diesel::update(accounts::table.filter(accounts::name_key.eq(name.folded())))
            .set(accounts::verified.eq(true))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        if updated == 0 {
            return Err(StoreError::NotFound(Missing::Account));
        }
        Ok(())
    }

    async fn renew_activation(
        &self,
        name: &UserName,
        activation: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError> {
        let (name, activation, mail) = (name.clone(), activation.clone(), mail.clone());
        let mut conn = self.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async move |c| {
                let updated = diesel::update(
                    accounts::table
                        .filter(accounts::name_key.eq(name.folded()))
                        .filter(accounts::verified.eq(false)),
                )
                .set((
                    accounts::activation_token.eq(activation.token.expose()),
                    accounts::activation_expires_at.eq(to_db_time(activation.expires_at)),
                ))
                .execute(c)
                .await?;
                if updated == 0 {
                    return Ok(false);
                }
                enqueue(c, &mail, Timestamp::default()).await?;
                Ok(true)
            })
            .await?)
    }

    async fn start_password_reset(
        &self,
        name: &UserName,
        reset: &ExpiringToken,
        mail: &OutgoingMail,
    ) -> Result<bool, StoreError> {
        let (name, reset, mail) = (name.clone(), reset.clone(), mail.clone());
        let mut conn = self.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async move |c| {
                let updated =
                    diesel::update(accounts::table.filter(accounts::name_key.eq(name.folded())))
                        .set((
                            accounts::reset_token.eq(reset.token.expose()),
                            accounts::reset_expires_at.eq(to_db_time(reset.expires_at)),
                        ))
                        .execute(c)
                        .await?;
                if updated == 0 {
                    return Ok(false);
                }
                enqueue(c, &mail, Timestamp::default()).await?;
                Ok(true)
            })
            .await?)
    }

    async fn complete_password_reset(
        &self,
        name: &UserName,
        token: &Token,
        new_hash: &PasswordHash,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (name, token, new_hash) = (name.clone(), token.clone(), new_hash.clone());
        let mut conn = self.conn().await?;
        Ok(conn
            .transaction::<_, TxError, _>(async move |c| {
                let Some(row) = find_row(c, &name, true).await? else {
                    return Ok(false);
                };
                let accepted = expiring(row.reset_token, row.reset_expires_at)
                    .is_some_and(|reset| reset.accepts(&token, now));
                if !accepted {
                    return Ok(false);
                }
                diesel::update(accounts::table.filter(accounts::name_key.eq(name.folded())))
                    .set((
                        accounts::password_hash.eq(new_hash.as_str()),
                        accounts::reset_token.eq(None::<String>),
                        accounts::reset_expires_at.eq(None::<DateTime<Utc>>),
                    ))
                    .execute(c)
                    .await?;
                Ok(true)
            })
            .await?)
    }

    async fn set_admin(&self, name: &UserName, admin: bool) -> Result<(), StoreError> {
        let updated = diesel::update(accounts::table.filter(accounts::name_key.eq(name.folded())))
            .set(accounts::admin.eq(admin))
            .execute(&mut *self.conn().await?)
            .await
            .map_err(store_error)?;
        if updated == 0 {
            return Err(StoreError::NotFound(Missing::Account));
        }
        Ok(())
    }
}

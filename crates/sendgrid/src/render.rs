//! The text of the mails. User names and addresses were validated by the domain (no control
//! characters, no header syntax); lettre encodes non-ASCII names in headers.

use chatty_domain::OutgoingMail;
use chatty_domain::ports::BoxError;
use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

pub(crate) const ACTIVATION_SUBJECT: &str = "Confirm your e-mail address for chatty";
pub(crate) const RESET_SUBJECT: &str = "Your chatty password reset";

pub(crate) fn render(mail: &OutgoingMail, from: &Mailbox) -> Result<Message, BoxError> {
    let to = Mailbox::new(
        Some(mail.user().as_str().to_owned()),
        mail.to().as_str().parse()?,
    );
    let (subject, body) = match mail {
        OutgoingMail::Activation { user, link, .. } => (
            ACTIVATION_SUBJECT,
            format!(
                "Hello, {user}!\r\n\r\nWelcome to chatty. Please confirm your e-mail address by \
                 opening this link:\r\n\r\n{link}\r\n\r\nIf you did not register, you can ignore \
                 this mail.\r\n"
            ),
        ),
        OutgoingMail::PasswordReset {
            user, token, link, ..
        } => {
            let how = match link {
                Some(link) => format!(
                    "Open this link to choose a new password:\r\n\r\n{link}\r\n\r\nor enter this reset token in the password reset form:"
                ),
                None => "Enter this reset token in the password reset form:".to_owned(),
            };
            (
                RESET_SUBJECT,
                format!(
                    "Hello, {user}!\r\n\r\nSomebody asked to reset your chatty password. {how}\r\n\r\n{}\r\n\r\nThe token works once, for a limited time. If you did not ask for it, ignore this mail.\r\n",
                    token.expose()
                ),
            )
        }
    };
    Ok(Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(body)?)
}

//! A notice to the operators (a failed run, a silent job, messages given up): plain facts.

use super::context::Email;
use crate::domain::address::Mailbox;
use crate::domain::money::Language;
use crate::notify::templates::{views, Templates};

/// A notice to the operators (a failed run, a silent job): plain facts, in English.
pub fn operator_notice(
    templates: &Templates,
    lang: Language,
    to: &[Mailbox],
    subject: &str,
    lines: &[String],
) -> Email {
    let view = views::Notice {
        lang: lang.code(),
        subject: subject.to_string(),
        lines: lines.to_vec(),
    };
    Email {
        to: to.to_vec(),
        cc: Vec::new(),
        subject: subject.to_string(),
        text: templates.render("notice.txt", &view),
        html: templates.render("notice.html", &view),
        attachments: Vec::new(),
        inline: Vec::new(),
    }
}

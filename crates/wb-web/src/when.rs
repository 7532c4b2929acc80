//! Times on pages. Each is a `<time datetime="2026-12-05T14:30:00Z" data-local="datetime">`
//! element holding the UTC text ("Dec 5, 2026 14:30 UTC", or "Dec 5, 2026" for a date);
//! `static/app.js` rewrites the text into the reader's local time zone, and without script the
//! UTC text stays. E-mails keep the plain UTC text ([`crate::AppState::datetime`]).

use std::fmt;

/// How much of a time a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// "Dec 5, 2026": completion and expiry dates.
    Date,
    /// "Dec 5, 2026 14:30 UTC": when something becomes possible.
    DateTime,
}

/// A time as a page shows it. Renders (through `Display`, used with askama's `|safe`) as a
/// `<time>` element; its text is escaped here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub at: i64,
    pub precision: Precision,
}

impl Stamp {
    pub fn date(at: i64) -> Self {
        Self {
            at,
            precision: Precision::Date,
        }
    }

    pub fn datetime(at: i64) -> Self {
        Self {
            at,
            precision: Precision::DateTime,
        }
    }

    /// The machine-readable time: RFC 3339 in UTC ("2026-12-05T14:30:00Z").
    pub fn rfc3339(&self) -> String {
        chrono::DateTime::from_timestamp(self.at, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    }

    /// The text shown without script, in UTC.
    pub fn utc_text(&self) -> String {
        let format = match self.precision {
            Precision::Date => "%b %-d, %Y",
            Precision::DateTime => "%b %-d, %Y %H:%M UTC",
        };
        chrono::DateTime::from_timestamp(self.at, 0)
            .map(|d| d.format(format).to_string())
            .unwrap_or_default()
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.precision {
            Precision::Date => "date",
            Precision::DateTime => "datetime",
        };
        write!(
            f,
            "<time datetime=\"{}\" data-local=\"{kind}\">{}</time>",
            escape(&self.rfc3339()),
            escape(&self.utc_text())
        )
    }
}

impl askama::filters::HtmlSafe for Stamp {}

/// A line of page text with times in it: text parts are escaped, times are `<time>` elements.
/// Renders with askama's `|safe`; [`Rich::plain`] is the same line as plain UTC text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rich {
    html: String,
    plain: String,
}

impl Rich {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends text.
    pub fn text(mut self, text: &str) -> Self {
        self.html.push_str(&escape(text));
        self.plain.push_str(text);
        self
    }

    /// Appends a time.
    pub fn time(mut self, stamp: Stamp) -> Self {
        self.html.push_str(&stamp.to_string());
        self.plain.push_str(&stamp.utc_text());
        self
    }

    /// Appends another line.
    pub fn rich(mut self, other: &Rich) -> Self {
        self.html.push_str(&other.html);
        self.plain.push_str(&other.plain);
        self
    }

    /// The line as plain text, times in UTC.
    pub fn plain(&self) -> &str {
        &self.plain
    }
}

impl fmt::Display for Rich {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.html)
    }
}

impl askama::filters::HtmlSafe for Rich {}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_a_time_element_with_the_utc_text() {
        let t = 1_796_481_000; // 2026-12-05 14:30 UTC
        assert_eq!(
            Stamp::datetime(t).to_string(),
            "<time datetime=\"2026-12-05T14:30:00Z\" data-local=\"datetime\">Dec 5, 2026 14:30 UTC</time>"
        );
        assert_eq!(
            Stamp::date(t).to_string(),
            "<time datetime=\"2026-12-05T14:30:00Z\" data-local=\"date\">Dec 5, 2026</time>"
        );
    }

    #[test]
    fn rich_text_escapes_its_text() {
        let r = Rich::new()
            .text("<b>Done</b> & on: ")
            .time(Stamp::date(1_796_481_000));
        assert!(
            r.to_string()
                .starts_with("&lt;b&gt;Done&lt;/b&gt; &amp; on: <time ")
        );
        assert_eq!(r.plain(), "<b>Done</b> & on: Dec 5, 2026");
    }
}

//! What text people may type into the workbench.
//!
//! Names, addresses and other one-line fields refuse every control character (line breaks
//! included: a name with CR/LF could add lines to someone else's e-mail) and the Unicode
//! text-direction controls (an RTL override makes "cod.exe" show as "exe.doc", or reorders a
//! workspace name in someone else's list). Longer answers may hold line breaks and tabs, and
//! nothing else of the kind.

/// How a field may be laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line: names, addresses, short answers.
    Line,
    /// Paragraphs: line breaks and tabs allowed.
    Paragraphs,
}

/// The message for a refused one-line field.
pub const LINE_MESSAGE: &str = "Use one line of ordinary text: line breaks, control characters \
and text-direction controls are not allowed.";
/// The message for a refused longer text.
pub const PARAGRAPHS_MESSAGE: &str =
    "Remove the control characters and text-direction controls from this text.";

/// The Unicode bidirectional formatting characters (marks, embeddings, overrides, isolates).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Characters no field accepts as text, whatever its kind allows besides.
fn refused(c: char, kind: Kind) -> bool {
    let layout = matches!(c, '\n' | '\r' | '\t');
    (c.is_control() && !(kind == Kind::Paragraphs && layout))
        || is_bidi_control(c)
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// `Err(message)` when `s` holds a character its kind refuses.
pub fn check(s: &str, kind: Kind) -> Result<(), &'static str> {
    if s.chars().any(|c| refused(c, kind)) {
        Err(match kind {
            Kind::Line => LINE_MESSAGE,
            Kind::Paragraphs => PARAGRAPHS_MESSAGE,
        })
    } else {
        Ok(())
    }
}

/// `s` safe to print on a terminal: control and text-direction characters appear as
/// `\u{…}` escapes (an administrator's terminal must not run escape sequences a visitor typed).
pub fn escape_for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
        {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_refuse_breaks_controls_and_direction_overrides() {
        assert_eq!(check("Morgan Lee-O'Brien, PhD", Kind::Line), Ok(()));
        assert_eq!(check("Zoë Ñúñez 王秀英 محمد", Kind::Line), Ok(()));
        for bad in [
            "Morgan\r\nBcc: x@example.org",
            "a\tb",
            "a\u{7}b",
            "a\u{1b}[31mb",
            "cod\u{202E}exe.doc",
            "a\u{2066}b",
            "a\u{200F}b",
            "a\u{2028}b",
        ] {
            assert_eq!(check(bad, Kind::Line), Err(LINE_MESSAGE), "{bad:?}");
        }
    }

    #[test]
    fn paragraphs_keep_line_breaks_only() {
        assert_eq!(
            check("First.\r\n\r\nSecond\tindented.", Kind::Paragraphs),
            Ok(())
        );
        assert_eq!(
            check("a\u{202E}b", Kind::Paragraphs),
            Err(PARAGRAPHS_MESSAGE)
        );
        assert_eq!(check("a\u{0}b", Kind::Paragraphs), Err(PARAGRAPHS_MESSAGE));
    }

    #[test]
    fn terminal_output_is_escaped() {
        assert_eq!(
            escape_for_terminal("Lakeview\u{1b}[2J\u{202E}x\ny"),
            "Lakeview\\u{001b}[2J\\u{202e}x\\u{000a}y"
        );
        assert_eq!(escape_for_terminal("Zoë"), "Zoë");
    }

    proptest! {
        /// Whatever is accepted as a line prints unchanged, and what prints escaped holds no
        /// control or direction character.
        #[test]
        fn accepted_lines_print_as_typed(s in "\\PC*") {
            if check(&s, Kind::Line).is_ok() {
                prop_assert_eq!(escape_for_terminal(&s), s.clone());
            }
            let e = escape_for_terminal(&s);
            prop_assert!(check(&e, Kind::Line).is_ok());
        }
    }
}

//! Rust source reduced to what the import graph reads: identifiers, `::` and single marks,
//! each with its line. Comments, strings, characters, lifetimes and numbers are dropped, so a
//! path in a doc comment or a message is never taken for an import.

/// One token of the reduced source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An identifier or keyword (`r#type` is `type`).
    Ident(String),
    /// `::`.
    PathSep,
    /// Any other single character of code: `{`, `}`, `;`, `*`, `,`, `<`, ...
    Mark(char),
}

/// A token and the line it starts on (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub token: Token,
    pub line: usize,
}

/// The tokens of `text`.
pub fn tokens(text: &str) -> Vec<Located> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer {
        chars: &chars,
        at: 0,
        line: 1,
    };
    let mut out = Vec::new();
    while let Some(c) = lexer.peek(0) {
        let line = lexer.line;
        let token = match c {
            _ if c.is_whitespace() => {
                lexer.bump();
                None
            }
            '/' if lexer.peek(1) == Some('/') => {
                lexer.skip_while(|c| c != '\n');
                None
            }
            '/' if lexer.peek(1) == Some('*') => {
                lexer.skip_block_comment();
                None
            }
            '"' => {
                lexer.skip_string();
                None
            }
            '\'' => {
                lexer.skip_char_or_lifetime();
                None
            }
            ':' if lexer.peek(1) == Some(':') => {
                lexer.at += 2;
                Some(Token::PathSep)
            }
            _ if c.is_ascii_digit() => {
                lexer.skip_while(|c| c.is_alphanumeric() || c == '_');
                None
            }
            _ if c.is_alphabetic() || c == '_' => lexer.word(),
            _ => {
                lexer.bump();
                Some(Token::Mark(c))
            }
        };
        if let Some(token) = token {
            out.push(Located { token, line });
        }
    }
    out
}

struct Lexer<'a> {
    chars: &'a [char],
    at: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn bump(&mut self) {
        if self.peek(0) == Some('\n') {
            self.line += 1;
        }
        self.at += 1;
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek(0).is_some_and(&keep) {
            self.bump();
        }
    }

    /// `/* ... */`, nested as Rust nests them.
    fn skip_block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.peek(0) {
            match (c, self.peek(1)) {
                ('/', Some('*')) => {
                    depth += 1;
                    self.at += 2;
                }
                ('*', Some('/')) => {
                    depth -= 1;
                    self.at += 2;
                    if depth == 0 {
                        return;
                    }
                }
                _ => self.bump(),
            }
        }
    }

    /// A `"..."` string, from its opening quote.
    fn skip_string(&mut self) {
        self.bump();
        while let Some(c) = self.peek(0) {
            self.bump();
            match c {
                '\\' => self.bump(),
                '"' => return,
                _ => {}
            }
        }
    }

    /// A raw string from its `r`: `r"..."`, `r#"..."#`, ...
    fn skip_raw_string(&mut self) {
        self.bump();
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            hashes += 1;
            self.bump();
        }
        self.bump(); // the opening quote
        while let Some(c) = self.peek(0) {
            self.bump();
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.at += hashes;
                return;
            }
        }
    }

    /// `'x'`, `'\n'`, `'\u{1F600}'`, or a lifetime or label (`'a`, `'static`).
    fn skip_char_or_lifetime(&mut self) {
        if self.peek(1) == Some('\\') {
            self.at += 2;
            self.bump();
            self.skip_while(|c| c != '\'');
            self.bump();
        } else if self.peek(2) == Some('\'') {
            self.at += 3;
        } else {
            self.bump();
            self.skip_while(|c| c.is_alphanumeric() || c == '_');
        }
    }

    /// An identifier, or the literal it prefixes (`b"..."`, `r#"..."#`, `b'x'`, `c"..."`).
    fn word(&mut self) -> Option<Token> {
        let (first, second, third) = (self.peek(0), self.peek(1), self.peek(2));
        match (first, second, third) {
            (Some('b' | 'c'), Some('"'), _) => {
                self.at += 1;
                self.skip_string();
                return None;
            }
            (Some('b'), Some('\''), _) => {
                self.at += 1;
                self.skip_char_or_lifetime();
                return None;
            }
            (Some('r'), Some('"'), _) | (Some('r'), Some('#'), Some('"' | '#')) => {
                self.skip_raw_string();
                return None;
            }
            (Some('b' | 'c'), Some('r'), Some('"' | '#')) => {
                self.at += 1;
                self.skip_raw_string();
                return None;
            }
            (Some('r'), Some('#'), _) => self.at += 2, // a raw identifier: `r#type`
            _ => {}
        }
        let start = self.at;
        self.skip_while(|c| c.is_alphanumeric() || c == '_');
        Some(Token::Ident(self.chars[start..self.at].iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokens(text)
            .into_iter()
            .map(|t| match t.token {
                Token::Ident(name) => name,
                Token::PathSep => "::".to_owned(),
                Token::Mark(c) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn code_is_kept_and_text_dropped() {
        assert_eq!(
            words("use crate::a::{b, c}; // crate::d\n"),
            ["use", "crate", "::", "a", "::", "{", "b", ",", "c", "}", ";"]
        );
        assert_eq!(
            words(r####"f("crate::x", r#"super::y"#, b"self::z", '"', '\'', 'a', "\"")"####),
            ["f", "(", ",", ",", ",", ",", ",", ",", ")"]
        );
        assert_eq!(
            words("fn f<'a>(x: &'a str) /* super::a /* nested */ crate::b */ -> r#type {}"),
            ["fn", "f", "<", ">", "(", "x", ":", "&", "str", ")", "-", ">", "type", "{", "}"]
        );
        assert_eq!(
            words("let x = 0x1f_u8 + 2.5e3;"),
            ["let", "x", "=", "+", ".", ";"]
        );
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let found = tokens("a\n/* \n */ \"\n\" b\n// c\nd");
        let lines: Vec<usize> = found.iter().map(|t| t.line).collect();
        assert_eq!(lines, [1, 4, 6]);
    }
}

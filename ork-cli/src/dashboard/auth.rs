//! The standalone dashboard's login: a bearer token or basic-auth users,
//! read from files, checked in constant time.

use std::fmt;
use std::path::Path;

use crate::error::{CliError, Result, USAGE};

/// Who may use the dashboard.
pub(crate) enum Login {
    /// Anyone who reaches it.
    None,
    /// Whoever sends this token (as a bearer token, or as a basic-auth
    /// password with any user name, which is how a browser sends it).
    Token(Vec<u8>),
    /// These users, each with a password.
    Basic(Vec<(String, Vec<u8>)>),
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secrets.
        match self {
            Login::None => f.write_str("Login::None"),
            Login::Token(_) => f.write_str("Login::Token(..)"),
            Login::Basic(users) => write!(f, "Login::Basic({} users)", users.len()),
        }
    }
}

fn read(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        CliError::new(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
        .code_of(USAGE)
    })
}

impl Login {
    /// A token: the file's content, without surrounding whitespace.
    pub(crate) fn token_file(path: &Path) -> Result<Login> {
        let token = read(path, "token")?.trim().to_owned();
        if token.len() < 16 {
            return Err(CliError::new(format!(
                "the token in {} is {} characters long; use at least 16 (e.g. `openssl rand -hex 32`)",
                path.display(),
                token.len()
            ))
            .code_of(USAGE));
        }
        Ok(Login::Token(token.into_bytes()))
    }

    /// Users: `user:password` lines; blank lines and `#` comments skipped.
    pub(crate) fn basic_file(path: &Path) -> Result<Login> {
        let text = read(path, "basic-auth")?;
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    users.push((user.to_owned(), password.as_bytes().to_vec()));
                }
                _ => {
                    return Err(CliError::new(format!(
                        "{} line {}: expected `user:password`",
                        path.display(),
                        n + 1
                    ))
                    .code_of(USAGE))
                }
            }
        }
        if users.is_empty() {
            return Err(
                CliError::new(format!("{} holds no `user:password` line", path.display()))
                    .code_of(USAGE),
            );
        }
        Ok(Login::Basic(users))
    }

    /// For the start-up line.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Login::None => "no login",
            Login::Token(_) => "login: bearer token",
            Login::Basic(_) => "login: basic auth",
        }
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub(crate) fn challenge(&self) -> &'static str {
        match self {
            Login::Token(_) => "Basic realm=\"ork dashboard (password: the token)\", Bearer",
            _ => "Basic realm=\"ork dashboard\"",
        }
    }

    /// The actor an `Authorization` header logs in as, or `None`. Every
    /// configured secret is compared, in constant time, whatever matched.
    pub(crate) fn verify(&self, authorization: Option<&[u8]>) -> Option<String> {
        let header = authorization?;
        let scheme_end = header.iter().position(|&b| b == b' ')?;
        let (scheme, rest) = header.split_at(scheme_end);
        let rest = rest.trim_ascii();
        let basic = if scheme.eq_ignore_ascii_case(b"basic") {
            let decoded = base64_decode(rest)?;
            let colon = decoded.iter().position(|&b| b == b':')?;
            let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
            Some((user, decoded[colon + 1..].to_vec()))
        } else {
            None
        };
        match self {
            Login::None => None,
            Login::Token(token) => {
                if scheme.eq_ignore_ascii_case(b"bearer") {
                    constant_time_eq(rest, token).then(|| "token".to_owned())
                } else {
                    let (user, password) = basic?;
                    let ok = constant_time_eq(&password, token);
                    ok.then(|| {
                        if user.is_empty() {
                            "token".to_owned()
                        } else {
                            format!("{user} (token)")
                        }
                    })
                }
            }
            Login::Basic(users) => {
                let (user, password) = basic?;
                let mut found = None;
                for (name, secret) in users {
                    // Both compared for every line: the time taken says
                    // nothing about which user exists.
                    let name_ok = constant_time_eq(user.as_bytes(), name.as_bytes());
                    let password_ok = constant_time_eq(&password, secret);
                    if name_ok & password_ok && found.is_none() {
                        found = Some(name.clone());
                    }
                }
                found
            }
        }
    }
}

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths, never on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Standard base64 (with or without padding); `None` if malformed.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = match text.iter().position(|&c| c == b'=') {
        Some(i) if text[i..].iter().all(|&c| c == b'=') => &text[..i],
        Some(_) => return None,
        None => text,
    };
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(value(c)?) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(!constant_time_eq(b"a\0", b"a"));
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(
            base64_decode(b"YWxpY2U6czNjcmV0").as_deref(),
            Some(&b"alice:s3cret"[..])
        );
        assert_eq!(base64_decode(b"YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode(b"YWI").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode(b"Y=Q="), None);
        assert_eq!(base64_decode(b"Y"), None);
        assert_eq!(base64_decode(b"*AAA"), None);
    }

    #[test]
    fn logins_name_their_actor() {
        let token = Login::Token(b"0123456789abcdef".to_vec());
        assert_eq!(
            token.verify(Some(b"Bearer 0123456789abcdef")).as_deref(),
            Some("token")
        );
        assert_eq!(token.verify(Some(b"Bearer 0123456789abcdeF")), None);
        assert_eq!(token.verify(None), None);
        // A browser: basic auth, the token as password.
        // "ops:0123456789abcdef"
        assert_eq!(
            token
                .verify(Some(b"Basic b3BzOjAxMjM0NTY3ODlhYmNkZWY="))
                .as_deref(),
            Some("ops (token)")
        );
        let users = Login::Basic(vec![
            ("alice".into(), b"s3cret".to_vec()),
            ("bob".into(), b"hunter2".to_vec()),
        ]);
        assert_eq!(
            users.verify(Some(b"Basic YWxpY2U6czNjcmV0")).as_deref(),
            Some("alice")
        );
        // alice:hunter2 (bob's password)
        assert_eq!(users.verify(Some(b"Basic YWxpY2U6aHVudGVyMg==")), None);
        assert_eq!(users.verify(Some(b"Bearer s3cret")), None);
    }
}

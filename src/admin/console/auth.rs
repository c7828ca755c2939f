//! Who may use the console: with an admin token configured, a browser that
//! logged in with it holds a session cookie (HttpOnly, SameSite=Strict,
//! signed, twelve hours); without one, the admin listener is loopback-only
//! (config checks it) and no login is asked. Every state-changing request
//! is a POST carrying a CSRF token that only a page of the console can
//! read, and a same-origin `Sec-Fetch-Site`/`Origin` when the browser
//! sends one.
//!
//! Nothing is stored: the cookie is its expiry signed with a key derived
//! from the admin token (so changing the token logs everyone out), and the
//! CSRF token is the cookie signed again.

use ring::hmac;

pub const COOKIE: &str = "gatehouse_console";
const SESSION_SECS: i64 = 12 * 3600;

pub struct ConsoleAuth {
    key: hmac::Key,
    /// The admin token, when one is configured.
    token: Option<String>,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    /// Logged in, or no token is configured: `csrf` is the token its forms carry.
    Granted { csrf: String },
    /// A token is configured and the request has no valid session.
    LogIn,
}

impl ConsoleAuth {
    /// `fallback` signs CSRF tokens when no admin token is configured (a
    /// random key per process).
    pub fn new(token: Option<&str>, fallback: &[u8; 32]) -> ConsoleAuth {
        let secret = match token {
            Some(t) => ring::digest::digest(
                &ring::digest::SHA256,
                format!("gatehouse-console:{t}").as_bytes(),
            )
            .as_ref()
            .to_vec(),
            None => fallback.to_vec(),
        };
        ConsoleAuth {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            token: token.map(str::to_string),
        }
    }

    fn sign(&self, text: &str) -> String {
        crate::hex::encode(hmac::sign(&self.key, text.as_bytes()).as_ref())
    }

    /// The request's access, from its Cookie header.
    pub fn access(&self, cookie_header: Option<&str>, now: i64) -> Access {
        if self.token.is_none() {
            return Access::Granted {
                csrf: self.sign("csrf:open"),
            };
        }
        match session_of(cookie_header).filter(|s| self.valid(s, now)) {
            Some(session) => Access::Granted {
                csrf: self.sign(&format!("csrf:{session}")),
            },
            None => Access::LogIn,
        }
    }

    fn valid(&self, session: &str, now: i64) -> bool {
        let Some((expiry, signature)) = session.split_once('.') else {
            return false;
        };
        let fresh = expiry.parse::<i64>().is_ok_and(|e| e > now);
        fresh && crate::secret::equal(signature.as_bytes(), self.sign(expiry).as_bytes())
    }

    /// The Set-Cookie value for a login with `presented`, if it is the token.
    pub fn log_in(&self, presented: &str, now: i64) -> Option<String> {
        let token = self.token.as_ref()?;
        if !crate::secret::equal(presented.as_bytes(), token.as_bytes()) {
            return None;
        }
        let expiry = (now + SESSION_SECS).to_string();
        let session = format!("{expiry}.{}", self.sign(&expiry));
        Some(format!(
            "{COOKIE}={session}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}"
        ))
    }

    /// The Set-Cookie value that ends a session.
    pub fn log_out() -> String {
        format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }
}

fn session_of(cookie_header: Option<&str>) -> Option<&str> {
    cookie_header?
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Whether a state-changing request may go on: the CSRF field matches,
/// and a browser that says where the request came from says this origin.
pub fn same_origin(csrf_expected: &str, csrf_sent: Option<&str>, fetch_site: Option<&str>) -> bool {
    let token_ok =
        csrf_sent.is_some_and(|t| crate::secret::equal(t.as_bytes(), csrf_expected.as_bytes()));
    let site_ok = fetch_site.is_none_or(|s| s == "same-origin");
    token_ok && site_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_expire_and_carry_their_csrf_token() {
        let auth = ConsoleAuth::new(Some("s3cret-token"), &[7; 32]);
        assert_eq!(auth.access(None, 100), Access::LogIn);
        assert_eq!(auth.log_in("wrong", 100), None);
        let set = auth.log_in("s3cret-token", 100).unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        let Access::Granted { csrf } = auth.access(Some(&format!("a=b; {cookie}")), 200) else {
            panic!("the session is valid");
        };
        assert!(same_origin(&csrf, Some(&csrf), Some("same-origin")));
        assert!(!same_origin(&csrf, Some(&csrf), Some("cross-site")));
        assert!(!same_origin(&csrf, Some("forged"), None));
        // Expired, tampered, or made under another token: refused.
        assert_eq!(
            auth.access(Some(&cookie), 100 + SESSION_SECS + 1),
            Access::LogIn
        );
        let tampered = cookie.replacen(&(100 + SESSION_SECS).to_string(), "99999999999", 1);
        assert_eq!(auth.access(Some(&tampered), 200), Access::LogIn);
        let other = ConsoleAuth::new(Some("another-token"), &[7; 32]);
        assert_eq!(other.access(Some(&cookie), 200), Access::LogIn);
        // Without a token: open, with a CSRF token all the same.
        let open = ConsoleAuth::new(None, &[7; 32]);
        assert!(matches!(open.access(None, 0), Access::Granted { .. }));
    }
}

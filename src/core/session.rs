//! The worker session created after a sign-in, and the pending logout.

use serde::{Deserialize, Serialize};

/// A session lives as long as the ID token, and at least 12 hours.
pub const MIN_SESSION_SECS: u64 = 12 * 3600;
/// An IdP's far-future `exp` does not make a session of years.
pub const MAX_SESSION_SECS: u64 = 30 * 24 * 3600;
pub const PENDING_LOGOUT_TTL_SECS: u64 = 600;

#[derive(Debug, Serialize, Deserialize)]
pub struct Session {
    pub tenant: String,
    pub sub: String,
    /// The raw ID token, sealed under CONFIG_KEY (used as `id_token_hint` at logout).
    pub id_token_sealed: String,
    pub expires_at: u64,
}

/// Seconds the session should live: until the ID token's `exp` or 12 h, whichever is later
/// (SPEC), and never more than 30 days.
pub fn session_ttl(now: u64, id_token_exp: u64) -> u64 {
    id_token_exp
        .saturating_sub(now)
        .clamp(MIN_SESSION_SECS, MAX_SESSION_SECS)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogout {
    pub tenant: String,
}

/// The associated data sealing a session's ID token to its session id.
pub fn id_token_aad(session_id: &str) -> String {
    format!("session:{session_id}:id_token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_the_later_of_exp_and_12h() {
        assert_eq!(session_ttl(1000, 1000 + 3600), MIN_SESSION_SECS);
        assert_eq!(session_ttl(1000, 1000 + 86_400), 86_400);
        assert_eq!(session_ttl(1000, 10), MIN_SESSION_SECS);
        assert_eq!(session_ttl(1000, u64::MAX), MAX_SESSION_SECS);
    }
}

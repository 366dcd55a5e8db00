//! The page a member sees when sign-in cannot go on: the right status, a sentence they can
//! act on, and never an internal detail. What the IdP said is shown only escaped and capped.

use std::borrow::Cow;

use super::{html_escape, safe_href, text_escape, Document, Icon, Page, Tone};

/// Longest IdP-supplied text shown; a description is advice, not a document.
const MAX_DESCRIPTION_CHARS: usize = 300;
/// OAuth error codes are short tokens; anything longer is not one.
const MAX_ERROR_CODE_CHARS: usize = 64;

/// Why a member's sign-in stopped, in the member's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No pending login for the callback's `state` (used, expired or never started).
    ExpiredLink,
    /// The browser-binding cookie does not match the pending login (login CSRF).
    CsrfMismatch,
    /// The IdP answered `error=access_denied`.
    AccessDenied {
        description: Option<String>,
    },
    /// The IdP answered with another OAuth `error`.
    IdpError {
        error: String,
        description: Option<String>,
    },
    /// The callback's `iss` (RFC 9207) is not the tenant's issuer.
    IssuerMismatch,
    /// The token endpoint refused the code (`invalid_grant` and friends).
    TokenRejected,
    /// The IdP failed: 5xx, not JSON, no `id_token`, a redirect, unreachable.
    IdpUnavailable,
    /// The IdP did not answer within the time limit.
    IdpTimeout,
    /// The ID token failed verification.
    VerificationFailed,
    /// Neither the ID token nor userinfo named an email.
    NoEmail,
    /// `email_verified: false` and the tenant does not allow that.
    EmailUnverified,
    /// The provisioning webhook did not answer in time; the delivery is queued.
    ProvisioningPending,
    /// The provisioning webhook refused the member for good (a 4xx other than 429).
    ProvisioningRefused,
    /// The tenant has switched single sign-on off.
    SsoDisabled,
    NotFound,
    MethodNotAllowed,
    TooLarge,
    UriTooLong,
    BadRequest,
    /// An apex callback whose `state` names no pending login.
    UnknownState,
    /// The tenant's configuration cannot be used.
    Misconfigured,
    /// A step-up parameter (`prompt`, `max_age`, `acr_values`) is malformed or would weaken
    /// the tenant's own requirement.
    StepUpInvalid,
    /// `/login/initiate` names an issuer that is not this tenant's.
    NotForThisPortal,
    /// The ID token does not meet the login's `max_age`, `prompt=login` or `acr_values`.
    RequirementsNotMet {
        tenant: String,
    },
    /// `allowed_email_domains` or `allowed_groups` refuse the member.
    NotAllowed {
        tenant: String,
    },
    /// Over a rate limit.
    RateLimited,
    /// An `/app/login` whose `redirect_uri` is missing or not registered.
    AppLinkInvalid,
}

/// What a problem page says; all static text written here.
struct Copy {
    status: u16,
    title: &'static str,
    sentence: Cow<'static, str>,
    icon: Icon,
    tone: Tone,
}

impl Problem {
    /// The HTTP status this problem is answered with.
    pub fn status(&self) -> u16 {
        self.copy().status
    }

    fn copy(&self) -> Copy {
        use Problem::*;
        let (status, title, sentence, icon, tone) = match self {
            ExpiredLink => (400, "This sign-in link has expired",
                "Sign-in links work once and only for a few minutes, and this sign-in link has \
                 expired \u{2014} start again to get a fresh one.",
                Icon::Clock, Tone::Warn),
            CsrfMismatch => (400, "We couldn\u{2019}t confirm this sign-in",
                "It was started in a different browser, or your browser didn\u{2019}t keep our \
                 cookie. Start again in this browser.", Icon::Alert, Tone::Warn),
            AccessDenied { .. } => (400, "You don\u{2019}t have access yet",
                "It looks like your account is not assigned to this application \u{2014} ask your \
                 administrator.",
                Icon::Lock, Tone::Warn),
            IdpError { error, .. } if error == "access_denied" => {
                return AccessDenied { description: None }.copy()
            }
            IdpError { .. } => (400, "Your identity provider couldn\u{2019}t sign you in",
                "Start again, and if it keeps happening, ask your administrator.",
                Icon::Alert, Tone::Warn),
            IssuerMismatch => (400, "We couldn\u{2019}t confirm this sign-in",
                "The answer didn\u{2019}t come from your organisation\u{2019}s identity provider. \
                 Start again, and if it keeps happening, ask your administrator.",
                Icon::Alert, Tone::Warn),
            TokenRejected => (400, "Sign-in couldn\u{2019}t be completed",
                "Your identity provider didn\u{2019}t accept this sign-in, perhaps because it took \
                 too long or was already used. Start again.", Icon::Alert, Tone::Warn),
            IdpUnavailable => (502, "Your identity provider isn\u{2019}t responding",
                "We couldn\u{2019}t reach your organisation\u{2019}s sign-in service just now. \
                 Please try again in a few minutes.", Icon::Clock, Tone::Wait),
            IdpTimeout => (504, "Your identity provider is taking too long",
                "Your organisation\u{2019}s sign-in service didn\u{2019}t answer in time. \
                 Please try again in a moment.", Icon::Clock, Tone::Wait),
            VerificationFailed => (502, "We couldn\u{2019}t verify your sign-in",
                "Sorry: your identity provider's answer could not be verified, so you were not \
                 signed in. Start again, and if it keeps happening, ask your administrator.",
                Icon::Alert, Tone::Warn),
            NoEmail => (502, "Your email address is missing",
                "Your identity provider didn\u{2019}t share an email address for your account, \
                 and it is needed to find your membership. Ask your administrator.",
                Icon::Alert, Tone::Warn),
            EmailUnverified => (403, "Your email address isn\u{2019}t verified",
                "Your identity provider says the email address on your account hasn\u{2019}t \
                 been verified. Verify it there, then sign in again.", Icon::Alert, Tone::Warn),
            ProvisioningPending => (503, "Your account is almost ready",
                "Sorry, we could not finish setting up your account \u{2014} try again in a minute.",
                Icon::Clock, Tone::Wait),
            ProvisioningRefused => (403, "We couldn\u{2019}t create your account",
                "This portal didn\u{2019}t accept a new account for you. Contact the space\u{2019}s \
                 team to get access.", Icon::Lock, Tone::Warn),
            SsoDisabled => (404, "Single sign-on isn\u{2019}t available",
                "Signing in with your organisation\u{2019}s account isn\u{2019}t turned on for \
                 this portal.", Icon::Lock, Tone::Neutral),
            NotFound => (404, "Page not found",
                "There\u{2019}s nothing at this address. Check the link and try again.",
                Icon::Compass, Tone::Neutral),
            MethodNotAllowed => (405, "This address can\u{2019}t be used that way",
                "Go back and try again.", Icon::Compass, Tone::Neutral),
            TooLarge => (413, "That request was too large",
                "The sign-in answer was larger than we accept. Start again.", Icon::Alert, Tone::Warn),
            UriTooLong => (414, "That link was too long",
                "The sign-in link was longer than we accept. Start again.", Icon::Alert, Tone::Warn),
            BadRequest => (400, "Something\u{2019}s wrong with that request",
                "We couldn\u{2019}t understand it. Start again.", Icon::Alert, Tone::Warn),
            UnknownState => (400, "We couldn\u{2019}t find this sign-in",
                "It has expired or wasn\u{2019}t started here. Start again from your portal.",
                Icon::Clock, Tone::Warn),
            Misconfigured => (503, "Sign-in is temporarily unavailable",
                "Sign-in isn\u{2019}t set up correctly for this portal yet. Please let the \
                 space\u{2019}s team know.", Icon::Alert, Tone::Neutral),
            StepUpInvalid => (400, "This sign-in link can\u{2019}t be used",
                "It asks for a sign-in requirement that isn\u{2019}t valid here. Start again \
                 from your portal.", Icon::Alert, Tone::Warn),
            NotForThisPortal => (400, "This sign-in link isn\u{2019}t for this portal",
                "It names another organisation\u{2019}s identity provider. Start again from \
                 your portal.", Icon::Compass, Tone::Warn),
            RequirementsNotMet { tenant } => {
                return Copy {
                    status: 403,
                    title: "Your sign-in wasn\u{2019}t strong enough",
                    sentence: Cow::Owned(format!(
                        "Sorry: this sign-in did not meet {tenant}'s security requirements \
                         \u{2014} sign in again."
                    )),
                    icon: Icon::Lock,
                    tone: Tone::Warn,
                }
            }
            NotAllowed { tenant } => {
                return Copy {
                    status: 403,
                    title: "You can\u{2019}t sign in here",
                    sentence: Cow::Owned(format!(
                        "Sorry: your account is not allowed to sign in to {tenant} \u{2014} ask \
                         your administrator."
                    )),
                    icon: Icon::Lock,
                    tone: Tone::Warn,
                }
            }
            RateLimited => (429, "Too many attempts",
                "Too many attempts came from your network just now. Wait a minute, then try \
                 again.", Icon::Clock, Tone::Wait),
            AppLinkInvalid => (400, "This app sign-in link isn\u{2019}t valid",
                "The app asked to sign in in a way this portal doesn\u{2019}t allow. Update \
                 the app, or let the space\u{2019}s team know.", Icon::Alert, Tone::Warn),
        };
        Copy {
            status,
            title,
            sentence: Cow::Borrowed(sentence),
            icon,
            tone,
        }
    }

    /// What the IdP said, for the member to pass on to their administrator.
    fn idp_detail(&self) -> Option<String> {
        let (error, description) = match self {
            Problem::AccessDenied { description } => (None, description.as_deref()),
            Problem::IdpError { error, description } => {
                (Some(error.as_str()), description.as_deref())
            }
            _ => return None,
        };
        let description = description.map(|d| excerpt(d, MAX_DESCRIPTION_CHARS));
        let description = description.filter(|d| !d.is_empty());
        let error = error
            .map(|e| excerpt(e, MAX_ERROR_CODE_CHARS))
            .filter(|e| !e.is_empty() && e != "access_denied");
        if error.is_none() && description.is_none() {
            return None;
        }
        let mut html = String::from(
            "<div class=\"detail\" role=\"note\">\n\
             <p class=\"label\">Message from your identity provider</p>\n",
        );
        if let Some(e) = error {
            html.push_str(&format!("<p><code>{}</code></p>\n", html_escape(&e)));
        }
        if let Some(d) = description {
            html.push_str(&format!("<p>{}</p>\n", html_escape(&d)));
        }
        html.push_str("</div>\n");
        Some(html)
    }
}

/// `s` with control characters blanked, trimmed, and cut to `max` characters.
fn excerpt(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().count() <= max {
        return trimmed.to_string();
    }
    let cut: String = trimmed.chars().take(max).collect();
    format!("{}\u{2026}", cut.trim_end())
}

/// The page for `problem`, with a "Start again" link to `start_again_href` when given.
pub fn problem_page(problem: &Problem, start_again_href: Option<&str>, nonce: &str) -> Page {
    let copy = problem.copy();
    let mut body = copy.icon.badge(copy.tone);
    body.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"lede\">{}</p>\n",
        text_escape(copy.title),
        text_escape(&copy.sentence)
    ));
    if let Some(detail) = problem.idp_detail() {
        body.push_str(&detail);
    }
    if let Some(href) = start_again_href.and_then(safe_href) {
        body.push_str(&format!(
            "<a class=\"button primary\" href=\"{href}\">Start again</a>\n"
        ));
    }
    let mut page = Document {
        status: copy.status,
        title: copy.title,
        body,
        script: None,
        form_action: &[],
    }
    .render(nonce);
    if matches!(problem, Problem::ProvisioningPending | Problem::RateLimited) {
        // The queued delivery's first retry runs within 60 s; limits count per 60 s.
        page.headers.push(("Retry-After", "60".into()));
    }
    page
}

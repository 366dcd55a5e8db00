//! Reading bodies with a cap: a chunked upload or a hostile IdP cannot make an isolate buffer
//! more than we are willing to look at.
//!
//! Request bodies are judged by their `Content-Length` before the body stream is touched:
//! abandoning a request body stream half-read makes workerd restart the isolate, so a body
//! we refuse is never opened, and one without a length is refused (411) rather than streamed.

use futures_util::StreamExt;
use worker::ByteStream;

use super::request::Request;
use super::respond::AppError;
use crate::core::pages::Problem;

pub enum BodyError {
    TooLarge,
    LengthRequired,
    Unreadable,
}

/// The declared length, from a `Content-Length` header's value (`core::http`).
pub fn declared_length(content_length: Option<String>) -> Option<usize> {
    crate::core::http::declared_length(content_length.as_deref())
}

/// A request body judged without reading it: `Ok(true)` when there is one to read within
/// `cap`, `Ok(false)` when there is none (no stream, or a declared length of 0).
pub fn judge_request(req: &Request, cap: usize) -> Result<bool, BodyError> {
    match declared_length(req.header("content-length")) {
        Some(n) if n > cap => Err(BodyError::TooLarge),
        Some(n) => Ok(n > 0),
        None if !req.has_body() => Ok(false),
        None => Err(BodyError::LengthRequired),
    }
}

/// A request body of at most `cap` bytes, as declared by its `Content-Length`.
pub async fn read_request(req: &Request, cap: usize) -> Result<Vec<u8>, BodyError> {
    if !judge_request(req, cap)? {
        return Ok(Vec::new());
    }
    req.bytes().await.map_err(|_| BodyError::Unreadable)
}

/// A body refusal on a member route, as a page (411 bare: there is nothing to show).
pub fn page_error(e: BodyError) -> AppError {
    match e {
        BodyError::TooLarge => AppError::page(Problem::TooLarge, "body_too_large"),
        BodyError::LengthRequired => AppError::Bare {
            status: 411,
            code: "length_required",
        },
        BodyError::Unreadable => AppError::page(Problem::BadRequest, "unreadable_body"),
    }
}

/// The parameters of a member route that takes them in the query (GET) or a form body (POST,
/// e.g. the IdP's `form_post`): the raw text and whether it came from a body. The `cap` holds
/// for the query of a POST too, though it is not read (414 / 413 beyond).
pub async fn query_or_form(
    req: &Request,
    query: Option<&str>,
    cap: usize,
) -> Result<(String, bool), AppError> {
    let query = query.unwrap_or_default();
    if query.len() > cap {
        return Err(AppError::page(Problem::UriTooLong, "query_too_long"));
    }
    if req.method() == worker::Method::Post {
        let body = read_request(req, cap).await.map_err(page_error)?;
        Ok((String::from_utf8_lossy(&body).into_owned(), true))
    } else {
        Ok((query.to_string(), false))
    }
}

/// A response body of at most `cap` bytes: refused on its declared length before reading,
/// otherwise read as a stream and abandoned as soon as it goes past the cap.
pub async fn read_response(resp: &mut worker::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    let content_length = resp.headers().get("content-length").ok().flatten();
    if declared_length(content_length).is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge);
    }
    let stream: worker::Result<ByteStream> = resp.stream();
    let Ok(mut stream) = stream else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if out.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

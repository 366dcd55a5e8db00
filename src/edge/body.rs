//! Reading bodies with a cap: a chunked upload or a hostile IdP cannot make an isolate buffer
//! more than we are willing to look at.

use futures_util::StreamExt;
use worker::ByteStream;

pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads at most `cap` bytes; stops (and says so) as soon as the stream goes past it.
pub async fn read_capped(
    stream: worker::Result<ByteStream>,
    declared: Option<usize>,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    if declared.is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge);
    }
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

/// The declared `Content-Length`, if any.
pub fn declared_length(headers: &worker::Headers) -> Option<usize> {
    headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

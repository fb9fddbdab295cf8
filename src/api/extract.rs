//! Extractors that answer bad input in our problem+json shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use blindvault_wire::Code;

/// A JSON body: `415` without a JSON content type, `413` past the route's body limit,
/// `400 malformed_json` when it does not parse, `422 invalid_field` when it parses but does
/// not fit (unknown fields included).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(Code::UnsupportedMediaType, "expected Content-Type: application/json"));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`; anything else is read
/// as [`ApiJson`] reads it.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(ApiError::new(Code::UnsupportedMediaType, "expected Content-Type: application/json"));
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            // The rest of the body stays unread, so the connection cannot be reused.
            ApiError::new(Code::PayloadTooLarge, "the request body is too large").closing()
        }
        BytesRejection::FailedToBufferBody(_) if crate::server::body_timed_out(&rejection) => {
            ApiError::body_timeout()
        }
        _ => ApiError::malformed_json("the request body could not be read"),
    })
}

fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(essence) = value.and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()) else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON document into `T` with the error mapping of [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::invalid_field(if path == "." { message } else { format!("`{path}`: {message}") })
            }
            _ => ApiError::malformed_json(format!("the body is not valid JSON: {message}")),
        }
    })?;
    de.end()
        .map_err(|_| ApiError::malformed_json("the body has trailing characters after the JSON value"))?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Decodes a standard, padded base64 field; `400 invalid_base64` otherwise.
pub fn b64(field: &str, value: &str) -> Result<Vec<u8>, ApiError> {
    STANDARD.decode(value).map_err(|_| ApiError::invalid_base64(field))
}

/// Encodes bytes as standard padded base64.
pub fn to_b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The client's address: the socket peer, or, when the peer is a trusted proxy, the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| super::error::internal().caused_by("no peer address on the request"))?;
        let trusted = &state.settings.trusted_proxies;
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(peer, forwarded, trusted)))
    }
}

fn client_ip<'a>(peer: IpAddr, forwarded: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> =
        forwarded.flat_map(|v| v.split(',')).filter_map(|s| s.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer)
}

/// A request body as the service takes it: its bytes, with a body timeout (which only the
/// server knows) told apart as the service's [`BodyTimedOut`](crate::service::BodyTimedOut).
pub(super) fn body_stream(
    body: axum::body::Body,
) -> impl futures::Stream<Item = Result<bytes::Bytes, crate::domain::BoxError>> + Send + 'static {
    futures::TryStreamExt::map_err(body.into_data_stream(), classify_body_error)
}

/// A body error for the service: [`BodyTimedOut`](crate::service::BodyTimedOut) when the
/// server's body timeout cut it, else the error itself.
pub(super) fn classify_body_error(err: axum::Error) -> crate::domain::BoxError {
    if crate::server::body_timed_out(&err) { Box::new(crate::service::BodyTimedOut) } else { Box::new(err) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.1.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let xff = ["198.51.100.7, 203.0.113.5, 10.2.2.2"];
        assert_eq!(client_ip(proxy, xff.into_iter(), &trusted), "203.0.113.5".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(stranger, xff.into_iter(), &trusted), stranger);
        assert_eq!(client_ip(proxy, ["garbage"].into_iter(), &trusted), proxy);
    }

    #[test]
    fn json_errors_are_classified() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            name: String,
        }
        assert_eq!(parse_json::<Body>(b"{\"name\": ").unwrap_err().code(), "malformed_json");
        assert_eq!(parse_json::<Body>(b"{\"name\": 1}").unwrap_err().code(), "invalid_field");
        assert_eq!(parse_json::<Body>(b"{\"name\": \"a\", \"x\": 1}").unwrap_err().code(), "invalid_field");
        assert_eq!(parse_json::<Body>(b"{\"name\": \"a\"} {}").unwrap_err().code(), "malformed_json");
        assert!(is_json(Some(&header::HeaderValue::from_static("application/json; charset=utf-8"))));
        assert!(!is_json(Some(&header::HeaderValue::from_static("text/plain"))));
    }
}

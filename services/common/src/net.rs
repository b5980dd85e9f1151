//! Who is on the other end of a connection, and the header that carries service-to-service
//! credentials.

use axum::http::HeaderMap;

/// The header carrying the shared internal token on `/internal/` calls.
pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";

/// The last hop of `X-Forwarded-For`: the address the nearest proxy (the gateway, or the
/// cluster's ingress in front of it) saw. Earlier hops are whatever the client claimed, so only
/// the last one can be trusted, and only behind a proxy that appends to the header.
pub fn last_forwarded_hop(headers: &HeaderMap) -> Option<&str> {
    last_hop(headers, "x-forwarded-for")
}

/// The last comma-separated value of the last `name` header (`X-Forwarded-For`,
/// `X-Forwarded-Host`, `X-Forwarded-Proto`): the one the nearest proxy set or appended.
pub fn last_hop<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let last = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let hop = last.rsplit(',').next()?.trim();
    (!hop.is_empty()).then_some(hop)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_last_hop_of_the_last_header_counts() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_forwarded_hop(&headers), None);
        headers.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1, 2.2.2.2"));
        assert_eq!(last_forwarded_hop(&headers), Some("2.2.2.2"));
        headers.append("x-forwarded-for", HeaderValue::from_static("3.3.3.3 , 4.4.4.4 "));
        assert_eq!(last_forwarded_hop(&headers), Some("4.4.4.4"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("5.5.5.5, "));
        assert_eq!(last_forwarded_hop(&headers), None, "an empty last hop is no address");
        headers.append("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert_eq!(last_hop(&headers, "x-forwarded-proto"), Some("https"));
    }
}

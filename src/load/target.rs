//! A target instance: its base URL, parsed and checked once at start.

use std::{fmt, str::FromStr};

use http::Uri;

/// One instance to send load to, from `--target http://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The base URL as given, without a trailing slash; the report's key.
    pub url: String,
    /// `HOST:PORT`, for connecting and for the `Host` header.
    pub authority: String,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("`{s}`: only http:// targets are supported"));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("`{s}` has no host"))?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(format!("`{s}`: give the base URL only, without a path"));
        }
        let host_port = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Target {
            url: format!("http://{authority}"),
            authority: host_port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls_only() {
        let t: Target = "http://127.0.0.1:8081/".parse().unwrap();
        assert_eq!(t.url, "http://127.0.0.1:8081");
        assert_eq!(t.authority, "127.0.0.1:8081");
        assert_eq!(
            "http://localhost".parse::<Target>().unwrap().authority,
            "localhost:80"
        );
        assert!("https://x:1".parse::<Target>().is_err());
        assert!("http://x:1/api".parse::<Target>().is_err());
        assert!("x".parse::<Target>().is_err());
    }
}

//! Routing by hand: a path to a [`Route`], whose template is the `route`
//! label of the HTTP metrics. Unknown paths all become [`Route::Unmatched`],
//! so the label stays bounded whatever clients send.

use http::Method;

/// The service's routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Items,
    Item,
    Work,
    Healthz,
    Readyz,
    Metrics,
    DebugPanic,
    AdminFaults,
    Unmatched,
}

impl Route {
    /// Every route, in index order.
    pub const ALL: [Route; 9] = [
        Route::Items,
        Route::Item,
        Route::Work,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::DebugPanic,
        Route::AdminFaults,
        Route::Unmatched,
    ];

    /// The route template, used as the `route` label.
    pub fn template(self) -> &'static str {
        match self {
            Route::Items => "/api/items",
            Route::Item => "/api/items/{id}",
            Route::Work => "/api/work",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::DebugPanic => "/debug/panic",
            Route::AdminFaults => "/admin/faults",
            Route::Unmatched => "unmatched",
        }
    }

    /// A dense index for per-route metric handles.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `Allow` header value: the methods this route serves.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Items => "GET, POST",
            Route::AdminFaults => "GET, POST, DELETE",
            _ => "GET",
        }
    }

    /// Whether this route serves `method`.
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Route::Items => method == Method::GET || method == Method::POST,
            Route::AdminFaults => {
                method == Method::GET || method == Method::POST || method == Method::DELETE
            }
            Route::Unmatched => true,
            _ => method == Method::GET,
        }
    }
}

/// The routes only some configurations serve.
#[derive(Debug, Clone, Copy, Default)]
pub struct Optional {
    /// `/debug/panic` (testing only).
    pub debug_panic: bool,
    /// `/admin/faults` (`--faults`).
    pub faults: bool,
}

/// Resolves a path to its route and, for `/api/items/{id}`, the raw id.
pub fn resolve(path: &str, optional: Optional) -> (Route, Option<&str>) {
    let route = match path {
        "/api/items" => Route::Items,
        "/api/work" => Route::Work,
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        "/metrics" => Route::Metrics,
        "/debug/panic" if optional.debug_panic => Route::DebugPanic,
        "/admin/faults" if optional.faults => Route::AdminFaults,
        _ => {
            return match path.strip_prefix("/api/items/") {
                Some(id) if !id.is_empty() && !id.contains('/') => (Route::Item, Some(id)),
                _ => (Route::Unmatched, None),
            };
        }
    };
    (route, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_templates() {
        let none = Optional::default();
        let all = Optional {
            debug_panic: true,
            faults: true,
        };
        assert_eq!(resolve("/api/items", none), (Route::Items, None));
        assert_eq!(resolve("/api/items/42", none), (Route::Item, Some("42")));
        assert_eq!(resolve("/api/items/", none).0, Route::Unmatched);
        assert_eq!(resolve("/api/items/1/x", none).0, Route::Unmatched);
        assert_eq!(resolve("/debug/panic", none).0, Route::Unmatched);
        assert_eq!(resolve("/debug/panic", all).0, Route::DebugPanic);
        assert_eq!(resolve("/admin/faults", none).0, Route::Unmatched);
        assert_eq!(resolve("/admin/faults", all).0, Route::AdminFaults);
        assert_eq!(resolve("/nope", all).0, Route::Unmatched);
    }

    #[test]
    fn indexes_are_dense() {
        for (i, route) in Route::ALL.iter().enumerate() {
            assert_eq!(route.index(), i);
        }
    }
}

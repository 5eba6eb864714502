//! The testbed ingress's routing table: Traefik deploy labels in, nginx config out.
//!
//! Production cc-ci hosts run the coop-cloud Traefik recipe; the testbed runs `ccci-proxy`
//! (Debian nginx with the stream module) in its place. This module is the pure half of that
//! emulation, with no I/O of its own:
//!
//! * [`routes_from_labels`] reads the `traefik.*` deploy labels of a stack's services into
//!   [`Route`]s, as Traefik's Swarm provider would: one route per HTTP, TCP or UDP router (an
//!   HTTP router whose rule cannot be one hosts × prefixes product becomes several routes).
//! * [`entrypoints`] reads `testbed/proxy/entrypoints.toml`: the Traefik entrypoint names the
//!   proxy answers on, with their ports and protocols.
//! * [`nginx_http`] and [`nginx_stream`] write one stack's nginx files. The caller writes them to
//!   `<proxy dir>/routes/http/<stack>.conf` and `<proxy dir>/routes/stream/<stack>.conf`, checks
//!   the stream file with [`check_stream_claims`] against the other stacks' stream files, and then
//!   runs `nginx -s reload` in the proxy.
//!
//! Upstreams are `tasks.<stack>_<service>:<port>` through the Swarm resolver (127.0.0.11) and a
//! variable, so nginx resolves per request: Swarm service VIPs need IPVS, which the testbed
//! kernel lacks, while task addresses work (that is also what Traefik's Swarm provider uses).
//!
//! What is emulated, and where it differs from Traefik:
//! * HTTP rules: `Host` (and its v2 alias `HostHeader`), `PathPrefix`, `&&`, `||` and
//!   parentheses. Any other matcher (`HostRegexp`, `Path`, `Header`, `Method`, `Query`,
//!   `ClientIP`, ...) and negation are an error naming the rule, never a silent mis-route.
//! * Precedence: nginx picks the server by host, then the longest matching prefix; Traefik orders
//!   routers by rule length (or a `priority` label, which is ignored here). For the shapes recipes
//!   use (`Host(d)` next to `Host(d) && PathPrefix(/p)`) both pick the same router. When a
//!   host-specific and a host-less router claim the same host and prefix, the host-specific wins.
//! * A router without `Host` serves every host of its entrypoint: its locations are added to the
//!   stack's own servers, and a regex catch-all server (`server_name ~^.+$`) serves hosts no stack
//!   names. Only the first such catch-all (in file order, i.e. by stack name) is used by nginx, and
//!   it does not reach other stacks' hosts: a host-less router is a per-stack approximation.
//! * Middlewares, `tls.*` options of HTTP routers and `priority` are ignored; every HTTP
//!   entrypoint marked `https` serves the testbed wildcard certificate.
//! * TCP rules: `HostSNI(`*`)` (any connection) and `HostSNI(`name`, ...)`. Names need TLS, as in
//!   Traefik: `tls.passthrough=true` routes the raw TLS stream by SNI (`ssl_preread` + `map`);
//!   `tls=true` (or any `tls.*` label) terminates TLS with the wildcard certificate and routes by
//!   the decrypted SNI. All routers of one stack on one TCP entrypoint must agree on the TLS mode,
//!   and at most one may be `HostSNI(`*`)` (it takes what no name matches).
//! * UDP routers have no rule; one per entrypoint.
//! * A TCP or UDP entrypoint serves one stack at a time: nginx refuses two `listen` of one port in
//!   the stream block ("duplicate ... address and port pair", and the reload keeps the old
//!   config), so the caller checks with [`check_stream_claims`] first and reports which stack
//!   holds the port; a deploy waits for the holder ([`stream_claim_holder`]) as for a slot.
//!   Sharing one port between stacks by SNI, which Traefik can do, is not emulated.
//! * An HTTP entrypoint with `redirect_to` (the `web` entrypoint) gets no servers: the proxy's
//!   default server on it redirects every request, as the coop-cloud Traefik recipe does.
//! * Routers that name no entrypoints attach to the entrypoints marked `default` of their kind
//!   (Traefik would attach them to every entrypoint; recipes always name `web-secure`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;

/// Swarm's embedded DNS; `tasks.<service>` resolves through it to task addresses.
const RESOLVER: &str = "resolver 127.0.0.11 valid=1s ipv6=off;";
const TLS_CERT: &str = "/etc/ccci-proxy/tls/wildcard.pem";
const TLS_KEY: &str = "/etc/ccci-proxy/tls/wildcard.key";
/// The body prefix of the proxy's own 404 (the same text as the ingress's `FALLBACK_MARKER`).
const FALLBACK_MARKER: &str = "ccci-proxy: no route for";
/// Disjunctive terms a rule may expand to before it is refused as too complex.
const MAX_TERMS: usize = 64;

/// One routed path from an entrypoint to a stack's service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The Traefik router name, as in the labels (lowercased).
    pub(crate) router: String,
    /// The short compose service name, e.g. `app` (the Swarm service is `<stack>_<service>`).
    pub(crate) service: String,
    /// The port on the service's tasks (`loadbalancer.server.port`).
    pub(crate) target_port: u16,
    pub(crate) kind: RouteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Http {
        /// Lowercased host names; empty = any host.
        hosts: Vec<String>,
        /// Path prefixes, each starting with `/`; empty = `/` (every path).
        path_prefixes: Vec<String>,
        /// Entrypoint names; empty = the default HTTP entrypoints.
        entrypoints: Vec<String>,
    },
    Tcp {
        /// Entrypoint names; empty = the default TCP entrypoints.
        entrypoints: Vec<String>,
        /// Lowercased SNI names; empty = any connection (`HostSNI(`*`)`).
        sni: Vec<String>,
        tls: TcpTls,
    },
    Udp {
        /// Entrypoint names; empty = the default UDP entrypoints.
        entrypoints: Vec<String>,
    },
}

/// How a TCP router treats TLS (`traefik.tcp.routers.<r>.tls*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TcpTls {
    /// Raw TCP (no `tls` labels): the bytes are forwarded as they come.
    None,
    /// `tls=true` or any `tls.*` label: the proxy terminates TLS with the wildcard certificate.
    Terminate,
    /// `tls.passthrough=true`: the TLS stream is forwarded untouched, routed by its SNI.
    Passthrough,
}

/// The proxy's entrypoints (`testbed/proxy/entrypoints.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Entrypoints {
    by_name: BTreeMap<String, Entrypoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entrypoint {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) protocol: Protocol,
    /// `Some`: an HTTP entrypoint served in nginx's `http` block; `None`: raw TCP/UDP (`stream`).
    pub(crate) http: Option<HttpMode>,
    /// Another HTTP entrypoint every request is redirected to (Traefik's entrypoint redirection).
    pub(crate) redirect_to: Option<String>,
    /// Routers that name no entrypoints attach to the default entrypoints of their kind.
    pub(crate) default: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HttpMode {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS, terminated with the testbed wildcard certificate.
    Https,
}

impl Entrypoints {
    pub(crate) fn get(&self, name: &str) -> Option<&Entrypoint> {
        self.by_name.get(name)
    }

    /// Every entrypoint, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entrypoint> {
        self.by_name.values()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrypointsFile {
    entrypoints: BTreeMap<String, EntrypointDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntrypointDef {
    port: u16,
    protocol: Protocol,
    #[serde(default)]
    http: Option<HttpMode>,
    #[serde(default)]
    redirect_to: Option<String>,
    #[serde(default)]
    default: bool,
}

/// Parses and checks `entrypoints.toml`.
pub(crate) fn entrypoints(toml_text: &str) -> Result<Entrypoints, String> {
    let file: EntrypointsFile = toml::from_str(toml_text).map_err(|e| format!("entrypoints.toml: {e}"))?;
    let mut by_name = BTreeMap::new();
    let mut ports = BTreeMap::new();
    for (name, def) in file.entrypoints {
        let what = format!("entrypoints.toml: entrypoint {name:?}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err(format!("{what}: names are lowercase letters, digits, `-` and `_`"));
        }
        if def.port == 0 {
            return Err(format!("{what}: port 0"));
        }
        if def.http.is_some() && def.protocol == Protocol::Udp {
            return Err(format!("{what}: HTTP needs protocol \"tcp\""));
        }
        if def.redirect_to.is_some() && def.http.is_none() {
            return Err(format!("{what}: only an http entrypoint can redirect"));
        }
        if let Some(other) = ports.insert((def.protocol, def.port), name.clone()) {
            return Err(format!("{what}: {} port {} is already entrypoint {other:?}", protocol_name(def.protocol), def.port));
        }
        let entrypoint = Entrypoint {
            name: name.clone(),
            port: def.port,
            protocol: def.protocol,
            http: def.http,
            redirect_to: def.redirect_to,
            default: def.default,
        };
        by_name.insert(name, entrypoint);
    }
    for ep in by_name.values() {
        if let Some(target) = &ep.redirect_to
            && !by_name.get(target).is_some_and(|t| t.http.is_some() && t.redirect_to.is_none())
        {
            return Err(format!(
                "entrypoints.toml: entrypoint {:?} redirects to {target:?}, which is not an http entrypoint that serves routes",
                ep.name
            ));
        }
    }
    Ok(Entrypoints { by_name })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Tcp,
    Udp,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Http, Kind::Tcp, Kind::Udp];

    fn label(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
        }
    }

    fn of(ep: &Entrypoint) -> Kind {
        match (ep.protocol, ep.http) {
            (Protocol::Udp, _) => Kind::Udp,
            (Protocol::Tcp, Some(_)) => Kind::Http,
            (Protocol::Tcp, None) => Kind::Tcp,
        }
    }
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Routers and services of one protocol on one compose service, by lowercased name.
#[derive(Default)]
struct Defs<'a> {
    routers: BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>,
    services: BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>,
}

impl<'a> Defs<'a> {
    fn collect(labels: &'a BTreeMap<String, &'a str>, kind: Kind) -> Defs<'a> {
        let mut defs = Defs::default();
        let prefix = format!("traefik.{}.", kind.label());
        for (key, value) in labels {
            let Some(rest) = key.strip_prefix(&prefix) else { continue };
            let Some((section, rest)) = rest.split_once('.') else { continue };
            let Some((name, field)) = rest.split_once('.') else { continue };
            let map = match section {
                "routers" => &mut defs.routers,
                "services" => &mut defs.services,
                _ => continue, // middlewares, serverstransports: not emulated
            };
            map.entry(name).or_default().insert(field, value);
        }
        defs
    }
}

fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

/// Every route the `traefik.*` labels of a stack's services define.
///
/// `services` holds (short compose service name, deploy labels). Services without
/// `traefik.enable=true` are skipped, as Traefik's `exposedByDefault: false` does.
pub(crate) fn routes_from_labels(services: &[(String, HashMap<String, String>)]) -> Result<Vec<Route>, String> {
    let mut routes = vec![];
    for (service, labels) in services {
        let labels: BTreeMap<String, &str> =
            labels.iter().map(|(k, v)| (k.trim().to_ascii_lowercase(), v.as_str())).collect();
        if !labels.get("traefik.enable").is_some_and(|v| is_true(v)) {
            continue;
        }
        check_name("service", service)?;
        for kind in Kind::ALL {
            let defs = Defs::collect(&labels, kind);
            for (router, fields) in &defs.routers {
                routes.extend(router_routes(service, kind, router, fields, &defs.services)?);
            }
        }
    }
    Ok(routes)
}

fn router_routes(
    service: &str,
    kind: Kind,
    router: &str,
    fields: &BTreeMap<&str, &str>,
    services: &BTreeMap<&str, BTreeMap<&str, &str>>,
) -> Result<Vec<Route>, String> {
    let proto = kind.label();
    let what = format!("service {service:?}, {proto} router {router:?}");
    let lb = match fields.get("service") {
        Some(name) => {
            let name = name.trim().to_ascii_lowercase();
            let local = name.strip_suffix("@docker").or_else(|| name.strip_suffix("@swarm")).unwrap_or(&name).to_owned();
            if local.contains('@') {
                return Err(format!(
                    "{what}: service {name:?} comes from another Traefik provider (internal, file, ...), which the testbed ingress does not emulate"
                ));
            }
            local
        }
        None => match services.keys().collect::<Vec<_>>()[..] {
            [only] => (*only).to_owned(),
            [] => {
                return Err(format!(
                    "{what}: no traefik.{proto}.services.<name>.loadbalancer.server.port label gives the target port"
                ));
            }
            ref many => {
                return Err(format!(
                    "{what}: several {proto} services ({}) and no traefik.{proto}.routers.{router}.service label to pick one (Traefik refuses this too)",
                    many.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
                ));
            }
        },
    };
    let port = services
        .get(lb.as_str())
        .and_then(|fields| fields.get("loadbalancer.server.port"))
        .ok_or_else(|| format!("{what}: traefik.{proto}.services.{lb}.loadbalancer.server.port is missing"))?;
    let target_port = match port.trim().parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("{what}: traefik.{proto}.services.{lb}.loadbalancer.server.port={port:?} is not a port number")),
    };
    let entrypoints: Vec<String> = fields
        .get("entrypoints")
        .map(|list| list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let rule = fields.get("rule").map(|r| r.trim());
    let route = |kind: RouteKind| Route { router: router.to_owned(), service: service.to_owned(), target_port, kind };
    match kind {
        Kind::Http => {
            let rule = rule.ok_or_else(|| format!("{what}: no rule (traefik.http.routers.{router}.rule)"))?;
            let products = http_rule(rule).map_err(|e| format!("{what}: rule {rule:?}: {e}"))?;
            Ok(products
                .into_iter()
                .map(|(hosts, path_prefixes)| route(RouteKind::Http { hosts, path_prefixes, entrypoints: entrypoints.clone() }))
                .collect())
        }
        Kind::Tcp => {
            let rule = rule.ok_or_else(|| format!("{what}: no rule (traefik.tcp.routers.{router}.rule)"))?;
            let sni = tcp_rule(rule).map_err(|e| format!("{what}: rule {rule:?}: {e}"))?;
            let tls = if fields.get("tls.passthrough").is_some_and(|v| is_true(v)) {
                TcpTls::Passthrough
            } else if fields.get("tls").is_some_and(|v| is_true(v)) || fields.keys().any(|k| k.starts_with("tls.")) {
                TcpTls::Terminate
            } else {
                TcpTls::None
            };
            if !sni.is_empty() && tls == TcpTls::None {
                return Err(format!(
                    "{what}: rule {rule:?}: HostSNI with a name needs tls=true or tls.passthrough=true (Traefik can only read the SNI of a TLS connection)"
                ));
            }
            Ok(vec![route(RouteKind::Tcp { entrypoints, sni, tls })])
        }
        Kind::Udp => {
            if let Some(rule) = rule {
                return Err(format!("{what}: UDP routers have no rule in Traefik (got {rule:?})"));
            }
            Ok(vec![route(RouteKind::Udp { entrypoints })])
        }
    }
}

/// Names that end up in nginx config and DNS names: compose service and stack names.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err(format!("{what} name {name:?} is not one the testbed ingress can route to"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rules

#[derive(Debug, Clone, PartialEq, Eq)]
struct Matcher {
    name: String,
    args: Vec<String>,
}

#[derive(Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not,
    Match(Matcher),
}

struct Parser<'a> {
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn near(&self) -> String {
        let shown: String = self.rest.chars().take(20).collect();
        if shown.is_empty() { "the end".to_owned() } else { format!("{shown:?}") }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.and()?];
        while self.eat("||") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::Or(terms) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.unary()?];
        while self.eat("&&") {
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Expr::And(terms) })
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            self.unary()?;
            return Ok(Expr::Not);
        }
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(format!("expected `)` at {}", self.near()));
            }
            return Ok(inner);
        }
        self.skip_ws();
        let end = self.rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(self.rest.len());
        if end == 0 {
            return Err(format!("expected a matcher at {}", self.near()));
        }
        let name = self.rest[..end].to_owned();
        self.rest = &self.rest[end..];
        if !self.eat("(") {
            return Err(format!("expected `(` after {name}"));
        }
        let mut args = vec![];
        if !self.eat(")") {
            loop {
                args.push(self.string()?);
                if self.eat(",") {
                    continue;
                }
                if self.eat(")") {
                    break;
                }
                return Err(format!("expected `,` or `)` at {}", self.near()));
            }
        }
        Ok(Expr::Match(Matcher { name, args }))
    }

    /// A `backquoted` (raw) or "double-quoted" (with `\` escapes) argument.
    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let mut chars = self.rest.char_indices();
        let quote = match chars.next() {
            Some((_, q @ ('`' | '"'))) => q,
            _ => return Err(format!("expected a quoted argument at {}", self.near())),
        };
        let mut value = String::new();
        let mut escaped = false;
        for (i, c) in chars {
            if escaped {
                value.push(c);
                escaped = false;
            } else if c == '\\' && quote == '"' {
                escaped = true;
            } else if c == quote {
                self.rest = &self.rest[i + c.len_utf8()..];
                return Ok(value);
            } else {
                value.push(c);
            }
        }
        Err(format!("unterminated {quote}-quoted argument"))
    }
}

fn parse_rule(rule: &str) -> Result<Expr, String> {
    let mut parser = Parser { rest: rule };
    let expr = parser.or()?;
    parser.skip_ws();
    if !parser.rest.is_empty() {
        return Err(format!("unexpected {}", parser.near()));
    }
    Ok(expr)
}

/// The rule as a disjunction of conjunctions of matchers.
fn dnf(expr: &Expr) -> Result<Vec<Vec<Matcher>>, String> {
    match expr {
        Expr::Match(m) => Ok(vec![vec![m.clone()]]),
        Expr::Not => Err("negation (`!`) is not emulated by the testbed ingress".into()),
        Expr::Or(parts) => {
            let mut terms = vec![];
            for part in parts {
                terms.extend(dnf(part)?);
            }
            Ok(terms)
        }
        Expr::And(parts) => {
            let mut terms: Vec<Vec<Matcher>> = vec![vec![]];
            for part in parts {
                let right = dnf(part)?;
                let mut next = vec![];
                for left in &terms {
                    for r in &right {
                        next.push(left.iter().chain(r).cloned().collect());
                    }
                }
                if next.len() > MAX_TERMS {
                    return Err(format!("expands to more than {MAX_TERMS} alternatives"));
                }
                terms = next;
            }
            Ok(terms)
        }
    }
}

fn not_emulated(matcher: &str) -> String {
    format!("{matcher}() is not emulated by the testbed ingress (it routes Host, PathPrefix and HostSNI rules only)")
}

fn host_name(raw: &str) -> Result<String, String> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.starts_with('.') || !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) {
        return Err(format!("{raw:?} is not a host name the testbed ingress can route"));
    }
    Ok(host)
}

fn path_prefix(raw: &str) -> Result<String, String> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, ';' | '{' | '}' | '"' | '\'' | '\\' | '#' | '$');
    if !raw.starts_with('/') || raw.chars().any(bad) {
        return Err(format!("{raw:?} is not a path prefix the testbed ingress can route (it must start with `/`)"));
    }
    Ok(raw.to_owned())
}

/// (hosts, path prefixes): hosts empty = any host, prefixes empty = `/`.
type Product = (Vec<String>, Vec<String>);

/// An HTTP rule as the hosts × prefixes products it matches.
fn http_rule(rule: &str) -> Result<Vec<Product>, String> {
    let terms = dnf(&parse_rule(rule)?)?;
    // host (None = any) -> prefixes it routes
    let mut by_host: BTreeMap<Option<String>, BTreeSet<String>> = BTreeMap::new();
    for term in terms {
        let mut hosts: Option<BTreeSet<String>> = None;
        let mut prefixes: Option<Vec<String>> = None;
        for m in term {
            match m.name.to_ascii_lowercase().as_str() {
                "host" | "hostheader" => {
                    if m.args.is_empty() {
                        return Err(format!("{}() names no host", m.name));
                    }
                    let named = m.args.iter().map(|h| host_name(h)).collect::<Result<BTreeSet<_>, _>>()?;
                    hosts = Some(match hosts {
                        None => named,
                        Some(before) => before.intersection(&named).cloned().collect(),
                    });
                }
                "pathprefix" => {
                    if prefixes.is_some() {
                        return Err("two PathPrefix() joined by `&&` are not emulated by the testbed ingress".into());
                    }
                    if m.args.is_empty() {
                        return Err(format!("{}() names no prefix", m.name));
                    }
                    prefixes = Some(m.args.iter().map(|p| path_prefix(p)).collect::<Result<_, _>>()?);
                }
                _ => return Err(not_emulated(&m.name)),
            }
        }
        let hosts: Vec<Option<String>> = match hosts {
            None => vec![None],
            Some(h) if h.is_empty() => return Err("`&&` of Host() matchers with no host in common matches nothing".into()),
            Some(h) => h.into_iter().map(Some).collect(),
        };
        let prefixes = prefixes.unwrap_or_else(|| vec!["/".to_owned()]);
        for host in hosts {
            by_host.entry(host).or_default().extend(prefixes.iter().cloned());
        }
    }
    // Hosts that route the same prefixes share a route; `/` covers every path.
    let mut groups: BTreeMap<Vec<String>, (bool, Vec<String>)> = BTreeMap::new();
    for (host, prefixes) in by_host {
        let prefixes = if prefixes.contains("/") { vec![] } else { prefixes.into_iter().collect() };
        let group = groups.entry(prefixes).or_default();
        match host {
            None => group.0 = true,
            Some(host) => group.1.push(host),
        }
    }
    let mut products = vec![];
    for (prefixes, (any, named)) in groups {
        if !named.is_empty() {
            products.push((named, prefixes.clone()));
        }
        if any {
            products.push((vec![], prefixes));
        }
    }
    Ok(products)
}

/// A TCP rule's SNI names; empty = any connection.
fn tcp_rule(rule: &str) -> Result<Vec<String>, String> {
    let mut any = false;
    let mut names = BTreeSet::new();
    for term in dnf(&parse_rule(rule)?)? {
        let [m] = &term[..] else {
            return Err("`&&` in a TCP rule is not emulated by the testbed ingress".into());
        };
        if !m.name.eq_ignore_ascii_case("hostsni") {
            return Err(not_emulated(&m.name));
        }
        if m.args.is_empty() {
            return Err(format!("{}() names nothing", m.name));
        }
        for arg in &m.args {
            if arg.trim() == "*" {
                any = true;
            } else {
                names.insert(host_name(arg)?);
            }
        }
    }
    Ok(if any { vec![] } else { names.into_iter().collect() })
}

// ---------------------------------------------------------------------------------------------
// nginx

fn route_what(route: &Route) -> String {
    format!("router {:?} of service {:?}", route.router, route.service)
}

/// The entrypoints a route attaches to, checked against their kind.
fn attach<'e>(eps: &'e Entrypoints, route: &Route, names: &[String], kind: Kind) -> Result<Vec<&'e Entrypoint>, String> {
    if names.is_empty() {
        let defaults: Vec<&Entrypoint> = eps.iter().filter(|ep| ep.default && Kind::of(ep) == kind).collect();
        if defaults.is_empty() {
            return Err(format!(
                "{}: names no entrypoints, and no {} entrypoint is marked default in testbed/proxy/entrypoints.toml",
                route_what(route),
                kind.label()
            ));
        }
        return Ok(defaults);
    }
    names
        .iter()
        .map(|name| {
            let ep = eps.get(name).ok_or_else(|| {
                format!("{}: names entrypoint {name:?}, which testbed/proxy/entrypoints.toml does not define", route_what(route))
            })?;
            if Kind::of(ep) != kind {
                return Err(format!(
                    "{}: entrypoint {name:?} is a{} {} entrypoint on the testbed, so a {} router on it is not emulated",
                    route_what(route),
                    if Kind::of(ep) == Kind::Http { "n" } else { "" },
                    Kind::of(ep).label(),
                    kind.label()
                ));
            }
            Ok(ep)
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    service: String,
    port: u16,
    router: String,
}

impl Target {
    fn of(route: &Route) -> Target {
        Target { service: route.service.clone(), port: route.target_port, router: route.router.clone() }
    }

    fn upstream(&self, stack: &str) -> String {
        format!("tasks.{stack}_{}:{}", self.service, self.port)
    }
}

fn conflict(place: &str, a: &Target, b: &Target) -> String {
    format!(
        "{place} is claimed by router {:?} (service {:?}:{}) and router {:?} (service {:?}:{}); the testbed ingress cannot tell them apart",
        a.router, a.service, a.port, b.router, b.service, b.port
    )
}

/// The nginx `http` servers for one stack's HTTP routes (TCP and UDP routes are ignored).
///
/// The result is written to `<proxy dir>/routes/http/<stack>.conf`; with no HTTP routes it holds
/// only a comment.
pub(crate) fn nginx_http(stack: &str, routes: &[Route], eps: &Entrypoints) -> Result<String, String> {
    check_name("stack", stack)?;
    // (port, entrypoint) -> host (None = any) -> prefix -> target
    type Hosts = BTreeMap<Option<String>, BTreeMap<String, Target>>;
    let mut table: BTreeMap<(u16, String), Hosts> = BTreeMap::new();
    for route in routes {
        let RouteKind::Http { hosts, path_prefixes, entrypoints } = &route.kind else { continue };
        let target = Target::of(route);
        let hosts: Vec<Option<String>> = if hosts.is_empty() { vec![None] } else { hosts.iter().cloned().map(Some).collect() };
        let prefixes: Vec<String> = if path_prefixes.is_empty() { vec!["/".to_owned()] } else { path_prefixes.clone() };
        for ep in attach(eps, route, entrypoints, Kind::Http)? {
            if ep.redirect_to.is_some() {
                continue; // the proxy's default server on it redirects every request
            }
            let by_host = table.entry((ep.port, ep.name.clone())).or_default();
            for host in &hosts {
                for prefix in &prefixes {
                    let locations = by_host.entry(host.clone()).or_default();
                    match locations.get(prefix) {
                        None => {
                            locations.insert(prefix.clone(), target.clone());
                        }
                        Some(existing) if existing.service == target.service && existing.port == target.port => {}
                        Some(existing) => {
                            let place = format!(
                                "{}{prefix} on entrypoint {:?}",
                                host.as_deref().unwrap_or("every host "),
                                ep.name
                            );
                            return Err(conflict(&place, existing, &target));
                        }
                    }
                }
            }
        }
    }

    let mut out = format!("# Written by the ccci harness from the traefik labels of stack {stack}; do not edit.\n");
    for ((_, ep_name), mut by_host) in table {
        let ep = eps.get(&ep_name).expect("attached entrypoints exist");
        let any = by_host.remove(&None).unwrap_or_default();
        // Named hosts with the same locations share a server.
        let mut servers: BTreeMap<Vec<(String, Target)>, Vec<String>> = BTreeMap::new();
        for (host, mut locations) in by_host {
            for (prefix, target) in &any {
                locations.entry(prefix.clone()).or_insert_with(|| target.clone());
            }
            servers.entry(locations.into_iter().collect()).or_default().extend(host);
        }
        for (locations, names) in servers {
            http_server(&mut out, stack, ep, &names.join(" "), &locations);
        }
        if !any.is_empty() {
            let locations: Vec<(String, Target)> = any.into_iter().collect();
            out.push_str("# Routers without Host(): every host no other server names.\n");
            http_server(&mut out, stack, ep, "~^.+$", &locations);
        }
    }
    Ok(out)
}

fn http_server(out: &mut String, stack: &str, ep: &Entrypoint, server_names: &str, locations: &[(String, Target)]) {
    let https = ep.http == Some(HttpMode::Https);
    out.push_str(&format!("\n# Entrypoint {} (port {}).\nserver {{\n", ep.name, ep.port));
    if https {
        out.push_str(&format!(
            "    listen {} ssl http2;\n    server_name {server_names};\n    ssl_certificate {TLS_CERT};\n    ssl_certificate_key {TLS_KEY};\n",
            ep.port
        ));
    } else {
        out.push_str(&format!("    listen {};\n    server_name {server_names};\n", ep.port));
    }
    out.push_str("    client_max_body_size 0;\n");
    let scheme = if https { "https" } else { "http" };
    for (prefix, target) in locations {
        out.push_str(&format!(
            r#"    # router {router} -> service {service}:{port}
    location {prefix} {{
        {RESOLVER}
        # Task addresses, as Traefik's Swarm provider uses: service VIPs need IPVS.
        set $upstream http://{upstream};
        proxy_pass $upstream;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-Proto {scheme};
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Forwarded-Port $server_port;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_buffering off;
        # Upstreams are tasks on this host, a dial takes milliseconds: one that takes longer
        # is to a task that is gone (its name still resolving for a moment); answer 502 and
        # let the client retry.
        proxy_connect_timeout 500ms;
        proxy_read_timeout 300s;
    }}
"#,
            router = target.router,
            service = target.service,
            port = target.port,
            upstream = target.upstream(stack),
        ));
    }
    if !locations.iter().any(|(prefix, _)| prefix == "/") {
        out.push_str(&format!(
            "    location / {{\n        default_type text/plain;\n        return 404 \"{FALLBACK_MARKER} $host$request_uri\\n\";\n    }}\n"
        ));
    }
    out.push_str("}\n");
}

/// A stack variable name part: nginx variables are letters, digits and `_`.
fn var_part(stack: &str) -> String {
    stack.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

#[derive(Debug, Clone)]
struct StreamEntry {
    target: Target,
    sni: Vec<String>,
    tls: TcpTls,
}

/// The nginx `stream` servers for one stack's TCP and UDP routes (HTTP routes are ignored).
///
/// The result is written to `<proxy dir>/routes/stream/<stack>.conf`, after
/// [`check_stream_claims`]; with no TCP/UDP routes it holds only a comment.
pub(crate) fn nginx_stream(stack: &str, routes: &[Route], eps: &Entrypoints) -> Result<String, String> {
    check_name("stack", stack)?;
    let mut table: BTreeMap<(Protocol, u16, String), Vec<StreamEntry>> = BTreeMap::new();
    for route in routes {
        let (names, kind, sni, tls) = match &route.kind {
            RouteKind::Http { .. } => continue,
            RouteKind::Tcp { entrypoints, sni, tls } => (entrypoints, Kind::Tcp, sni.clone(), *tls),
            RouteKind::Udp { entrypoints } => (entrypoints, Kind::Udp, vec![], TcpTls::None),
        };
        for ep in attach(eps, route, names, kind)? {
            table
                .entry((ep.protocol, ep.port, ep.name.clone()))
                .or_default()
                .push(StreamEntry { target: Target::of(route), sni: sni.clone(), tls });
        }
    }

    let mut out = format!("# Written by the ccci harness from the traefik labels of stack {stack}; do not edit.\n");
    for ((protocol, port, ep_name), entries) in table {
        let place = format!("entrypoint {ep_name:?} ({} port {port})", protocol_name(protocol));
        if protocol == Protocol::Udp {
            if let [first, second, ..] = &entries[..] {
                return Err(conflict(&place, &first.target, &second.target));
            }
            stream_server(&mut out, stack, &ep_name, &format!("{port} udp"), &Upstream::One(&entries[0].target));
            continue;
        }
        let tls = entries[0].tls;
        if let Some(other) = entries.iter().find(|e| e.tls != tls) {
            return Err(format!(
                "{place}: router {:?} and router {:?} disagree on TLS (none / tls / tls.passthrough); mixing them on one entrypoint is not emulated",
                entries[0].target.router, other.target.router
            ));
        }
        let mut any: Option<&Target> = None;
        let mut by_name: BTreeMap<&str, &Target> = BTreeMap::new();
        for entry in &entries {
            if entry.sni.is_empty() {
                if let Some(before) = any {
                    return Err(conflict(&format!("HostSNI(`*`) on {place}"), before, &entry.target));
                }
                any = Some(&entry.target);
            }
            for name in &entry.sni {
                if let Some(before) = by_name.insert(name, &entry.target) {
                    return Err(conflict(&format!("HostSNI(`{name}`) on {place}"), before, &entry.target));
                }
            }
        }
        let listen = match tls {
            TcpTls::Terminate => format!("{port} ssl"),
            TcpTls::None | TcpTls::Passthrough => port.to_string(),
        };
        if by_name.is_empty() {
            let target = any.expect("a TCP entrypoint with routers but no SNI names has a HostSNI(`*`) router");
            stream_server(&mut out, stack, &ep_name, &listen, &Upstream::One(target));
            continue;
        }
        let sni_var = if tls == TcpTls::Passthrough { "$ssl_preread_server_name" } else { "$ssl_server_name" };
        let map_var = format!("$ccci_{}_{port}", var_part(stack));
        out.push_str(&format!("\nmap {sni_var} {map_var} {{\n"));
        match any {
            Some(target) => out.push_str(&format!("    default {}; # router {}\n", target.upstream(stack), target.router)),
            None => out.push_str("    default \"\"; # no router matches: nginx closes the connection, as Traefik does\n"),
        }
        for (name, target) in &by_name {
            out.push_str(&format!("    {name} {}; # router {}\n", target.upstream(stack), target.router));
        }
        out.push_str("}\n");
        let targets: Vec<&Target> = by_name.values().copied().chain(any).collect();
        stream_server(&mut out, stack, &ep_name, &listen, &Upstream::BySni { map_var, targets });
    }
    Ok(out)
}

/// Where a stream server sends its connections.
enum Upstream<'a> {
    One(&'a Target),
    /// By SNI, through the `map` whose variable this is.
    BySni { map_var: String, targets: Vec<&'a Target> },
}

fn stream_server(out: &mut String, stack: &str, ep_name: &str, listen: &str, upstream: &Upstream<'_>) {
    out.push_str(&format!("\n# Entrypoint {ep_name}.\n"));
    let mut targets = match upstream {
        Upstream::One(target) => vec![*target],
        Upstream::BySni { targets, .. } => targets.clone(),
    };
    targets.sort();
    targets.dedup();
    for target in targets {
        out.push_str(&format!("# router {} -> service {}:{}\n", target.router, target.service, target.port));
    }
    out.push_str(&format!("server {{\n    listen {listen};\n    {RESOLVER}\n"));
    let ssl = listen.ends_with(" ssl");
    if ssl {
        out.push_str(&format!("    ssl_certificate {TLS_CERT};\n    ssl_certificate_key {TLS_KEY};\n"));
    }
    if !listen.ends_with(" udp") {
        out.push_str("    proxy_timeout 1h;\n    proxy_connect_timeout 500ms;\n");
    }
    match upstream {
        Upstream::BySni { map_var, .. } => {
            if !ssl {
                out.push_str("    ssl_preread on;\n");
            }
            out.push_str(&format!("    proxy_pass {map_var};\n"));
        }
        Upstream::One(target) => out.push_str(&format!(
            "    # Task addresses through the Swarm resolver: service VIPs need IPVS.\n    set $ccci_upstream {};\n    proxy_pass $ccci_upstream;\n",
            target.upstream(stack)
        )),
    }
    out.push_str("}\n");
}

/// The (protocol, port) pairs a generated stream file listens on.
fn stream_listens(conf: &str) -> BTreeSet<(Protocol, u16)> {
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("listen "))
        .filter_map(|rest| {
            let mut words = rest.trim_end_matches(';').split_whitespace();
            let port = words.next()?.rsplit(':').next()?.parse().ok()?;
            let protocol = if words.any(|w| w == "udp") { Protocol::Udp } else { Protocol::Tcp };
            Some((protocol, port))
        })
        .collect()
}

/// Refuses `stream_conf` (stack `stack`'s new stream file) when another stack's stream file
/// already listens on one of its ports: a TCP/UDP entrypoint serves one stack at a time.
///
/// `others` holds (stack, stream file text) of the stacks already routed; `stack`'s own entry,
/// if present, is ignored (a re-deploy replaces it).
/// The other stack that already routes a TCP/UDP port `stream_conf` listens on, if any.
pub(crate) fn stream_claim_holder<'a>(stack: &str, stream_conf: &str, others: &'a [(String, String)]) -> Option<&'a str> {
    let wanted = stream_listens(stream_conf);
    others.iter().find(|(other, conf)| other != stack && stream_listens(conf).intersection(&wanted).next().is_some()).map(|(other, _)| other.as_str())
}

pub(crate) fn check_stream_claims(stack: &str, stream_conf: &str, others: &[(String, String)]) -> Result<(), String> {
    let wanted = stream_listens(stream_conf);
    for (other, conf) in others {
        if other == stack {
            continue;
        }
        if let Some((protocol, port)) = stream_listens(conf).intersection(&wanted).next() {
            return Err(format!(
                "stack {stack:?} routes {} port {port}, which stack {other:?} already routes; on the testbed a TCP/UDP entrypoint serves one stack at a time (undeploy {other:?} first)",
                protocol_name(*protocol)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn service(name: &str, pairs: &[(&str, &str)]) -> (String, HashMap<String, String>) {
        (name.to_owned(), labels(pairs))
    }

    fn http(hosts: &[&str], prefixes: &[&str], entrypoints: &[&str]) -> RouteKind {
        RouteKind::Http {
            hosts: hosts.iter().map(|s| (*s).to_owned()).collect(),
            path_prefixes: prefixes.iter().map(|s| (*s).to_owned()).collect(),
            entrypoints: entrypoints.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The shipped entrypoints, plus `ssb-muxrpc` as the 2021 coop-cloud traefik recipe defines
    /// it (ahdinosaur/coop-cloud-traefik@661bec4 traefik.yml.tmpl: `ssb-muxrpc: address: ":8008"`).
    fn eps() -> Entrypoints {
        let shipped = include_str!("../../../testbed/proxy/entrypoints.toml");
        entrypoints(&format!("{shipped}\n[entrypoints.ssb-muxrpc]\nport = 8008\nprotocol = \"tcp\"\n")).unwrap()
    }

    /// The app service of this repository's custom-html fixture
    /// (testbed/recipes/custom-html/head/compose.yml, the coop-cloud recipe's labels) with
    /// STACK_NAME=site, DOMAIN=site.ccci.test and EXTRA_DOMAINS=", `www.site.ccci.test`" (the
    /// form bonfire's .env.sample documents).
    fn custom_html() -> Vec<(String, HashMap<String, String>)> {
        vec![service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.services.site.loadbalancer.server.port", "80"),
                ("traefik.http.routers.site.rule", "Host(`site.ccci.test`, `www.site.ccci.test`)"),
                ("traefik.http.routers.site.entrypoints", "web-secure"),
                ("traefik.http.routers.site.tls.certresolver", ""),
                ("coop-cloud.site.version", "1.0.0+1.22.1"),
            ],
        )]
    }

    /// ahdinosaur/coop-cloud-go-ssb-room@c3f559b compose.yml (a coop-cloud recipe), app service,
    /// STACK_NAME=room, DOMAIN=room.ccci.test: an HTTP router and a TCP router on `ssb-muxrpc`
    /// that names no service (Traefik then takes the single TCP service).
    fn go_ssb_room(http_rule: &str) -> Vec<(String, HashMap<String, String>)> {
        vec![service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.services.room.loadbalancer.server.port", "3000"),
                ("traefik.http.routers.room.rule", http_rule),
                ("traefik.http.routers.room.entrypoints", "web-secure"),
                ("traefik.http.routers.room.tls.certresolver", "production"),
                ("traefik.http.routers.room.middlewares", "room-redirect-aliases@docker"),
                ("traefik.http.middlewares.room-redirect-aliases.redirectregex.regex", "^https://(\\w+)\\.room.ccci.test/(.*)"),
                ("traefik.tcp.routers.room-muxrpc.rule", "HostSNI(`*`)"),
                ("traefik.tcp.routers.room-muxrpc.entrypoints", "ssb-muxrpc"),
                ("traefik.tcp.services.room-muxrpc.loadbalancer.server.port", "8008"),
            ],
        )]
    }

    /// Matrix routing in the shape of a public NixOS Traefik config found through the code index
    /// (dynamic config routers `matrix` and `matrix-wellknown`, turned into Swarm labels of two
    /// compose services: synapse as `app`, the nginx serving /.well-known as `web`).
    fn matrix() -> Vec<(String, HashMap<String, String>)> {
        vec![
            service(
                "app",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.chat.loadbalancer.server.port", "8008"),
                    (
                        "traefik.http.routers.chat.rule",
                        "(Host(`matrix.chat.test`) && (PathPrefix(`/_matrix`) || PathPrefix(`/_synapse`))) || (Host(`chat.test`) && (PathPrefix(`/_matrix`) || PathPrefix(`/_synapse`)))",
                    ),
                    ("traefik.http.routers.chat.entrypoints", "web-secure"),
                ],
            ),
            service(
                "web",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.chat-web.loadbalancer.server.port", "80"),
                    ("traefik.http.routers.chat-web.rule", "(Host(`chat.test`) && PathPrefix(`/.well-known/matrix`))"),
                    ("traefik.http.routers.chat-web.entrypoints", "web-secure"),
                    ("traefik.http.routers.chat-element.rule", "Host(`element.chat.test`)"),
                    ("traefik.http.routers.chat-element.entrypoints", "web-secure"),
                    ("traefik.http.routers.chat-element.service", "chat-web"),
                ],
            ),
            service("db", &[("traefik.enable", "false"), ("traefik.http.routers.db.rule", "Host(`db.chat.test`)")]),
        ]
    }

    /// Mumble: TCP (TLS, handled by murmur itself) and UDP voice on 64738, on the coop-cloud
    /// traefik recipe's `mumble` / `mumble-udp` entrypoints (names unverified; see
    /// entrypoints.toml).
    fn mumble() -> Vec<(String, HashMap<String, String>)> {
        vec![service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.tcp.routers.voice.rule", "HostSNI(`*`)"),
                ("traefik.tcp.routers.voice.entrypoints", "mumble"),
                ("traefik.tcp.routers.voice.service", "voice"),
                ("traefik.tcp.services.voice.loadbalancer.server.port", "64738"),
                ("traefik.udp.routers.voice.entrypoints", "mumble-udp"),
                ("traefik.udp.routers.voice.service", "voice-udp"),
                ("traefik.udp.services.voice-udp.loadbalancer.server.port", "64738"),
            ],
        )]
    }

    #[test]
    fn a_host_rule_with_several_hosts_becomes_one_route() {
        let routes = routes_from_labels(&custom_html()).unwrap();
        assert_eq!(
            routes,
            [Route {
                router: "site".into(),
                service: "app".into(),
                target_port: 80,
                kind: http(&["site.ccci.test", "www.site.ccci.test"], &[], &["web-secure"]),
            }]
        );
        let conf = nginx_http("site", &routes, &eps()).unwrap();
        assert!(conf.contains("listen 443 ssl http2;"), "{conf}");
        assert!(conf.contains("server_name site.ccci.test www.site.ccci.test;"), "{conf}");
        assert!(conf.contains("ssl_certificate /etc/ccci-proxy/tls/wildcard.pem;"), "{conf}");
        assert!(conf.contains("client_max_body_size 0;"), "{conf}");
        assert!(conf.contains("proxy_set_header Connection $connection_upgrade;"), "{conf}");
        assert!(!conf.contains(FALLBACK_MARKER), "a / location needs no fallback: {conf}");
    }

    #[test]
    fn or_of_host_matchers_and_host_in_any_case_are_one_route() {
        let routes = routes_from_labels(&[service(
            "app",
            &[
                ("Traefik.Enable", "True"),
                ("traefik.http.services.s.loadBalancer.server.port", "8080"),
                ("traefik.http.routers.s.rule", "Host(`A.ccci.test`) || Host(\"b.ccci.test\")"),
            ],
        )])
        .unwrap();
        assert_eq!(routes[0].kind, http(&["a.ccci.test", "b.ccci.test"], &[], &[]));
        assert_eq!(routes[0].target_port, 8080);
    }

    #[test]
    fn upstreams_are_swarm_task_names_through_the_docker_resolver() {
        let conf = nginx_http("site", &routes_from_labels(&custom_html()).unwrap(), &eps()).unwrap();
        assert!(conf.contains("resolver 127.0.0.11 valid=1s ipv6=off;"), "{conf}");
        assert!(conf.contains("set $upstream http://tasks.site_app:80;"), "{conf}");
        assert!(conf.contains("proxy_pass $upstream;"), "{conf}");
    }

    #[test]
    fn several_routers_of_several_services_become_routes() {
        let routes = routes_from_labels(&matrix()).unwrap();
        let summary: Vec<(&str, &str, u16, &RouteKind)> =
            routes.iter().map(|r| (r.service.as_str(), r.router.as_str(), r.target_port, &r.kind)).collect();
        assert_eq!(
            summary,
            [
                ("app", "chat", 8008, &http(&["chat.test", "matrix.chat.test"], &["/_matrix", "/_synapse"], &["web-secure"])),
                ("web", "chat-element", 80, &http(&["element.chat.test"], &[], &["web-secure"])),
                ("web", "chat-web", 80, &http(&["chat.test"], &["/.well-known/matrix"], &["web-secure"])),
            ]
        );
    }

    #[test]
    fn path_prefix_rules_become_locations() {
        let conf = nginx_http("chat", &routes_from_labels(&matrix()).unwrap(), &eps()).unwrap();
        // chat.test gathers the locations of two routers of two services into one server.
        let server = conf.split("\nserver {").find(|s| s.contains("server_name chat.test;")).expect(&conf);
        for (prefix, upstream) in [
            ("/.well-known/matrix", "tasks.chat_web:80"),
            ("/_matrix", "tasks.chat_app:8008"),
            ("/_synapse", "tasks.chat_app:8008"),
        ] {
            let location = server.split(&format!("location {prefix} {{")).nth(1).expect(prefix);
            assert!(location.split('}').next().unwrap().contains(upstream), "{prefix}: {server}");
        }
        // Other paths on a prefix-only host get the proxy's own 404, as Traefik 404s them.
        assert!(server.contains("location / {"), "{server}");
        assert!(server.contains(&format!("return 404 \"{FALLBACK_MARKER} $host$request_uri\\n\";")), "{server}");
        // matrix.chat.test has only synapse's prefixes; element.chat.test is whole.
        assert!(conf.contains("server_name matrix.chat.test;"), "{conf}");
        assert!(conf.contains("server_name element.chat.test;"), "{conf}");
        assert_eq!(conf.matches("\nserver {").count(), 3, "{conf}");
    }

    #[test]
    fn a_rule_that_is_no_single_product_becomes_several_routes() {
        let routes = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.services.s.loadbalancer.server.port", "80"),
                ("traefik.http.routers.s.rule", "(Host(`a.test`) && PathPrefix(`/api`)) || Host(`b.test`) || PathPrefix(`/x`, `/y`)"),
            ],
        )])
        .unwrap();
        let kinds: Vec<&RouteKind> = routes.iter().map(|r| &r.kind).collect();
        assert_eq!(kinds, [&http(&["b.test"], &[], &[]), &http(&["a.test"], &["/api"], &[]), &http(&[], &["/x", "/y"], &[])]);
    }

    #[test]
    fn a_host_less_rule_serves_every_host_of_its_entrypoint() {
        let routes = routes_from_labels(&[
            service(
                "app",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.s.loadbalancer.server.port", "80"),
                    ("traefik.http.routers.s.rule", "Host(`s.test`)"),
                ],
            ),
            service(
                "wk",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.wk.loadbalancer.server.port", "8080"),
                    ("traefik.http.routers.wk.rule", "PathPrefix(`/.well-known/a`, `/.well-known/b`)"),
                ],
            ),
        ])
        .unwrap();
        let conf = nginx_http("s", &routes, &eps()).unwrap();
        let named = conf.split("\nserver {").find(|s| s.contains("server_name s.test;")).expect(&conf);
        assert!(named.contains("location /.well-known/a {") && named.contains("location / {"), "{named}");
        let catch_all = conf.split("\nserver {").find(|s| s.contains("server_name ~^.+$;")).expect(&conf);
        assert!(catch_all.contains("location /.well-known/b {"), "{catch_all}");
        assert!(catch_all.contains(FALLBACK_MARKER), "other paths of unknown hosts keep the 404 page: {catch_all}");
    }

    #[test]
    fn routers_without_entrypoints_use_the_default_and_web_gets_no_server() {
        let routes = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.services.s.loadbalancer.server.port", "80"),
                ("traefik.http.routers.s.rule", "Host(`s.test`)"),
                ("traefik.http.routers.s-plain.rule", "Host(`plain.s.test`)"),
                ("traefik.http.routers.s-plain.entrypoints", "web"),
                ("traefik.http.routers.s-plain.service", "s"),
            ],
        )])
        .unwrap();
        let conf = nginx_http("s", &routes, &eps()).unwrap();
        assert!(conf.contains("server_name s.test;") && conf.contains("listen 443 ssl http2;"), "{conf}");
        assert!(!conf.contains("plain.s.test") && !conf.contains("listen 80"), "web redirects everything: {conf}");
    }

    #[test]
    fn tcp_and_udp_routers_use_their_entrypoints_ports() {
        let routes = routes_from_labels(&mumble()).unwrap();
        assert_eq!(
            routes.iter().map(|r| (&r.kind, r.target_port)).collect::<Vec<_>>(),
            [
                (&RouteKind::Tcp { entrypoints: vec!["mumble".into()], sni: vec![], tls: TcpTls::None }, 64738),
                (&RouteKind::Udp { entrypoints: vec!["mumble-udp".into()] }, 64738),
            ]
        );
        let conf = nginx_stream("talk", &routes, &eps()).unwrap();
        assert!(conf.contains("    listen 64738;\n"), "{conf}");
        assert!(conf.contains("    listen 64738 udp;\n"), "{conf}");
        assert_eq!(conf.matches("set $ccci_upstream tasks.talk_app:64738;").count(), 2, "{conf}");
        assert_eq!(conf.matches("resolver 127.0.0.11 valid=1s ipv6=off;").count(), 2, "{conf}");
        assert!(!conf.contains("ssl"), "raw TCP: murmur does its own TLS: {conf}");
        assert_eq!(nginx_http("talk", &routes, &eps()).unwrap().matches("server {").count(), 0);
    }

    #[test]
    fn the_go_ssb_room_recipe_routes_http_and_its_muxrpc_port() {
        // The recipe's real rule also matches `HostRegexp(`{subdomain:\w+}.${DOMAIN}`)`.
        let err = routes_from_labels(&go_ssb_room("Host(`room.ccci.test`) || HostRegexp(`{subdomain:\\w+}.room.ccci.test`)")).unwrap_err();
        assert!(err.contains("router \"room\"") && err.contains("HostRegexp() is not emulated"), "{err}");
        assert!(err.contains("HostRegexp(`{subdomain"), "the error quotes the rule: {err}");

        let routes = routes_from_labels(&go_ssb_room("Host(`room.ccci.test`)")).unwrap();
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0].kind, http(&["room.ccci.test"], &[], &["web-secure"]));
        assert_eq!((routes[1].router.as_str(), routes[1].target_port), ("room-muxrpc", 8008));
        let conf = nginx_stream("room", &routes, &eps()).unwrap();
        assert!(conf.contains("listen 8008;") && conf.contains("set $ccci_upstream tasks.room_app:8008;"), "{conf}");
    }

    #[test]
    fn a_router_without_a_port_is_an_error_naming_it() {
        let err = routes_from_labels(&[service(
            "app",
            &[("traefik.enable", "true"), ("traefik.http.routers.site.rule", "Host(`s.test`)")],
        )])
        .unwrap_err();
        assert!(err.contains("service \"app\"") && err.contains("router \"site\"") && err.contains("server.port"), "{err}");

        let err = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.routers.site.rule", "Host(`s.test`)"),
                ("traefik.http.routers.site.service", "other"),
                ("traefik.http.services.site.loadbalancer.server.port", "80"),
            ],
        )])
        .unwrap_err();
        assert!(err.contains("router \"site\"") && err.contains("traefik.http.services.other.loadbalancer.server.port is missing"), "{err}");
    }

    #[test]
    fn a_router_without_a_service_among_several_is_an_error() {
        let err = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.routers.site.rule", "Host(`s.test`)"),
                ("traefik.http.services.a.loadbalancer.server.port", "80"),
                ("traefik.http.services.b.loadbalancer.server.port", "81"),
            ],
        )])
        .unwrap_err();
        assert!(err.contains("router \"site\"") && err.contains("\"a\", \"b\""), "{err}");
    }

    #[test]
    fn unknown_matchers_are_errors_naming_the_rule() {
        for (rule, says) in [
            ("Host(`s.test`) && Header(`X-Api`, `1`)", "Header() is not emulated"),
            ("Host(`s.test`) && Method(`POST`)", "Method() is not emulated"),
            ("Path(`/exact`)", "Path() is not emulated"),
            ("Host(`s.test`) && !PathPrefix(`/admin`)", "negation"),
            ("Host(`s.test`) && PathPrefix(`/a`) && PathPrefix(`/a/b`)", "two PathPrefix()"),
            ("Host(`a.test`) && Host(`b.test`)", "matches nothing"),
            ("Host(`s.test`", "expected"),
            ("PathPrefix(`api`)", "must start with `/`"),
        ] {
            let err = routes_from_labels(&[service(
                "app",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.s.loadbalancer.server.port", "80"),
                    ("traefik.http.routers.s.rule", rule),
                ],
            )])
            .unwrap_err();
            assert!(err.contains(&format!("{rule:?}")) && err.contains(says), "{rule}: {err}");
        }
    }

    #[test]
    fn traefik_internal_services_are_errors() {
        // The coop-cloud traefik recipe's own dashboard router
        // (ahdinosaur/coop-cloud-traefik@661bec4 compose.yml).
        let err = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.http.services.traefik.loadbalancer.server.port", "web"),
                ("traefik.http.routers.traefik.rule", "Host(`traefik.ccci.test`)"),
                ("traefik.http.routers.traefik.entrypoints", "web-secure"),
                ("traefik.http.routers.traefik.service", "api@internal"),
                ("traefik.http.routers.traefik.middlewares", "security@file"),
            ],
        )])
        .unwrap_err();
        assert!(err.contains("router \"traefik\"") && err.contains("api@internal"), "{err}");
    }

    #[test]
    fn services_without_traefik_enable_give_no_routes() {
        let mut services = custom_html();
        services[0].1.insert("traefik.enable".into(), "false".into());
        assert_eq!(routes_from_labels(&services).unwrap(), []);
        services[0].1.remove("traefik.enable");
        assert_eq!(routes_from_labels(&services).unwrap(), []);
    }

    #[test]
    fn host_sni_names_route_by_sni() {
        // docker-mailserver's Traefik docs (PROXY protocol page): implicit-TLS ports may match
        // `HostSNI(`mail.example.com`)` with `tls.passthrough=true`.
        let mail = |passthrough: bool| {
            let mut pairs = vec![
                ("traefik.enable", "true"),
                ("traefik.tcp.routers.mail-imaps.rule", "HostSNI(`mail.ccci.test`)"),
                ("traefik.tcp.routers.mail-imaps.entrypoints", "imaps"),
                ("traefik.tcp.routers.mail-imaps.service", "imaps"),
                ("traefik.tcp.services.imaps.loadbalancer.server.port", "993"),
            ];
            pairs.push(if passthrough { ("traefik.tcp.routers.mail-imaps.tls.passthrough", "true") } else { ("traefik.tcp.routers.mail-imaps.tls", "true") });
            routes_from_labels(&[service("mailserver", &pairs)]).unwrap()
        };
        let conf = nginx_stream("mail", &mail(true), &eps()).unwrap();
        assert!(conf.contains("map $ssl_preread_server_name $ccci_mail_993 {"), "{conf}");
        assert!(conf.contains("    mail.ccci.test tasks.mail_mailserver:993; # router mail-imaps"), "{conf}");
        assert!(conf.contains("default \"\";"), "{conf}");
        assert!(conf.contains("listen 993;") && conf.contains("ssl_preread on;") && conf.contains("proxy_pass $ccci_mail_993;"), "{conf}");

        let conf = nginx_stream("mail", &mail(false), &eps()).unwrap();
        assert!(conf.contains("map $ssl_server_name $ccci_mail_993 {") && conf.contains("listen 993 ssl;"), "{conf}");
        assert!(conf.contains("ssl_certificate /etc/ccci-proxy/tls/wildcard.pem;") && !conf.contains("ssl_preread"), "{conf}");
    }

    #[test]
    fn host_sni_with_a_name_but_no_tls_is_an_error() {
        let err = routes_from_labels(&[service(
            "app",
            &[
                ("traefik.enable", "true"),
                ("traefik.tcp.routers.t.rule", "HostSNI(`t.test`)"),
                ("traefik.tcp.services.t.loadbalancer.server.port", "5432"),
            ],
        )])
        .unwrap_err();
        assert!(err.contains("router \"t\"") && err.contains("needs tls"), "{err}");
    }

    #[test]
    fn two_catch_all_tcp_routers_on_one_entrypoint_are_an_error() {
        let mut services = mumble();
        services.push(service(
            "bot",
            &[
                ("traefik.enable", "true"),
                ("traefik.tcp.routers.bot.rule", "HostSNI(`*`)"),
                ("traefik.tcp.routers.bot.entrypoints", "mumble"),
                ("traefik.tcp.services.bot.loadbalancer.server.port", "64739"),
            ],
        ));
        let err = nginx_stream("talk", &routes_from_labels(&services).unwrap(), &eps()).unwrap_err();
        assert!(err.contains("HostSNI(`*`)") && err.contains("\"voice\"") && err.contains("\"bot\""), "{err}");
    }

    #[test]
    fn a_second_stack_cannot_claim_a_taken_stream_port() {
        let eps = eps();
        let first = nginx_stream("talk", &routes_from_labels(&mumble()).unwrap(), &eps).unwrap();
        let second = nginx_stream("talk2", &routes_from_labels(&mumble()).unwrap(), &eps).unwrap();
        let others = vec![("talk".to_owned(), first.clone())];
        let err = check_stream_claims("talk2", &second, &others).unwrap_err();
        assert!(err.contains("\"talk\"") && err.contains("port 64738"), "{err}");
        assert_eq!(stream_claim_holder("talk2", &second, &others), Some("talk"), "the deploy layer waits for the holder");
        // A re-deploy of the owner, and a stack on other ports, pass.
        check_stream_claims("talk", &first, &others).unwrap();
        assert_eq!(stream_claim_holder("talk", &first, &others), None);
        let room = nginx_stream("room", &routes_from_labels(&go_ssb_room("Host(`r.test`)")).unwrap(), &eps).unwrap();
        check_stream_claims("room", &room, &others).unwrap();
    }

    #[test]
    fn conflicting_locations_are_an_error_naming_both_routers() {
        let routes = routes_from_labels(&[
            service(
                "app",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.a.loadbalancer.server.port", "80"),
                    ("traefik.http.routers.a.rule", "Host(`s.test`)"),
                ],
            ),
            service(
                "other",
                &[
                    ("traefik.enable", "true"),
                    ("traefik.http.services.b.loadbalancer.server.port", "80"),
                    ("traefik.http.routers.b.rule", "Host(`s.test`) && PathPrefix(`/`)"),
                ],
            ),
        ])
        .unwrap();
        let err = nginx_http("s", &routes, &eps()).unwrap_err();
        assert!(err.contains("s.test/") && err.contains("router \"a\"") && err.contains("router \"b\""), "{err}");
    }

    #[test]
    fn an_unknown_or_mismatched_entrypoint_is_an_error_naming_it() {
        let mut services = custom_html();
        services[0].1.insert("traefik.http.routers.site.entrypoints".into(), "websecure".into());
        let err = nginx_http("site", &routes_from_labels(&services).unwrap(), &eps()).unwrap_err();
        assert!(err.contains("router \"site\"") && err.contains("\"websecure\"") && err.contains("entrypoints.toml"), "{err}");

        let mut services = mumble();
        services[0].1.insert("traefik.tcp.routers.voice.entrypoints".into(), "web-secure".into());
        let err = nginx_stream("talk", &routes_from_labels(&services).unwrap(), &eps()).unwrap_err();
        assert!(err.contains("\"web-secure\" is an http entrypoint"), "{err}");
    }

    #[test]
    fn entrypoints_toml_is_checked() {
        for (text, says) in [
            ("[entrypoints.a]\nport = 1\nprotocol = \"tcp\"\n[entrypoints.b]\nport = 1\nprotocol = \"tcp\"\n", "already entrypoint \"a\""),
            ("[entrypoints.a]\nport = 1\nprotocol = \"udp\"\nhttp = \"https\"\n", "HTTP needs protocol"),
            ("[entrypoints.a]\nport = 1\nprotocol = \"sctp\"\n", "entrypoints.toml"),
            ("[entrypoints.a]\nport = 80\nprotocol = \"tcp\"\nhttp = \"http\"\nredirect_to = \"b\"\n", "redirects to \"b\""),
            ("[entrypoints.a]\nport = 1\nprotocol = \"tcp\"\nhost = \"x\"\n", "unknown field"),
        ] {
            let err = entrypoints(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let both = entrypoints("[entrypoints.m]\nport = 64738\nprotocol = \"tcp\"\n[entrypoints.m-udp]\nport = 64738\nprotocol = \"udp\"\n").unwrap();
        assert_eq!(both.iter().map(|e| (e.name.as_str(), e.protocol)).collect::<Vec<_>>(), [("m", Protocol::Tcp), ("m-udp", Protocol::Udp)]);
    }

    #[test]
    fn the_proxy_publishes_every_shipped_entrypoint() {
        let eps = entrypoints(include_str!("../../../testbed/proxy/entrypoints.toml")).unwrap();
        assert_eq!(eps.get("web-secure").map(|e| (e.port, e.http, e.default)), Some((443, Some(HttpMode::Https), true)));
        assert_eq!(eps.get("web").and_then(|e| e.redirect_to.as_deref()), Some("web-secure"));
        // compose.yml: `- target: P` / `published: P` / `protocol: tcp|udp` / `mode: host`.
        let compose = include_str!("../../../testbed/proxy/compose.yml");
        let mut published = BTreeSet::new();
        let lines: Vec<&str> = compose.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(port) = line.strip_prefix("- target:") else { continue };
            let port: u16 = port.trim().parse().unwrap();
            let field = |name: &str| lines[i + 1..].iter().take(3).find_map(|l| l.strip_prefix(name)).map(str::trim);
            assert_eq!(field("published:"), Some(port.to_string().as_str()), "port {port} is published as itself");
            assert_eq!(field("mode:"), Some("host"), "port {port} is published in host mode");
            let protocol = match field("protocol:") {
                Some("udp") => Protocol::Udp,
                Some("tcp") => Protocol::Tcp,
                other => panic!("port {port}: protocol {other:?}"),
            };
            published.insert((protocol, port));
        }
        let wanted: BTreeSet<(Protocol, u16)> = eps.iter().map(|e| (e.protocol, e.port)).collect();
        assert_eq!(published, wanted, "compose.yml publishes exactly the ports of entrypoints.toml");
        // nginx.conf has a default server on every HTTP entrypoint, and includes the route files.
        let nginx = include_str!("../../../testbed/proxy/nginx.conf");
        for ep in eps.iter().filter(|e| e.http.is_some()) {
            let ssl = if ep.http == Some(HttpMode::Https) { " ssl http2" } else { "" };
            assert!(nginx.contains(&format!("listen {}{ssl} default_server;", ep.port)), "default server of {}", ep.name);
        }
        assert!(nginx.contains("include /etc/ccci-proxy/routes/http/*.conf;"));
        assert!(nginx.contains("include /etc/ccci-proxy/routes/stream/*.conf;"));
    }
}

//! A fake Gitea for xtask's tests: an in-process HTTP server on 127.0.0.1 that serves the
//! part of the Gitea REST API `cargo xtask testme` uses, with the response shapes of Gitea
//! 1.22 (`/api/v1`: `User`, `Repository`, `PullRequest` with `PRBranchInfo`, `ChangedFile`,
//! `Comment`, `CommitStatus`, `RepoCollaboratorPermission`, and Gitea's error bodies).
//!
//! It is a fake, not a mock of our client: Gitea is a third-party service we cannot run here
//! (no network beyond package registries), and a real instance per test would cost minutes.
//! It keeps state like Gitea does: comments are stored, an edit changes the stored body and
//! `updated_at`, statuses accumulate per commit, and Gitea's rules that matter to us are
//! enforced (a token is required and checked, only the poster or a repo admin edits a comment,
//! only admins read other users' permissions, only a site admin's token may `Sudo`, statuses
//! need write access, files are paged), and so is one quirk of Gitea 1.27 seen against the
//! real server: the collaborator permission endpoint reports team write access as `read`.
//! The `clone_url` of a repository is whatever the test registers: a local git repository,
//! since the fake serves no git protocol.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(crate) struct FakeUser {
    pub(crate) id: i64,
    pub(crate) login: String,
    pub(crate) is_admin: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct FakePull {
    pub(crate) number: u64,
    pub(crate) title: String,
    pub(crate) poster: String,
    pub(crate) head_ref: String,
    pub(crate) head_sha: String,
    pub(crate) base_ref: String,
    pub(crate) base_sha: String,
    /// (filename, status, previous filename)
    pub(crate) files: Vec<(String, String, String)>,
    pub(crate) state: String,
}

/// A collaborator entry for write access given through an organisation team.
const TEAM_WRITE: &str = "team-write";

#[derive(Debug, Clone)]
pub(crate) struct FakeRepo {
    pub(crate) id: i64,
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) clone_url: String,
    /// login -> `read` | `write` | `admin`
    pub(crate) collaborators: HashMap<String, String>,
    pub(crate) pulls: BTreeMap<u64, (i64, FakePull)>,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeComment {
    pub(crate) id: u64,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) issue: u64,
    pub(crate) user: String,
    pub(crate) body: String,
    pub(crate) created: u64,
    pub(crate) updated: u64,
    /// How many times it was edited through the API.
    pub(crate) edits: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeStatus {
    pub(crate) id: i64,
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) sha: String,
    pub(crate) state: String,
    pub(crate) description: String,
    pub(crate) context: String,
    pub(crate) target_url: String,
    pub(crate) creator: String,
    pub(crate) created: u64,
}

#[derive(Debug, Default)]
pub(crate) struct GiteaState {
    pub(crate) base_url: String,
    next_id: i64,
    /// Seconds added to every timestamp, so an edit is visibly later than the creation.
    clock: u64,
    users: BTreeMap<String, FakeUser>,
    tokens: HashMap<String, String>,
    repos: BTreeMap<(String, String), FakeRepo>,
    pub(crate) comments: Vec<FakeComment>,
    pub(crate) statuses: Vec<FakeStatus>,
    /// `METHOD /path` of every request, in order.
    pub(crate) requests: Vec<String>,
}

impl GiteaState {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn now(&mut self) -> u64 {
        self.clock += 1;
        1_714_564_800 + self.clock
    }

    fn swagger(&self) -> String {
        format!("{}/api/swagger", self.base_url)
    }

    fn user_json(&self, login: &str) -> Value {
        let user = self.users.get(login).cloned().unwrap_or(FakeUser { id: -1, login: login.into(), is_admin: false });
        json!({
            "id": user.id,
            "login": user.login,
            "login_name": "",
            "source_id": 0,
            "full_name": "",
            "email": format!("{}@noreply.localhost", user.login),
            "avatar_url": format!("{}/avatars/{}", self.base_url, user.id),
            "html_url": format!("{}/{}", self.base_url, user.login),
            "language": "",
            "is_admin": user.is_admin,
            "last_login": "2024-05-01T12:00:00Z",
            "created": "2024-01-01T00:00:00Z",
            "restricted": false,
            "active": true,
            "prohibit_login": false,
            "location": "",
            "website": "",
            "description": "",
            "visibility": "public",
            "followers_count": 0,
            "following_count": 0,
            "starred_repos_count": 0,
            "username": user.login,
        })
    }

    fn permission_of(&self, repo: &FakeRepo, login: &str) -> &'static str {
        if login == repo.owner {
            return "owner";
        }
        if self.users.get(login).is_some_and(|u| u.is_admin) {
            return "admin";
        }
        match repo.collaborators.get(login).map(String::as_str) {
            Some("admin") => "admin",
            Some("write" | TEAM_WRITE) => "write",
            // Public repositories: everyone else reads.
            _ => "read",
        }
    }

    fn repo_json(&self, repo: &FakeRepo, doer: &str) -> Value {
        let perm = self.permission_of(repo, doer);
        let full = format!("{}/{}", repo.owner, repo.name);
        let mut out = json!({
            "id": repo.id,
            "owner": self.user_json(&repo.owner),
            "name": repo.name,
            "full_name": full,
            "description": "",
            "empty": false,
            "private": false,
            "fork": false,
            "template": false,
            "parent": null,
            "mirror": false,
            "size": 42,
            "language": "",
            "languages_url": format!("{}/api/v1/repos/{full}/languages", self.base_url),
            "html_url": format!("{}/{full}", self.base_url),
            "url": format!("{}/api/v1/repos/{full}", self.base_url),
            "link": "",
            "ssh_url": format!("git@fake-gitea:{full}.git"),
            "clone_url": repo.clone_url,
            "original_url": "",
            "website": "",
            "stars_count": 0,
            "forks_count": 0,
            "watchers_count": 1,
            "open_issues_count": 0,
            "open_pr_counter": repo.pulls.values().filter(|(_, p)| p.state == "open").count(),
            "release_counter": 0,
            "default_branch": "main",
        });
        // Two literals: one would exceed the json! macro's recursion budget.
        let more = json!({
            "archived": false,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-05-01T12:00:00Z",
            "archived_at": "1970-01-01T00:00:00Z",
            "permissions": { "admin": matches!(perm, "owner" | "admin"), "push": perm != "read", "pull": true },
            "has_issues": true,
            "internal_tracker": { "enable_time_tracker": true, "allow_only_contributors_to_track_time": true, "enable_issue_dependencies": true },
            "has_wiki": true,
            "has_pull_requests": true,
            "has_projects": true,
            "projects_mode": "all",
            "has_releases": true,
            "has_packages": true,
            "has_actions": false,
            "ignore_whitespace_conflicts": false,
            "allow_merge_commits": true,
            "allow_rebase": true,
            "allow_rebase_explicit": true,
            "allow_squash_merge": true,
            "allow_fast_forward_only_merge": true,
            "allow_rebase_update": true,
            "default_delete_branch_after_merge": false,
            "default_merge_style": "merge",
            "default_allow_maintainer_edit": false,
            "avatar_url": "",
            "internal": false,
            "mirror_interval": "",
            "object_format_name": "sha1",
            "mirror_updated": "0001-01-01T00:00:00Z",
            "repo_transfer": null,
            "topics": [],
            "licenses": [],
        });
        if let (Some(out), Value::Object(more)) = (out.as_object_mut(), more) {
            out.extend(more);
        }
        out
    }

    fn pull_json(&self, repo: &FakeRepo, id: i64, pull: &FakePull, doer: &str) -> Value {
        let full = format!("{}/{}", repo.owner, repo.name);
        let html = format!("{}/{full}/pulls/{}", self.base_url, pull.number);
        let branch = |label: &str, ref_name: &str, sha: &str| {
            json!({ "label": label, "ref": ref_name, "sha": sha, "repo_id": repo.id, "repo": self.repo_json(repo, doer) })
        };
        json!({
            "id": id,
            "url": html,
            "number": pull.number,
            "user": self.user_json(&pull.poster),
            "title": pull.title,
            "body": "",
            "labels": [],
            "milestone": null,
            "assignee": null,
            "assignees": null,
            "requested_reviewers": null,
            "requested_reviewers_teams": null,
            "state": pull.state,
            "draft": false,
            "is_locked": false,
            "comments": self.comments.iter().filter(|c| c.owner == repo.owner && c.repo == repo.name && c.issue == pull.number).count(),
            "review_comments": 0,
            "additions": pull.files.len() * 3,
            "deletions": pull.files.len(),
            "changed_files": pull.files.len(),
            "html_url": html,
            "diff_url": format!("{html}.diff"),
            "patch_url": format!("{html}.patch"),
            "mergeable": true,
            "merged": false,
            "merged_at": null,
            "merge_commit_sha": null,
            "merged_by": null,
            "allow_maintainer_edit": false,
            "base": branch(&pull.base_ref, &pull.base_ref, &pull.base_sha),
            "head": branch(&pull.head_ref, &pull.head_ref, &pull.head_sha),
            "merge_base": pull.base_sha,
            "due_date": null,
            "created_at": "2024-05-01T12:00:00Z",
            "updated_at": "2024-05-01T12:00:00Z",
            "closed_at": null,
            "pin_order": 0,
        })
    }

    fn comment_json(&self, c: &FakeComment) -> Value {
        let pr_url = format!("{}/{}/{}/pulls/{}", self.base_url, c.owner, c.repo, c.issue);
        json!({
            "id": c.id,
            "html_url": format!("{pr_url}#issuecomment-{}", c.id),
            "pull_request_url": pr_url,
            "issue_url": "",
            "user": self.user_json(&c.user),
            "original_author": "",
            "original_author_id": 0,
            "body": c.body,
            "assets": [],
            "created_at": rfc3339(c.created),
            "updated_at": rfc3339(c.updated),
        })
    }

    fn status_json(&self, s: &FakeStatus) -> Value {
        json!({
            "id": s.id,
            "status": s.state,
            "target_url": s.target_url,
            "description": s.description,
            "url": format!("{}/api/v1/repos/{}/{}/statuses/{}", self.base_url, s.owner, s.repo, s.sha),
            "context": s.context,
            "creator": self.user_json(&s.creator),
            "created_at": rfc3339(s.created),
            "updated_at": rfc3339(s.created),
        })
    }
}

fn rfc3339(unix: u64) -> String {
    xtask::rfc3339(unix)
}

type Shared = Arc<Mutex<GiteaState>>;

fn lock(state: &Shared) -> MutexGuard<'_, GiteaState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gitea's `APIError` body.
fn error(state: &GiteaState, status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message, "url": state.swagger() }))).into_response()
}

/// Gitea's `APINotFound` body.
fn not_found(state: &GiteaState) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({ "errors": null, "message": "The target couldn't be found.", "url": state.swagger() }))).into_response()
}

/// The signed-in user, from `Authorization: token <t>` (or `Bearer`), as Gitea checks it.
fn doer(state: &GiteaState, headers: &HeaderMap) -> Result<FakeUser, Box<Response>> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = header.strip_prefix("token ").or_else(|| header.strip_prefix("Bearer ")).map(str::trim);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(Box::new(error(state, StatusCode::UNAUTHORIZED, "token is required")));
    };
    let user = match state.tokens.get(token).and_then(|login| state.users.get(login)) {
        Some(user) => user.clone(),
        None => return Err(Box::new(error(state, StatusCode::UNAUTHORIZED, "user does not exist [uid: 0, name: ]"))),
    };
    // Gitea's `sudo` middleware: a site admin's token acts as the named user.
    match headers.get("sudo").and_then(|v| v.to_str().ok()) {
        None => Ok(user),
        Some(_) if !user.is_admin => Err(Box::new(error(state, StatusCode::FORBIDDEN, "Only administrators allowed to sudo."))),
        Some(login) => match state.users.get(login) {
            Some(other) => Ok(other.clone()),
            None => Err(Box::new(error(state, StatusCode::NOT_FOUND, &format!("user redirect does not exist [name: {}]", login.to_lowercase())))),
        },
    }
}

fn log(state: &mut GiteaState, method: &str, path: String) {
    state.requests.push(format!("{method} {path}"));
}

async fn get_user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", "/api/v1/user".into());
    match doer(&s, &headers) {
        Ok(user) => Json(s.user_json(&user.login)).into_response(),
        Err(r) => *r,
    }
}

async fn get_repo(State(state): State<Shared>, headers: HeaderMap, Path((owner, repo)): Path<(String, String)>) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    match s.repos.get(&(owner, repo)) {
        Some(r) => Json(s.repo_json(r, &user.login)).into_response(),
        None => not_found(&s),
    }
}

async fn get_pull(State(state): State<Shared>, headers: HeaderMap, Path((owner, repo, index)): Path<(String, String, u64)>) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}/pulls/{index}"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(r) = s.repos.get(&(owner, repo)) else { return not_found(&s) };
    match r.pulls.get(&index) {
        Some((id, pull)) => Json(s.pull_json(r, *id, pull, &user.login)).into_response(),
        None => not_found(&s),
    }
}

#[derive(Deserialize)]
struct Paging {
    page: Option<usize>,
    limit: Option<usize>,
}

async fn get_pull_files(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo, index)): Path<(String, String, u64)>,
    Query(paging): Query<Paging>,
) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}/pulls/{index}/files"));
    if let Err(r) = doer(&s, &headers) {
        return *r;
    }
    let Some(r) = s.repos.get(&(owner.clone(), repo.clone())) else { return not_found(&s) };
    let Some((_, pull)) = r.pulls.get(&index) else { return not_found(&s) };
    // Gitea: page is 1-based; limit defaults to 30 and is capped at 50.
    let limit = paging.limit.unwrap_or(30).clamp(1, 50);
    let page = paging.page.unwrap_or(1).max(1);
    let total = pull.files.len();
    let items: Vec<Value> = pull
        .files
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|(name, status, previous)| {
            json!({
                "filename": name,
                "previous_filename": previous,
                "status": status,
                "additions": 3,
                "deletions": 1,
                "changes": 4,
                "html_url": format!("{}/{owner}/{repo}/src/commit/{}/{name}", s.base_url, pull.head_sha),
                "contents_url": format!("{}/api/v1/repos/{owner}/{repo}/contents/{name}?ref={}", s.base_url, pull.head_sha),
                "raw_url": format!("{}/{owner}/{repo}/raw/commit/{}/{name}", s.base_url, pull.head_sha),
            })
        })
        .collect();
    let mut response = Json(items).into_response();
    let h = response.headers_mut();
    h.insert("x-total-count", HeaderValue::from(total));
    let pages = total.div_ceil(limit).max(1);
    if page < pages {
        let link = format!(
            "<{base}/api/v1/repos/{owner}/{repo}/pulls/{index}/files?limit={limit}&page={next}>; rel=\"next\",<{base}/api/v1/repos/{owner}/{repo}/pulls/{index}/files?limit={limit}&page={pages}>; rel=\"last\"",
            base = s.base_url,
            next = page + 1
        );
        h.insert("link", HeaderValue::from_str(&link).unwrap());
    }
    response
}

async fn get_comment(State(state): State<Shared>, headers: HeaderMap, Path((owner, repo, id)): Path<(String, String, u64)>) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}/issues/comments/{id}"));
    if let Err(r) = doer(&s, &headers) {
        return *r;
    }
    match s.comments.iter().find(|c| c.id == id && c.owner == owner && c.repo == repo) {
        Some(c) => Json(s.comment_json(c)).into_response(),
        None => not_found(&s),
    }
}

#[derive(Deserialize)]
struct CommentBody {
    body: String,
}

async fn patch_comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    Json(body): Json<CommentBody>,
) -> Response {
    let mut s = lock(&state);
    log(&mut s, "PATCH", format!("/api/v1/repos/{owner}/{repo}/issues/comments/{id}"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(index) = s.comments.iter().position(|c| c.id == id && c.owner == owner && c.repo == repo) else { return not_found(&s) };
    let is_admin = s.repos.get(&(owner.clone(), repo.clone())).is_some_and(|r| matches!(s.permission_of(r, &user.login), "owner" | "admin"));
    if s.comments[index].user != user.login && !is_admin {
        // Gitea answers a foreign edit with a bare 403.
        return StatusCode::FORBIDDEN.into_response();
    }
    let now = s.now();
    let c = &mut s.comments[index];
    c.body = body.body;
    c.updated = now;
    c.edits += 1;
    let c = c.clone();
    Json(s.comment_json(&c)).into_response()
}

async fn list_comments(State(state): State<Shared>, headers: HeaderMap, Path((owner, repo, index)): Path<(String, String, u64)>) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}/issues/{index}/comments"));
    if let Err(r) = doer(&s, &headers) {
        return *r;
    }
    let Some(r) = s.repos.get(&(owner.clone(), repo.clone())) else { return not_found(&s) };
    if !r.pulls.contains_key(&index) {
        return not_found(&s);
    }
    let items: Vec<Value> = s.comments.iter().filter(|c| c.owner == owner && c.repo == repo && c.issue == index).map(|c| s.comment_json(c)).collect();
    Json(items).into_response()
}

async fn create_comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo, index)): Path<(String, String, u64)>,
    Json(body): Json<CommentBody>,
) -> Response {
    let mut s = lock(&state);
    log(&mut s, "POST", format!("/api/v1/repos/{owner}/{repo}/issues/{index}/comments"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(r) = s.repos.get(&(owner.clone(), repo.clone())) else { return not_found(&s) };
    if !r.pulls.contains_key(&index) {
        return not_found(&s);
    }
    if body.body.trim().is_empty() {
        return error(&s, StatusCode::UNPROCESSABLE_ENTITY, "[Body]: Required");
    }
    let id = s.id() as u64;
    let now = s.now();
    let c = FakeComment { id, owner, repo, issue: index, user: user.login, body: body.body, created: now, updated: now, edits: 0 };
    s.comments.push(c.clone());
    (StatusCode::CREATED, Json(s.comment_json(&c))).into_response()
}

async fn get_permission(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo, collaborator)): Path<(String, String, String)>,
) -> Response {
    let mut s = lock(&state);
    log(&mut s, "GET", format!("/api/v1/repos/{owner}/{repo}/collaborators/{collaborator}/permission"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(r) = s.repos.get(&(owner, repo)) else { return not_found(&s) };
    let doer_perm = s.permission_of(r, &user.login);
    if !user.is_admin && user.login != collaborator && !matches!(doer_perm, "owner" | "admin") {
        return error(
            &s,
            StatusCode::FORBIDDEN,
            "Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own",
        );
    }
    if !s.users.contains_key(&collaborator) {
        return not_found(&s);
    }
    // Gitea 1.27 answers here with the general access mode only: a non-admin team's write
    // access is per unit and reads as `read` (seen against a real Gitea 1.27.3).
    let permission = match r.collaborators.get(&collaborator).map(String::as_str) {
        Some(TEAM_WRITE) => "read",
        _ => s.permission_of(r, &collaborator),
    };
    Json(json!({ "permission": permission, "role_name": permission, "user": s.user_json(&collaborator) })).into_response()
}

#[derive(Deserialize)]
struct StatusBody {
    state: String,
    #[serde(default)]
    target_url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    context: String,
}

async fn create_status(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    Json(body): Json<StatusBody>,
) -> Response {
    let mut s = lock(&state);
    log(&mut s, "POST", format!("/api/v1/repos/{owner}/{repo}/statuses/{sha}"));
    let user = match doer(&s, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(r) = s.repos.get(&(owner.clone(), repo.clone())) else { return not_found(&s) };
    if s.permission_of(r, &user.login) == "read" {
        return error(&s, StatusCode::FORBIDDEN, "user should have a permission to write to a repo");
    }
    if !matches!(body.state.as_str(), "pending" | "success" | "error" | "failure" | "warning") {
        return error(&s, StatusCode::BAD_REQUEST, &format!("invalid commit status state {:?}", body.state));
    }
    let id = s.id();
    let created = s.now();
    let status = FakeStatus {
        id,
        owner,
        repo,
        sha,
        state: body.state,
        description: body.description,
        context: if body.context.is_empty() { "default".into() } else { body.context },
        target_url: body.target_url,
        creator: user.login,
        created,
    };
    s.statuses.push(status.clone());
    (StatusCode::CREATED, Json(s.status_json(&status))).into_response()
}

async fn fallback(State(state): State<Shared>, uri: axum::http::Uri) -> Response {
    let mut s = lock(&state);
    log(&mut s, "?", uri.path().to_owned());
    not_found(&s)
}

/// The running fake: its base URL (what `GITEA_URL` is set to) and its state.
pub(crate) struct FakeGitea {
    pub(crate) url: String,
    state: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitea {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeGitea {
    /// Binds 127.0.0.1 on a free port and serves until dropped (on the current runtime).
    pub(crate) async fn start() -> FakeGitea {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the fake Gitea");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state: Shared = Arc::new(Mutex::new(GiteaState { base_url: url.clone(), ..GiteaState::default() }));
        let api = "/api/v1/repos/{owner}/{repo}";
        let app = Router::new()
            .route("/api/v1/user", get(get_user))
            .route(api, get(get_repo))
            .route(&format!("{api}/pulls/{{index}}"), get(get_pull))
            .route(&format!("{api}/pulls/{{index}}/files"), get(get_pull_files))
            .route(&format!("{api}/issues/comments/{{id}}"), get(get_comment).patch(patch_comment))
            .route(&format!("{api}/issues/{{index}}/comments"), get(list_comments).post(create_comment))
            .route(&format!("{api}/collaborators/{{collaborator}}/permission"), get(get_permission))
            .route(&format!("{api}/statuses/{{sha}}"), post(create_status))
            .fallback(fallback)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the fake Gitea stopped");
        });
        FakeGitea { url, state, server }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, GiteaState> {
        lock(&self.state)
    }

    /// A user, and (with `token`) an access token for them.
    pub(crate) fn add_user(&self, login: &str, is_admin: bool, token: Option<&str>) {
        let mut s = self.state();
        let id = s.id();
        s.users.insert(login.into(), FakeUser { id, login: login.into(), is_admin });
        if let Some(token) = token {
            s.tokens.insert(token.into(), login.into());
        }
    }

    pub(crate) fn add_repo(&self, owner: &str, name: &str, clone_url: &str) {
        let mut s = self.state();
        if !s.users.contains_key(owner) {
            let id = s.id();
            s.users.insert(owner.into(), FakeUser { id, login: owner.into(), is_admin: false });
        }
        let id = s.id();
        let repo = FakeRepo { id, owner: owner.into(), name: name.into(), clone_url: clone_url.into(), collaborators: HashMap::new(), pulls: BTreeMap::new() };
        s.repos.insert((owner.into(), name.into()), repo);
    }

    /// Write access through a member's organisation team (not a direct collaborator).
    pub(crate) fn add_team_writer(&self, owner: &str, repo: &str, login: &str) {
        self.add_collaborator(owner, repo, login, TEAM_WRITE);
    }

    /// `permission`: `read`, `write` or `admin`.
    pub(crate) fn add_collaborator(&self, owner: &str, repo: &str, login: &str, permission: &str) {
        let mut s = self.state();
        s.repos.get_mut(&(owner.into(), repo.into())).expect("repo").collaborators.insert(login.into(), permission.into());
    }

    pub(crate) fn add_pull(&self, owner: &str, repo: &str, pull: FakePull) {
        let mut s = self.state();
        let id = s.id();
        s.repos.get_mut(&(owner.into(), repo.into())).expect("repo").pulls.insert(pull.number, (id, pull));
    }

    /// A comment as a user would post it in the web UI; returns its id.
    pub(crate) fn add_comment(&self, owner: &str, repo: &str, issue: u64, user: &str, body: &str) -> u64 {
        let mut s = self.state();
        let id = s.id() as u64;
        let now = s.now();
        s.comments.push(FakeComment { id, owner: owner.into(), repo: repo.into(), issue, user: user.into(), body: body.into(), created: now, updated: now, edits: 0 });
        id
    }

    pub(crate) fn comments_on(&self, owner: &str, repo: &str, issue: u64) -> Vec<FakeComment> {
        self.state().comments.iter().filter(|c| c.owner == owner && c.repo == repo && c.issue == issue).cloned().collect()
    }

    pub(crate) fn statuses_on(&self, sha: &str) -> Vec<FakeStatus> {
        self.state().statuses.iter().filter(|s| s.sha == sha).cloned().collect()
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

impl FakePull {
    pub(crate) fn new(number: u64, poster: &str, head_sha: &str) -> FakePull {
        FakePull {
            number,
            title: format!("PR {number}"),
            poster: poster.into(),
            head_ref: "feature".into(),
            head_sha: head_sha.into(),
            base_ref: "main".into(),
            base_sha: "0000000000000000000000000000000000000001".into(),
            files: vec![],
            state: "open".into(),
        }
    }

    pub(crate) fn with_files(mut self, files: &[&str]) -> FakePull {
        self.files = files.iter().map(|f| (f.to_string(), "modified".to_string(), String::new())).collect();
        self
    }
}

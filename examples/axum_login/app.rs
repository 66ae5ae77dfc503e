//! The application's routes: `router(sessions)` is the whole site.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use sessionkit::http::CookieSettings;
use sessionkit::tower::{Session, SessionLayer};
use sessionkit::Sessions;

/// The demo's users and their passwords. A real application checks a password hash.
const USERS: &[(&str, &str)] = &[("alice", "wonderland"), ("bob", "builder")];

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    ))
}

/// The sessions are unavailable: say so instead of pretending nobody is logged in.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page("Try again", "<p>Sessions are unavailable right now.</p>"),
    )
        .into_response()
}

async fn home(session: Session) -> Response {
    let user = match session.user_id().await {
        Ok(user) => user,
        Err(_) => return unavailable(),
    };
    let Some(user) = user else {
        return page(
            "Welcome",
            "<p id=\"status\">You are not logged in.</p><p><a id=\"login\" href=\"/login\">Log in</a></p>",
        )
        .into_response();
    };
    let visits: u64 = session.get("visits").await.ok().flatten().unwrap_or(0) + 1;
    if session.insert("visits", visits).await.is_err() {
        return unavailable();
    }
    page(
        "Welcome",
        &format!(
            "<p id=\"status\">Logged in as <b id=\"user\">{user}</b>.</p>\
             <p>You have seen this page <span id=\"visits\">{visits}</span> times.</p>\
             <form method=\"post\" action=\"/logout\"><button id=\"logout\">Log out</button></form>"
        ),
    )
    .into_response()
}

fn login_form(message: &str) -> Html<String> {
    page(
        "Log in",
        &format!(
            "<p id=\"message\">{message}</p>\
             <form method=\"post\" action=\"/login\">\
             <label>User <input id=\"username\" name=\"username\" autocomplete=\"username\"></label>\
             <label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
             <button id=\"submit\">Log in</button></form>"
        ),
    )
}

async fn login_page() -> Html<String> {
    login_form("Try alice / wonderland.")
}

async fn login(session: Session, Form(form): Form<Credentials>) -> Response {
    let known = USERS
        .iter()
        .any(|(user, password)| *user == form.username && *password == form.password);
    if !known {
        return (
            StatusCode::UNAUTHORIZED,
            login_form("Wrong user or password."),
        )
            .into_response();
    }
    // A new session key at login (no session fixation), the user's id stored in it.
    match session.login(&form.username).await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(_) => unavailable(),
    }
}

async fn logout(session: Session) -> Response {
    match session.logout().await {
        Ok(()) => Redirect::to("/").into_response(),
        Err(_) => unavailable(),
    }
}

/// The site: `/` (the visit counter), `/login` (the form and its post), `/logout` (a post), with
/// sessions from `sessions` in the cookie `cookie` describes.
pub(crate) fn router(sessions: Sessions, cookie: CookieSettings) -> sessionkit::Result<Router> {
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(sessions, cookie)?))
}

//! The support desk's admin endpoints (behind [`crate::admin::handle`]'s admin secret and
//! throttle), over [`D1Desk`]:
//!
//! - `GET /admin/v1/articles[?after=<id>&limit=]`: articles by id, without bodies
//!   (`limit` 1..=200, default 50; `next` is the `after` of the next page);
//! - `GET|PUT|DELETE /admin/v1/articles/:id`: read, create-or-replace
//!   (`{"title", "body", "language"?, "tags"?, "published"?}`), delete;
//! - `GET /admin/v1/search?q=&lang=&limit=`: what the model's search tool finds, and D1's
//!   time for it (`d1_ms`);
//! - `GET /admin/v1/tickets[?status=&session=&limit=]`: tickets, most recently changed
//!   first, without history (`limit` 1..=200, default 50);
//! - `GET|PATCH /admin/v1/tickets/:id`: a ticket with its history; a change
//!   (`{"status"?, "priority"?, "note"?}`, recorded as the admin's).

use edge_core::chat::intent::Language;
use edge_core::chat::support::{
    ArticleInput, MAX_ARTICLE_BYTES, MAX_UPDATE_BYTES, SearchQuery, SupportError, TicketStatus,
    TicketUpdate, valid_article_id, valid_ticket_id,
};
use edge_core::error::CommonError;
use edge_core::route::Params;
use edge_glue::{body, now_ms, respond};
use worker::{Env, Request, Response};

use crate::db;
use crate::error::Error;
use crate::support_desk::{D1Desk, Scope};

/// Most articles or tickets one list answers.
const MAX_LIST: usize = 200;
/// Articles or tickets a list answers when not told.
const DEFAULT_LIST: usize = 50;
/// Longest session id a ticket filter takes.
const MAX_SESSION_CHARS: usize = 128;

/// The support desk's admin endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeskRoute {
    ListArticles,
    GetArticle,
    PutArticle,
    DeleteArticle,
    Search,
    ListTickets,
    GetTicket,
    PatchTicket,
}

/// Runs `route` (the admin secret already checked).
pub(crate) async fn handle(
    route: DeskRoute,
    params: &Params<'_>,
    req: Request,
    env: &Env,
) -> Result<Response, Error> {
    let desk = D1Desk(db::db(env)?);
    let query: Vec<(String, String)> = req.url()?.query_pairs().into_owned().collect();
    let id = || params.get("id").unwrap_or_default();
    match route {
        DeskRoute::ListArticles => {
            let (after, limit) = article_page(&query)?;
            let articles = desk.articles(&after, limit).await?;
            let next = (articles.len() == limit)
                .then(|| articles.last().map(|a| a.id.clone()))
                .flatten();
            Ok(respond::json(
                200,
                &serde_json::json!({ "articles": articles, "next": next }),
            )?)
        }
        DeskRoute::GetArticle => match desk.article(article_id(id())?).await? {
            Some(a) => Ok(respond::json(200, &a)?),
            None => Err(CommonError::NotFound.into()),
        },
        DeskRoute::PutArticle => {
            let id = article_id(id())?;
            let bytes = body::read(req.inner(), env, MAX_ARTICLE_BYTES).await?;
            let input = ArticleInput::parse(&bytes)?;
            let (article, created) = desk.put_article(id, &input, now_ms()).await?;
            Ok(respond::json(if created { 201 } else { 200 }, &article)?)
        }
        DeskRoute::DeleteArticle => {
            if desk.delete_article(article_id(id())?).await? {
                Ok(Response::empty()?.with_status(204))
            } else {
                Err(CommonError::NotFound.into())
            }
        }
        DeskRoute::Search => {
            let q = search_query(&query)?;
            let found = desk.find(&q).await?;
            Ok(respond::json(
                200,
                &serde_json::json!({ "hits": found.hits, "d1_ms": found.d1_ms }),
            )?)
        }
        DeskRoute::ListTickets => {
            let f = ticket_filter(&query)?;
            let tickets = desk
                .tickets(f.status, f.session.as_deref(), f.limit)
                .await?;
            Ok(respond::json(
                200,
                &serde_json::json!({ "tickets": tickets }),
            )?)
        }
        DeskRoute::GetTicket => match desk.ticket_in(Scope::Admin, ticket_id(id())?).await? {
            Some(t) => Ok(respond::json(200, &t)?),
            None => Err(CommonError::NotFound.into()),
        },
        DeskRoute::PatchTicket => {
            let id = ticket_id(id())?;
            let bytes = body::read(req.inner(), env, MAX_UPDATE_BYTES).await?;
            let u = TicketUpdate::parse(&bytes)?;
            match desk.change(Scope::Admin, id, &u, now_ms()).await? {
                Some(t) => Ok(respond::json(200, &t)?),
                None => Err(CommonError::NotFound.into()),
            }
        }
    }
}

/// A path's article id; 404 when it cannot be one.
fn article_id(id: &str) -> Result<&str, Error> {
    if valid_article_id(id) {
        Ok(id)
    } else {
        Err(CommonError::NotFound.into())
    }
}

/// A path's ticket id; 404 when it cannot be one.
fn ticket_id(id: &str) -> Result<&str, Error> {
    if valid_ticket_id(id) {
        Ok(id)
    } else {
        Err(CommonError::NotFound.into())
    }
}

/// The first value of query parameter `name`.
fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `limit` in `1..=max`, `default` when absent.
fn limit(query: &[(String, String)], max: usize, default: usize) -> Result<usize, SupportError> {
    match param(query, "limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or(SupportError::invalid(
                "limit",
                "expected an integer in range",
            )),
    }
}

/// A page of the article list: after which id, how many.
fn article_page(query: &[(String, String)]) -> Result<(String, usize), SupportError> {
    let after = match param(query, "after") {
        None | Some("") => String::new(),
        Some(a) if valid_article_id(a) => a.to_owned(),
        Some(_) => return Err(SupportError::invalid("after", "expected an article id")),
    };
    Ok((after, limit(query, MAX_LIST, DEFAULT_LIST)?))
}

/// `q`, `lang` (`en`, `th`) and `limit` of a search.
fn search_query(query: &[(String, String)]) -> Result<SearchQuery, SupportError> {
    let language = match param(query, "lang") {
        None | Some("") => None,
        Some("en") => Some(Language::En),
        Some("th") => Some(Language::Th),
        Some(_) => return Err(SupportError::invalid("lang", "expected en or th")),
    };
    let limit = param(query, "limit")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| SupportError::invalid("limit", "expected 1..=10"))
        })
        .transpose()?;
    SearchQuery::new(param(query, "q").unwrap_or_default(), language, limit)
}

/// The ticket list's filter.
#[derive(Debug, PartialEq, Eq)]
struct TicketFilter {
    status: Option<TicketStatus>,
    session: Option<String>,
    limit: usize,
}

fn ticket_filter(query: &[(String, String)]) -> Result<TicketFilter, SupportError> {
    let status = match param(query, "status") {
        None | Some("") => None,
        Some(s) => Some(TicketStatus::parse(s).ok_or(SupportError::invalid(
            "status",
            "expected open, pending or solved",
        ))?),
    };
    let session = match param(query, "session") {
        None | Some("") => None,
        Some(s) if s.chars().count() <= MAX_SESSION_CHARS && !s.chars().any(char::is_control) => {
            Some(s.to_owned())
        }
        Some(_) => {
            return Err(SupportError::invalid(
                "session",
                "expected at most 128 characters",
            ));
        }
    };
    Ok(TicketFilter {
        status,
        session,
        limit: limit(query, MAX_LIST, DEFAULT_LIST)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_core::error::HttpError;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn search_parameters() {
        let s = search_query(&q(&[("q", "refund"), ("lang", "th"), ("limit", "3")])).expect("ok");
        assert_eq!(
            (s.text.as_str(), s.language, s.limit),
            ("refund", Some(Language::Th), 3)
        );
        for (pairs, field) in [
            (q(&[]), "q"),
            (q(&[("q", " ")]), "q"),
            (q(&[("q", "a"), ("lang", "fr")]), "lang"),
            (q(&[("q", "a"), ("limit", "11")]), "limit"),
            (q(&[("q", "a"), ("limit", "-1")]), "limit"),
        ] {
            let e = search_query(&pairs).expect_err(field);
            assert_eq!((e.status(), e.field()), (400, Some(field)));
        }
    }

    #[test]
    fn list_parameters() {
        assert_eq!(article_page(&q(&[])).expect("ok"), (String::new(), 50));
        assert_eq!(
            article_page(&q(&[("after", "b-1"), ("limit", "200")])).expect("ok"),
            ("b-1".to_owned(), 200)
        );
        assert!(article_page(&q(&[("limit", "201")])).is_err());
        assert!(article_page(&q(&[("after", "a b")])).is_err());
        assert_eq!(
            ticket_filter(&q(&[("status", "pending"), ("session", "abc")])).expect("ok"),
            TicketFilter {
                status: Some(TicketStatus::Pending),
                session: Some("abc".to_owned()),
                limit: 50
            }
        );
        assert!(ticket_filter(&q(&[("status", "closed")])).is_err());
        assert!(ticket_filter(&q(&[("session", &"s".repeat(129))])).is_err());
        assert!(ticket_filter(&q(&[("limit", "0")])).is_err());
    }
}

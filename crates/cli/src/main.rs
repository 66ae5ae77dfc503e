//! `sessionkit`: the operator's command for any sessionkit back end — Django's
//! `manage.py migrate` and `clearsessions`, plus `check` and `stats`.
//!
//! Every subcommand takes the back end's URL as its argument, or from `SESSIONKIT_URL`. Exit
//! codes: 0 done; 1 the back end failed the operation; 2 bad usage or configuration (a bad URL,
//! an unknown parameter, credentials refused, a back end not compiled in); 3 the server cannot
//! be reached; 4 the server did not answer in time.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;

use sessionkit::{Error, ErrorKind, Housekeeping, Migration, SessionStore, StoreStats};

#[derive(Debug, Parser)]
#[command(
    name = "sessionkit",
    version,
    about = "Operate a sessionkit session back end: migrate, clear-expired, check, stats",
    after_help = "The URL is the same one the application gives sessionkit::connect; without \
                  one, SESSIONKIT_URL is read.\n\nExit codes: 0 done; 1 the back end failed the \
                  operation; 2 bad usage or configuration; 3 the server cannot be reached; 4 the \
                  server did not answer in time."
)]
struct Cli {
    /// Print one JSON object on stdout instead of lines for a person.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the session table (Django's `manage.py migrate`); idempotent.
    Migrate {
        /// The back end's URL (default: $SESSIONKIT_URL).
        url: Option<String>,
    },
    /// Remove expired sessions in bounded batches (Django's `clearsessions`); safe to run from
    /// cron while the application serves.
    ClearExpired {
        /// The back end's URL (default: $SESSIONKIT_URL).
        url: Option<String>,
        /// Rows removed per step (each step is a few short statements).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
        batch: u64,
    },
    /// Connect, then create, read, update and delete one throwaway session, timing each step.
    Check {
        /// The back end's URL (default: $SESSIONKIT_URL).
        url: Option<String>,
    },
    /// What the back end can tell cheaply: sessions live and expired, memory, evictions.
    Stats {
        /// The back end's URL (default: $SESSIONKIT_URL).
        url: Option<String>,
    },
}

/// The exit code for an error of `kind`.
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Config => 2,
        ErrorKind::Unavailable => 3,
        ErrorKind::Timeout => 4,
        _ => 1,
    }
}

/// What a subcommand prints on success: lines for a person, or one JSON value.
struct Report {
    lines: Vec<String>,
    json: serde_json::Value,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let result = run(cli.command, json).await;
    match result {
        Ok(report) => {
            if json {
                println!("{}", report.json);
            } else {
                for line in report.lines {
                    println!("{line}");
                }
            }
            ExitCode::SUCCESS
        }
        Err((step, e)) => {
            let code = exit_code(e.kind());
            if json {
                println!(
                    "{}",
                    json!({"ok": false, "step": step, "kind": format!("{:?}", e.kind()), "error": e.to_string()})
                );
            } else {
                eprintln!("sessionkit: {step} failed: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
            }
            ExitCode::from(code)
        }
    }
}

type Failed = (&'static str, Error);

fn url_or_env(url: Option<String>) -> Result<String, Failed> {
    match url {
        Some(url) => Ok(url),
        None => sessionkit::url_from_env().map_err(|e| ("read the URL", e)),
    }
}

async fn run(command: Command, json: bool) -> Result<Report, Failed> {
    match command {
        Command::Migrate { url } => migrate(&url_or_env(url)?).await,
        Command::ClearExpired { url, batch } => clear_expired(&url_or_env(url)?, batch, json).await,
        Command::Check { url } => check(&url_or_env(url)?).await,
        Command::Stats { url } => stats(&url_or_env(url)?).await,
    }
}

async fn migrate(url: &str) -> Result<Report, Failed> {
    let backend = sessionkit::backend_name(url).map_err(|e| ("connect", e))?;
    let outcome = sessionkit::migrate(url).await.map_err(|e| ("migrate", e))?;
    let (what, from, to) = match outcome {
        Migration::NotNeeded => ("not-needed", None, None),
        Migration::Created { version } => ("created", None, Some(version)),
        Migration::Upgraded { from, to } => ("upgraded", Some(from), Some(to)),
        Migration::Current { version } => ("current", Some(version), Some(version)),
        Migration::Foreign => ("foreign", None, None),
        _ => ("done", None, None),
    };
    Ok(Report {
        lines: vec![format!("{backend}: {outcome}")],
        json: json!({"ok": true, "backend": backend, "migration": what, "from": from, "version": to}),
    })
}

/// The store of `url`, opened as the application opens it (`connect`: a `format=django` URL
/// gets its Django layout too).
async fn open(url: &str) -> Result<Arc<dyn SessionStore>, Failed> {
    let sessions = sessionkit::connect(url).await.map_err(|e| ("connect", e))?;
    Ok(sessions.store().inner().clone())
}

async fn clear_expired(url: &str, batch: u64, json: bool) -> Result<Report, Failed> {
    let store = open(url).await?;
    let backend = sessionkit::backend_name(url).map_err(|e| ("connect", e))?;
    let housekeeping = store.housekeeping();
    if !housekeeping.needs_clearing() {
        return Ok(Report {
            lines: vec![format!("{backend}: {}", housekeeping.advice())],
            json: json!({"ok": true, "backend": backend, "removed": 0, "needed": false, "note": housekeeping.advice()}),
        });
    }
    let started = Instant::now();
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message("removing expired sessions");
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let (mut total, mut last_line) = (0u64, Instant::now());
    loop {
        let removed = match store.clear_expired_batch(batch).await {
            Ok(n) => n,
            Err(e) => {
                if let Some(bar) = &bar {
                    bar.finish_and_clear();
                }
                let e = if total > 0 {
                    e.with_detail(format!(
                        "{total} expired sessions were removed before the error; run it again to go on"
                    ))
                } else {
                    e
                };
                return Err(("clear-expired", e));
            }
        };
        total += removed;
        match &bar {
            Some(bar) => bar.set_message(format!("removed {total} expired sessions")),
            None if !json && last_line.elapsed() >= Duration::from_secs(1) => {
                eprintln!("removed {total} expired sessions so far");
                last_line = Instant::now();
            }
            None => {}
        }
        if removed < batch {
            break;
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Report {
        lines: vec![format!(
            "{backend}: removed {total} expired sessions in {secs:.2} s"
        )],
        json: json!({"ok": true, "backend": backend, "removed": total, "seconds": secs}),
    })
}

/// Runs `f`, returning its value and how long it took in milliseconds.
async fn timed<T>(
    step: &'static str,
    f: impl std::future::Future<Output = sessionkit::Result<T>>,
) -> Result<(T, f64), Failed> {
    let started = Instant::now();
    let value = f.await.map_err(|e| (step, e))?;
    Ok((value, started.elapsed().as_secs_f64() * 1e3))
}

async fn check(url: &str) -> Result<Report, Failed> {
    let (sessions, connect) = timed("connect", sessionkit::connect(url)).await?;
    let backend = sessionkit::backend_name(url).map_err(|e| ("connect", e))?;
    let mut session = sessions.create();
    session
        .insert("sessionkit_check", "created")
        .map_err(|e| ("create", e))?;
    let ((), create) = timed("create", session.save()).await?;
    let key = session
        .key()
        .map(|k| k.as_str().to_owned())
        .unwrap_or_default();
    let (mut loaded, read) = timed("read", sessions.load(Some(&key))).await?;
    let value = loaded
        .get::<String>("sessionkit_check")
        .map_err(|e| ("read", e))?;
    if value.as_deref() != Some("created") && !key.is_empty() {
        return Err((
            "read",
            Error::new(ErrorKind::Backend, "sessionkit").with_detail(
                "the session just saved did not read back: is another process clearing the store?",
            ),
        ));
    }
    loaded
        .insert("sessionkit_check", "updated")
        .map_err(|e| ("update", e))?;
    let ((), update) = timed("update", loaded.save()).await?;
    let ((), delete) = timed("delete", loaded.flush()).await?;
    let version = sessions
        .store()
        .stats()
        .await
        .ok()
        .and_then(|s| s.server_version);
    let steps = [
        ("connect", connect),
        ("create", create),
        ("read", read),
        ("update", update),
        ("delete", delete),
    ];
    let mut lines = vec![format!(
        "{backend}: ok{}",
        version
            .as_deref()
            .map_or(String::new(), |v| format!(" ({v})"))
    )];
    lines.extend(steps.iter().map(|(s, ms)| format!("  {s:<8} {ms:>9.2} ms")));
    let times: serde_json::Map<String, serde_json::Value> = steps
        .iter()
        .map(|(s, ms)| ((*s).to_owned(), json!(ms)))
        .collect();
    Ok(Report {
        lines,
        json: json!({"ok": true, "backend": backend, "server_version": version, "milliseconds": times}),
    })
}

async fn stats(url: &str) -> Result<Report, Failed> {
    let store = open(url).await?;
    let backend = sessionkit::backend_name(url).map_err(|e| ("connect", e))?;
    if store.housekeeping() == Housekeeping::InProcess {
        let note = "not applicable: sessions live in the application's own memory, which \
                    this process cannot see; watch LocMemStore::len, bytes and evicted in the \
                    application";
        return Ok(Report {
            lines: vec![format!("{backend}: {note}")],
            json: json!({"ok": true, "backend": backend, "applicable": false, "note": note}),
        });
    }
    let s: StoreStats = store.stats().await.map_err(|e| ("stats", e))?;
    let show = |v: Option<u64>| v.map_or_else(|| "not known".to_owned(), |n| n.to_string());
    let mut lines = vec![format!(
        "{backend}{}",
        s.server_version
            .as_deref()
            .map_or(String::new(), |v| format!(" ({v})"))
    )];
    lines.push(format!("  live sessions      {}", show(s.live_sessions)));
    lines.push(format!("  expired sessions   {}", show(s.expired_sessions)));
    lines.push(format!("  items              {}", show(s.items)));
    lines.push(format!("  memory bytes       {}", show(s.memory_bytes)));
    lines.push(format!(
        "  memory limit bytes {}",
        show(s.memory_limit_bytes)
    ));
    lines.push(format!("  evictions          {}", show(s.evictions)));
    if let Some(h) = s.housekeeping {
        lines.push(format!("  housekeeping: {}", h.advice()));
    }
    Ok(Report {
        lines,
        json: json!({
            "ok": true,
            "backend": backend,
            "server_version": s.server_version,
            "live_sessions": s.live_sessions,
            "expired_sessions": s.expired_sessions,
            "items": s.items,
            "memory_bytes": s.memory_bytes,
            "memory_limit_bytes": s.memory_limit_bytes,
            "evictions": s.evictions,
            "housekeeping": s.housekeeping.map(|h| format!("{h:?}")),
        }),
    })
}

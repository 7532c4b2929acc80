//! `wb`: the Researcher Workbench binary.

mod admin;
mod cdr;
mod cohort_bench;
mod config;
mod demo_cdr;

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wb", version, about = "Researcher Workbench")]
struct Cli {
    /// Configuration file (default: ./wb.toml when it exists). `WB_*` variables override it,
    /// with `__` between section and key, e.g. WB_HTTP__BIND=0.0.0.0:8080.
    #[arg(long, global = true, env = "WB_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (applies pending migrations and loads demo data on first start).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Print the effective configuration source order and main values.
    Config,
    /// Curated data repository (CDR) versions.
    Cdr {
        #[command(subcommand)]
        command: admin::CdrCommand,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let cfg = config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            let store = config::open_store(&cfg).await?;
            let report = store.migrate(chrono::Utc::now().timestamp()).await?;
            if report.applied.is_empty() {
                println!("The database is current (migration {}).", report.current);
            }
            for (v, name) in report.applied {
                println!("Applied migration {v} ({name}).");
            }
            Ok(())
        }
        Command::Config => {
            println!("data_dir         {}", cfg.data_dir.display());
            println!("database         {}", config::redact(&cfg.database_url()));
            println!("http.bind        {}", cfg.http.bind);
            println!("http.public_url  {}", cfg.http.public_url);
            println!("mail.transport   {}", cfg.mail.transport);
            println!("username domain  {}", cfg.accounts.username_domain);
            Ok(())
        }
        Command::Cdr { command } if !command.needs_database() => cdr::run(command),
        Command::Cdr { command } => {
            let store = config::open_store(&cfg).await?;
            store.migrate(chrono::Utc::now().timestamp()).await?;
            admin::run_cdr(&store, command).await
        }
        Command::Admin { command } => {
            let store = config::open_store(&cfg).await?;
            store.migrate(chrono::Utc::now().timestamp()).await?;
            admin::run(&store, command).await
        }
    }
}

async fn serve(cfg: wb_web::Config) -> Result<()> {
    let store = config::open_store(&cfg).await?;
    let now = chrono::Utc::now().timestamp();
    if cfg.database.auto_migrate.unwrap_or(true) {
        store.migrate(now).await.context("applying migrations")?;
    } else {
        let pending = store.pending_migrations().await?;
        anyhow::ensure!(
            pending.is_empty(),
            "the database needs migrations {pending:?}: run `wb migrate` first"
        );
    }
    if cfg.demo.load {
        let n = wb_web::demo::load_if_empty(&store, now).await?;
        if n > 0 {
            println!("Loaded {n} fictional demo institutions.");
        }
        if cfg.demo.cdr_persons > 0 {
            let (store, data_dir, persons) =
                (store.clone(), cfg.data_dir.clone(), cfg.demo.cdr_persons);
            tokio::spawn(async move {
                match demo_cdr::ensure(&store, &data_dir, persons).await {
                    Ok((dir, n)) if n > 0 => println!(
                        "Generated the demo CDR ({persons} synthetic persons) in {} for {n} dataset versions.",
                        dir.display()
                    ),
                    Ok(_) => {}
                    Err(e) => eprintln!("The demo CDR could not be made: {e:#}"),
                }
            });
        }
    }
    let key = config::secret_key(&cfg)?;
    let mailer = config::mailer(&cfg)?;
    let listener = tokio::net::TcpListener::bind(&cfg.http.bind)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.http.bind))?;
    let local = listener.local_addr()?;
    let state = wb_web::AppState::new(
        store.clone(),
        mailer.clone(),
        &key,
        cfg.clone(),
        Arc::new(wb_web::SystemClock),
    );
    state.set_analysis(Arc::new(wb_cdr::cohort::Engines::default()));
    println!(
        "Researcher Workbench is running at {} (listening on {local})",
        cfg.http.public_url
    );
    println!("Database: {}", config::redact(&cfg.database_url()));
    println!("Mail: {}", mailer.describe());
    wb_web::run(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    store.close().await;
    Ok(())
}

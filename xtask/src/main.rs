//! `cargo xtask`: repository automation for sessionkit.
//!
//! ```text
//! cargo xtask test-matrix [--list] [--only PREFIX] [--no-install]
//! ```
//!
//! `test-matrix` first checks the system packages the selected cells need (see `setup.rs`),
//! installing the missing ones with apt-get when it may, then builds and runs every cell of the test matrix (see `matrix.rs`), giving each
//! cell its servers through `sessionkit-testkit`: the address in the cell's `SESSIONKIT_*`
//! variables when set, else a throwaway server started for the cell and stopped after it.

#[cfg(test)]
mod checks;
mod matrix;
mod run;
mod setup;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test-matrix [--list] [--only PREFIX] [--no-install]
      Check the system packages the cells need (servers, their clients, C libraries);
      install the missing ones with apt-get when running as root on a machine that has it,
      else stop before building with one message naming them and the install command.
      Then build, then run, every cell of the test matrix with its servers (from
      SESSIONKIT_* variables when set, else throwaway servers). Prints one line per cell
      and `N passed, M failed`; exits non-zero if any cell failed or could not run, 2 if
      packages are missing.
      --list          print the cells and exit
      --only PREFIX   only the cells whose name starts with PREFIX
      --no-install    never install packages: report what is missing and stop
  help
      Print this message.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test-matrix") => test_matrix(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// What `test-matrix` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
struct MatrixArgs {
    list: bool,
    only: Option<String>,
    no_install: bool,
}

fn parse_matrix_args(args: &[String]) -> Result<MatrixArgs, String> {
    let mut parsed = MatrixArgs::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--list" => parsed.list = true,
            "--no-install" => parsed.no_install = true,
            "--only" => {
                let prefix = iter.next().ok_or("--only needs a PREFIX")?;
                parsed.only = Some(prefix.clone());
            }
            other => match other.strip_prefix("--only=") {
                Some(prefix) => parsed.only = Some(prefix.to_owned()),
                None => return Err(format!("unknown argument `{other}`")),
            },
        }
    }
    Ok(parsed)
}

fn test_matrix(args: &[String]) -> ExitCode {
    let args = match parse_matrix_args(args) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cells = matrix::select(args.only.as_deref());
    if cells.is_empty() {
        let names: Vec<&str> = matrix::CELLS.iter().map(|c| c.name).collect();
        eprintln!(
            "error: no cell name starts with `{}`; the cells are: {}",
            args.only.unwrap_or_default(),
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    if args.list {
        run::list(&cells);
        return ExitCode::SUCCESS;
    }

    if let Err(message) = setup::ensure(&cells, !args.no_install) {
        eprintln!("{message}");
        return ExitCode::from(2);
    }
    let root = run::workspace_root();
    let built = run::build_all(&root, &cells);
    let total = cells.len();
    let mut results = Vec::with_capacity(total);
    for (i, (cell, build)) in cells.iter().zip(built).enumerate() {
        let outcome = match build {
            Some(failed) => failed,
            None => run::run_cell(&root, cell, i + 1, total),
        };
        println!("<== {}", outcome.line(cell.name));
        results.push((cell.name, outcome));
    }
    if run::summary(&results) == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_list_and_only() {
        assert_eq!(parse_matrix_args(&[]), Ok(MatrixArgs::default()));
        assert_eq!(
            parse_matrix_args(&strings(&["--list", "--only", "db-", "--no-install"])),
            Ok(MatrixArgs {
                list: true,
                only: Some("db-".to_owned()),
                no_install: true,
            })
        );
        assert_eq!(
            parse_matrix_args(&strings(&["--only=redis"])),
            Ok(MatrixArgs {
                list: false,
                only: Some("redis".to_owned()),
                no_install: false,
            })
        );
        assert!(parse_matrix_args(&strings(&["--only"])).is_err());
        assert!(parse_matrix_args(&strings(&["--bogus"])).is_err());
    }

    #[test]
    fn recognises_failed_test_lines() {
        assert_eq!(
            run::failed_test("test store::tests::create ... FAILED"),
            Some("store::tests::create")
        );
        assert_eq!(run::failed_test("test store::tests::create ... ok"), None);
        assert_eq!(run::failed_test("failures:"), None);
        assert_eq!(
            run::slow_test("test faults::hangs has been running for over 60 seconds"),
            Some("faults::hangs")
        );
        assert_eq!(run::slow_test("test faults::hangs ... ok"), None);
        let target = |line| run::test_target(line);
        assert_eq!(
            target("     Running tests/faults.rs (target/debug/deps/faults-0123)").as_deref(),
            Some("faults: ")
        );
        assert_eq!(
            target("     Running unittests src/lib.rs (target/debug/deps/x-0123)").as_deref(),
            Some("lib: ")
        );
        assert_eq!(
            target("     Running unittests src/main.rs (target/debug/deps/xtask-0123)").as_deref(),
            Some("bin: ")
        );
        assert_eq!(
            target("     Running tests/suite/main.rs (target/debug/deps/suite-0123)").as_deref(),
            Some("suite: ")
        );
        assert_eq!(
            target("   Doc-tests sessionkit_core").as_deref(),
            Some("doc: ")
        );
        assert_eq!(target("running 3 tests"), None);
    }

    #[test]
    fn summary_has_one_line_per_cell_and_the_counts_last() {
        use run::Outcome;
        let results = [
            (
                "core",
                Outcome::Pass(std::time::Duration::from_millis(2500)),
            ),
            (
                "db-mysql",
                Outcome::Fail("exit code 101; failed: a, b".to_owned()),
            ),
            (
                "memcached-three",
                Outcome::Skip("memcached not found: apt-get install memcached".to_owned()),
            ),
        ];
        let (lines, failed) = run::summary_lines(&results);
        assert_eq!(
            lines,
            [
                "PASS core (2.5s)",
                "FAIL db-mysql (exit code 101; failed: a, b)",
                "SKIP memcached-three: could not run: memcached not found: apt-get install memcached",
                "1 passed, 2 failed",
            ]
        );
        assert_eq!(failed, 2);
        assert_eq!(run::summary_lines(&[]).0, ["0 passed, 0 failed"]);
    }

    #[test]
    fn only_selects_by_prefix() {
        let facade: Vec<&str> = matrix::select(Some("facade"))
            .iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(facade, ["facade", "facade-full", "facade-quickstart"]);
        assert!(matrix::select(Some("no-such-cell")).is_empty());
        assert_eq!(matrix::select(None).len(), matrix::CELLS.len());
    }
}

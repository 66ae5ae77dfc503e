//! Repository checks, as ordinary tests so `cargo test` (and the `xtask` cell) enforces them.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::matrix::{Run, CELLS};
use crate::run::workspace_root;

/// Crates under crates/ that no cell needs to cover: they are exercised through the others.
const NOT_COVERED: &[&str] = &["sessionkit-testkit", "sessionkit-conformance"];

/// The `name` in a manifest's `[package]` table.
fn package_name(manifest: &Path) -> Option<String> {
    let text = fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("name") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return Some(value.trim_matches('"').to_owned());
            }
        }
    }
    None
}

/// The `members` of the root manifest.
fn workspace_members(root: &Path) -> Vec<String> {
    let text = fs::read_to_string(root.join("Cargo.toml")).expect("read root Cargo.toml");
    let start = text.find("members").expect("root Cargo.toml has members");
    let list = &text[start..];
    let open = list.find('[').expect("members is a list");
    let close = list.find(']').expect("members list is closed");
    list[open + 1..close]
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .flat_map(|l| l.split(','))
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

/// Package name -> directory, for every workspace member and every crate under crates/.
fn packages(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut dirs: Vec<PathBuf> = workspace_members(root)
        .into_iter()
        .map(|m| root.join(m))
        .collect();
    dirs.extend(
        fs::read_dir(root.join("crates"))
            .expect("read crates/")
            .flatten()
            .map(|e| e.path()),
    );
    dirs.into_iter()
        .filter_map(|dir| Some((package_name(&dir.join("Cargo.toml"))?, dir)))
        .collect()
}

fn crates_under_crates_dir(root: &Path) -> Vec<String> {
    fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .flatten()
        .filter_map(|e| package_name(&e.path().join("Cargo.toml")))
        .collect()
}

#[test]
fn every_crate_is_covered_by_a_cell() {
    let root = workspace_root();
    let covered: HashSet<&str> = CELLS.iter().map(|c| c.package).collect();
    let missing: Vec<String> = crates_under_crates_dir(&root)
        .into_iter()
        .filter(|name| !NOT_COVERED.contains(&name.as_str()))
        .filter(|name| !covered.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "no test-matrix cell covers {missing:?}: add a cell to xtask/src/matrix.rs"
    );
}

#[test]
fn every_crate_under_crates_is_a_workspace_member() {
    let root = workspace_root();
    let members: HashSet<PathBuf> = workspace_members(&root)
        .into_iter()
        .map(|m| root.join(m))
        .collect();
    let outside: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .flatten()
        .map(|e| e.path())
        .filter(|dir| dir.join("Cargo.toml").is_file() && !members.contains(dir))
        .collect();
    assert!(outside.is_empty(), "not workspace members: {outside:?}");
}

#[test]
fn every_cell_names_a_workspace_package() {
    let root = workspace_root();
    let members: HashSet<PathBuf> = workspace_members(&root)
        .into_iter()
        .map(|m| root.join(m))
        .collect();
    let packages = packages(&root);
    for cell in CELLS {
        let dir = packages.get(cell.package).unwrap_or_else(|| {
            panic!(
                "cell `{}` names package `{}`, which is not in the workspace",
                cell.name, cell.package
            )
        });
        assert!(
            members.contains(dir),
            "cell `{}`: {} is not a workspace member",
            cell.name,
            dir.display()
        );
        if let Run::Example(example) | Run::RootExample(example) = cell.run {
            let file = dir.join("examples").join(format!("{example}.rs"));
            let folder = dir.join("examples").join(example).join("main.rs");
            // The examples package keeps each example in a folder of its own at its root.
            let own = dir.join(example).join("main.rs");
            assert!(
                file.is_file() || folder.is_file() || own.is_file(),
                "cell `{}` runs example `{example}`, but {} does not exist",
                cell.name,
                file.display()
            );
        }
    }
}

#[test]
fn cell_names_are_unique_and_plain() {
    let mut seen = HashSet::new();
    for cell in CELLS {
        assert!(
            seen.insert(cell.name),
            "two cells are named `{}`",
            cell.name
        );
        assert!(
            !cell.name.is_empty()
                && cell
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "cell name `{}` should be lowercase words joined by `-`",
            cell.name
        );
        assert!(
            !cell.package.is_empty(),
            "cell `{}` has no package",
            cell.name
        );
    }
}

#[test]
fn reads_package_names_and_members() {
    let root = workspace_root();
    assert_eq!(
        package_name(&root.join("xtask/Cargo.toml")).as_deref(),
        Some("xtask")
    );
    assert!(workspace_members(&root).iter().any(|m| m == "xtask"));
    assert_eq!(package_name(&root.join("Cargo.toml")), None);
}

/// The `--test NAME` targets a cell runs; `None` when it runs every test target (a tests cell
/// that names none).
fn named_tests(cell: &crate::matrix::Cell) -> Option<Vec<&'static str>> {
    let named: Vec<&'static str> = cargo_args(cell)
        .windows(2)
        .filter(|pair| pair[0] == "--test")
        .map(|pair| pair[1])
        .collect();
    if cell.run == Run::Tests && named.is_empty() {
        None
    } else {
        Some(named)
    }
}

/// The cell's arguments for cargo (those before `--`).
fn cargo_args(cell: &crate::matrix::Cell) -> Vec<&'static str> {
    cell.args
        .iter()
        .copied()
        .take_while(|a| *a != "--")
        .collect()
}

/// A manifest's `[[test]]` targets with their `required-features`, and its default features.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestTargets {
    required: BTreeMap<String, Vec<String>>,
    default_features: Vec<String>,
}

/// The strings of a one-line TOML array: `["a", "b"]` -> `a`, `b`.
fn string_list(value: &str) -> Vec<String> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

fn test_targets(manifest: &Path) -> TestTargets {
    let text = fs::read_to_string(manifest).unwrap_or_default();
    let mut targets = TestTargets::default();
    let mut section = String::new();
    let mut name: Option<String> = None;
    let mut required = Vec::new();
    let mut flush = |name: &mut Option<String>, required: &mut Vec<String>| {
        if let Some(name) = name.take() {
            targets.required.insert(name, std::mem::take(required));
        }
        required.clear();
    };
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            flush(&mut name, &mut required);
            section = line.to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match (section.as_str(), key.trim()) {
            ("[[test]]", "name") => name = Some(value.trim().trim_matches('"').to_owned()),
            ("[[test]]", "required-features") => required = string_list(value),
            ("[features]", "default") => targets.default_features = string_list(value),
            _ => {}
        }
    }
    flush(&mut name, &mut required);
    targets
}

/// Whether `cell`, which runs every test target, builds `test` (its required features are on).
fn runs_all_includes(cell: &crate::matrix::Cell, targets: &TestTargets, test: &str) -> bool {
    let Some(required) = targets.required.get(test) else {
        return true;
    };
    let defaults_on = !cargo_args(cell).contains(&"--no-default-features");
    required.iter().all(|feature| {
        cell.features.contains(&feature.as_str())
            || (defaults_on && targets.default_features.contains(feature))
    })
}

#[test]
fn reads_required_features() {
    let root = workspace_root();
    let redis = test_targets(&root.join("crates/redis/Cargo.toml"));
    assert_eq!(redis.required["tls"], ["tls-rustls"]);
    assert_eq!(redis.required["cluster_faults"], ["cluster"]);
    assert_eq!(redis.default_features, ["cluster"]);
    let single = CELLS.iter().find(|c| c.name == "redis-single").unwrap();
    assert!(!runs_all_includes(single, &redis, "tls"));
    assert!(!runs_all_includes(single, &redis, "cluster_faults"));
    assert!(runs_all_includes(single, &redis, "commands"));
}

#[test]
fn every_test_file_runs_in_some_cell() {
    // A test file that no cell names, and that no cell running every target builds (cargo
    // leaves out targets whose `required-features` are off), would silently never run.
    let root = workspace_root();
    let packages = packages(&root);
    for (package, dir) in &packages {
        let cells: Vec<_> = CELLS.iter().filter(|c| c.package == package).collect();
        if cells.is_empty() {
            continue;
        }
        let targets = test_targets(&dir.join("Cargo.toml"));
        let Ok(entries) = fs::read_dir(dir.join("tests")) else {
            continue;
        };
        let mut missing: Vec<String> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file())
            .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
            .filter(|stem| {
                !cells.iter().any(|cell| match named_tests(cell) {
                    None => runs_all_includes(cell, &targets, stem),
                    Some(named) => named.contains(&stem.as_str()),
                })
            })
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "{package}: no test-matrix cell runs tests/{{{}}}.rs; name them with --test in \
             xtask/src/matrix.rs (a cell that runs every target leaves out those whose \
             required-features it does not turn on)",
            missing.join(",")
        );
    }
}

/// The README's first command, `cargo run --example quickstart` from the root, builds what the
/// default members need with their default features: none of it may link a system C library
/// (a new user has only Rust). Feature unification with the cli or benches (`full`) would pull
/// in libpq and libmysqlclient; `default-members` in the root manifest prevents it.
#[test]
fn root_commands_need_no_system_library() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-e", "normal,dev,build", "--prefix", "none"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let linked: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("pq-sys ") || l.starts_with("mysqlclient-sys "))
        .collect();
    assert!(
        linked.is_empty(),
        "`cargo run --example quickstart` from the root would need system libraries: {linked:?}"
    );
}

/// The packages of the workspace and their targets, from `cargo metadata`.
struct Targets {
    /// Package name → (target kind, target name) pairs.
    packages: BTreeMap<String, Vec<(String, String)>>,
    /// What `cargo run` without `-p` selects from the root.
    default_members: Vec<String>,
}

impl Targets {
    fn load(root: &Path) -> Self {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root)
            .output()
            .expect("run cargo metadata");
        assert!(out.status.success(), "cargo metadata failed");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
        let mut packages = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for p in meta["packages"].as_array().expect("packages") {
            let name = p["name"].as_str().expect("name").to_owned();
            ids.insert(p["id"].as_str().expect("id").to_owned(), name.clone());
            let targets = p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .flat_map(|t| {
                    let target = t["name"].as_str().expect("target name").to_owned();
                    t["kind"]
                        .as_array()
                        .expect("kind")
                        .iter()
                        .map(move |k| (k.as_str().expect("kind").to_owned(), target.clone()))
                })
                .collect();
            packages.insert(name, targets);
        }
        let default_members = meta["workspace_default_members"]
            .as_array()
            .expect("workspace_default_members")
            .iter()
            .map(|id| ids[id.as_str().expect("id")].clone())
            .collect();
        Self {
            packages,
            default_members,
        }
    }

    /// The packages among `selected` that have a `kind` target called `name`.
    fn having<'a>(&'a self, selected: &'a [String], kind: &str, name: &str) -> Vec<&'a String> {
        selected
            .iter()
            .filter(|p| {
                self.packages[*p]
                    .iter()
                    .any(|(k, n)| k == kind && n == name)
            })
            .collect()
    }
}

/// A word of a documented command that stands for something the reader fills in (`URL`,
/// `PACKAGE`, `PREFIX`).
fn placeholder(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c == '.')
}

/// Code spans that start like a command but are not one: the key-derivation labels of
/// docs/cookie.md.
const NOT_COMMANDS: &[&str] = &["sessionkit cookie "];

/// The `sessionkit` command's subcommands (crates/cli/src/main.rs).
const CLI_SUBCOMMANDS: &[&str] = &["migrate", "clear-expired", "check", "stats", "help"];

/// What is wrong with one documented command, run from the workspace root, if anything.
fn check_command(targets: &Targets, words: &[&str]) -> Result<(), String> {
    match words {
        ["sessionkit", sub, ..] => check_cli(sub),
        ["cargo", "xtask", sub, rest @ ..] => match *sub {
            "test-matrix" => {
                let rest: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
                crate::parse_matrix_args(&rest).map(|_| ())
            }
            "help" => Ok(()),
            other => Err(format!("`cargo xtask` has no command `{other}`")),
        },
        ["cargo", sub @ ("run" | "test" | "bench" | "build"), rest @ ..] => {
            check_cargo(targets, sub, rest)
        }
        _ => Ok(()),
    }
}

fn check_cli(sub: &str) -> Result<(), String> {
    if CLI_SUBCOMMANDS.contains(&sub) || placeholder(sub) || sub.starts_with('-') {
        Ok(())
    } else {
        Err(format!("the sessionkit command has no subcommand `{sub}`"))
    }
}

fn check_cargo(targets: &Targets, sub: &str, args: &[&str]) -> Result<(), String> {
    let mut package = None;
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    let mut iter = args.iter();
    let mut after = Vec::new();
    while let Some(arg) = iter.next() {
        match *arg {
            "-p" | "--package" => package = iter.next().copied(),
            "--example" | "--bench" | "--test" | "--bin" => {
                let kind = &arg[2..];
                if let Some(name) = iter.next() {
                    wanted.push((kind, name));
                }
            }
            "--" => {
                after = iter.by_ref().copied().collect();
            }
            _ => {}
        }
    }
    let selected: Vec<String> = match package {
        Some(p) if placeholder(p) => return Ok(()),
        Some(p) if !targets.packages.contains_key(p) => {
            return Err(format!("no package `{p}` in the workspace"))
        }
        Some(p) => vec![p.to_owned()],
        None => targets.default_members.clone(),
    };
    for (kind, name) in &wanted {
        if placeholder(name) {
            continue;
        }
        let found = targets.having(&selected, kind, name);
        match found.len() {
            1 => {}
            0 => return Err(format!("no {kind} `{name}` in {selected:?}")),
            _ => return Err(format!("{kind} `{name}` is ambiguous: {found:?}")),
        }
    }
    if sub == "run" && wanted.is_empty() {
        let bins: Vec<&(String, String)> = selected
            .iter()
            .flat_map(|p| targets.packages[p].iter())
            .filter(|(k, _)| k == "bin")
            .collect();
        if bins.len() != 1 {
            return Err(format!(
                "`cargo run` needs exactly one binary in {selected:?}, found {bins:?}"
            ));
        }
        if bins[0].1 == "sessionkit" {
            if let Some(first) = after.first() {
                check_cli(first)?;
            }
        }
    }
    Ok(())
}

/// The commands a markdown file prints: every line of a fenced block and every inline code
/// span that starts with `cargo` or `sessionkit` (after environment assignments and `nice`),
/// cut at a comment, `&&` or a pipe.
fn documented_commands(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut prose = String::new();
    // `None` outside a fence; else whether the fence holds shell commands.
    let mut fence: Option<bool> = None;
    for line in text.lines() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some(matches!(
                    info.trim(),
                    "" | "sh" | "bash" | "console" | "text"
                )),
            };
            continue;
        }
        match fence {
            Some(true) => spans.push(line.trim().trim_start_matches("$ ").to_owned()),
            Some(false) => {}
            None => {
                // A code span may continue on the next line.
                prose.push_str(line);
                prose.push(' ');
            }
        }
    }
    spans.extend(prose.split('`').skip(1).step_by(2).map(str::to_owned));
    spans
        .into_iter()
        .filter(|span| !NOT_COMMANDS.iter().any(|n| span.starts_with(n)))
        .filter_map(|span| {
            let span = span.split(" #").next().unwrap_or_default();
            let span = span.split("&&").next().unwrap_or_default();
            let span = span.split(" | ").next().unwrap_or_default();
            let mut words: Vec<&str> = span.split_whitespace().collect();
            while let Some(first) = words.first() {
                if first.contains('=') && !first.starts_with('-') {
                    words.remove(0);
                } else if *first == "nice" {
                    words.drain(..words.len().min(3));
                } else {
                    break;
                }
            }
            matches!(words.first(), Some(&"cargo") | Some(&"sessionkit")).then(|| words.join(" "))
        })
        .collect()
}

/// The markdown a new user reads: the README, docs/ and every crate's README.
fn user_docs(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "crates"] {
        for entry in fs::read_dir(root.join(dir)).expect("read dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            } else if path.join("README.md").is_file() {
                files.push(path.join("README.md"));
            }
        }
    }
    files.sort();
    files
}

/// Every `cargo run|test|bench|build`, `cargo xtask` and `sessionkit` command printed in the
/// README, docs/ and the crate READMEs names a package, target and subcommand that exist, and
/// is unambiguous when run from the workspace root as printed.
#[test]
fn documented_commands_name_existing_targets() {
    let root = workspace_root();
    let targets = Targets::load(&root);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in user_docs(&root) {
        let text = fs::read_to_string(&file).expect("read markdown");
        for command in documented_commands(&text) {
            checked += 1;
            let words: Vec<&str> = command.split_whitespace().collect();
            if let Err(why) = check_command(&targets, &words) {
                let shown = file.strip_prefix(&root).unwrap_or(&file).display();
                problems.push(format!("{shown}: `{command}`: {why}"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} commands found: is the scan broken?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn command_checks_catch_what_a_new_user_would_hit() {
    let targets = Targets::load(&workspace_root());
    let check = |c: &str| check_command(&targets, &c.split_whitespace().collect::<Vec<_>>());
    assert!(check("cargo run --example quickstart").is_ok());
    assert!(check("cargo run --example redis_quickstart").is_err());
    assert!(check("cargo run -p sessionkit-redis --example redis_quickstart").is_ok());
    assert!(check("cargo run -p sessionkit-nope --example x").is_err());
    assert!(check("cargo run -p sessionkit-cli -- migrate URL").is_ok());
    assert!(check("cargo run -p sessionkit-cli -- migrat URL").is_err());
    assert!(check("cargo run -p sessionkit-core").is_err());
    assert!(check("cargo test -p sessionkit-db --test nope").is_err());
    assert!(check("cargo xtask test-matrix --only db-").is_ok());
    assert!(check("cargo xtask test-matrix --onl db-").is_err());
    assert!(check("cargo xtask publish").is_err());
    assert!(check("sessionkit clear-expired URL").is_ok());
    assert!(check("sessionkit clearsessions URL").is_err());
    assert_eq!(
        documented_commands(
            "run `nice -n -10 cargo bench -p x\n--bench y` or\n```sh\nFOO=1 cargo xtask test-matrix   # all\n```\n```toml\nsessionkit = \"1\"\n```\n"
        ),
        ["cargo xtask test-matrix", "cargo bench -p x --bench y"]
    );
}

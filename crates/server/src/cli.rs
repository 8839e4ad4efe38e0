//! Command-line flags, in the original Go server's single-dash spellings (`-dev`, `-config`,
//! `-loglevel`) and ours (`--dev`, `--config`, `--log-level`), plus the admin sub-command.

use std::path::PathBuf;

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    fn parse(raw: &str) -> Result<Self, CliError> {
        Ok(match raw.to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return Err(CliError::LogLevel(raw.to_owned())),
        })
    }
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve,
    /// `admin grant NAME` / `admin revoke NAME`.
    Admin {
        grant: bool,
        user: String,
    },
    Help,
    Version,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cli {
    pub dev: bool,
    pub config: PathBuf,
    pub log_level: Option<LogLevel>,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error("unknown flag {0:?} (see --help)")]
    UnknownFlag(String),
    #[error("flag -{0} needs a value")]
    MissingValue(String),
    #[error("flag -dev takes true or false, not {0:?}")]
    BadBool(String),
    #[error("unknown log level {0:?}: use trace, debug, info, warn or error")]
    LogLevel(String),
    #[error("admin needs \"grant NAME\" or \"revoke NAME\"")]
    Admin,
    #[error("unexpected argument {0:?} (see --help)")]
    Extra(String),
}

pub const USAGE: &str = "\
chatty-server: the chatty chat back end

Usage:
  chatty-server [flags]                  serve (dev mode when DATABASE_URL is unset)
  chatty-server [flags] admin grant NAME make a registered user an admin
  chatty-server [flags] admin revoke NAME

Flags (one or two dashes, `-flag value` or `-flag=value`; flags may follow the sub-command;
`--` ends the flags):
  -dev[=true|false]        dev mode: in-memory store unless DATABASE_URL is set, mail logged
  -config PATH             configuration file (default config.toml)
  -loglevel LEVEL          trace, debug, info, warn or error (also --log-level; RUST_LOG wins)
  -h, -help                this text
  -version                 the version

Environment: PORT, DATABASE_URL, SECRET_KEY, SENDGRID_KEY, and CHATTY_<KEY> for any key of
config.toml (for example CHATTY_LAST_MESSAGES=100, CHATTY_CHATS=Main,Random).";

/// Parses the arguments (without the program name).
///
/// # Errors
/// Unknown flags, missing values, a bad log level, a malformed admin sub-command.
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, CliError> {
    let mut cli = Cli {
        dev: false,
        config: PathBuf::from("config.toml"),
        log_level: None,
        command: Command::Serve,
    };
    let mut words = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            // As in Go: everything after `--` is an argument, not a flag.
            words.extend(args.by_ref());
            break;
        }
        let Some(flag) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|flag| !flag.is_empty())
        else {
            words.push(arg);
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| CliError::MissingValue(name.to_owned()))
        };
        match name {
            "dev" => {
                // The spellings Go's strconv.ParseBool accepts.
                cli.dev = match inline.as_deref() {
                    None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
                    Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
                    Some(other) => return Err(CliError::BadBool(other.to_owned())),
                };
            }
            "config" => {
                let path = value(name)?;
                if path.is_empty() {
                    return Err(CliError::MissingValue(name.to_owned()));
                }
                cli.config = PathBuf::from(path);
            }
            "loglevel" | "log-level" => cli.log_level = Some(LogLevel::parse(&value(name)?)?),
            "h" | "help" => cli.command = Command::Help,
            "version" => cli.command = Command::Version,
            _ => return Err(CliError::UnknownFlag(arg)),
        }
    }
    if matches!(cli.command, Command::Help | Command::Version) {
        return Ok(cli);
    }
    let mut words = words.into_iter();
    match words.next().as_deref() {
        None => {}
        Some("admin") => {
            let grant = match words.next().as_deref() {
                Some("grant") => true,
                Some("revoke") => false,
                _ => return Err(CliError::Admin),
            };
            let user = words.next().ok_or(CliError::Admin)?;
            cli.command = Command::Admin { grant, user };
        }
        Some(other) => return Err(CliError::Extra(other.to_owned())),
    }
    if let Some(extra) = words.next() {
        return Err(CliError::Extra(extra));
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, CliError> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn original_and_new_spellings_are_accepted() {
        for args in [
            &["-dev", "-config", "x.toml", "-loglevel", "debug"][..],
            &["--dev", "--config", "x.toml", "--log-level", "DEBUG"],
            &["-dev=true", "-config=x.toml", "--loglevel=debug"],
        ] {
            let cli = parse(args).unwrap();
            assert!(cli.dev, "{args:?}");
            assert_eq!(cli.config, PathBuf::from("x.toml"));
            assert_eq!(cli.log_level, Some(LogLevel::Debug));
            assert_eq!(cli.command, Command::Serve);
        }
        let defaults = parse(&[]).unwrap();
        assert!(!defaults.dev);
        assert_eq!(defaults.config, PathBuf::from("config.toml"));
        assert!(!parse(&["-dev=false"]).unwrap().dev);
    }

    #[test]
    fn admin_sub_command_and_help() {
        let cli = parse(&["-config", "c.toml", "admin", "grant", "alice"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Admin {
                grant: true,
                user: "alice".into()
            }
        );
        let cli = parse(&["admin", "revoke", "bob"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Admin {
                grant: false,
                user: "bob".into()
            }
        );
        assert_eq!(parse(&["-h"]).unwrap().command, Command::Help);
        assert_eq!(parse(&["--version"]).unwrap().command, Command::Version);
    }

    #[test]
    fn mistakes_get_one_clear_error() {
        assert_eq!(parse(&["-x"]), Err(CliError::UnknownFlag("-x".into())));
        assert_eq!(
            parse(&["-config"]),
            Err(CliError::MissingValue("config".into()))
        );
        assert_eq!(
            parse(&["-loglevel", "verbose"]),
            Err(CliError::LogLevel("verbose".into()))
        );
        assert_eq!(
            parse(&["-dev=maybe"]),
            Err(CliError::BadBool("maybe".into()))
        );
        assert_eq!(parse(&["admin"]), Err(CliError::Admin));
        assert_eq!(parse(&["admin", "grant"]), Err(CliError::Admin));
        assert_eq!(parse(&["admin", "promote", "x"]), Err(CliError::Admin));
        assert_eq!(parse(&["serve"]), Err(CliError::Extra("serve".into())));
        assert_eq!(
            parse(&["admin", "grant", "a", "b"]),
            Err(CliError::Extra("b".into()))
        );
        assert!(
            parse(&["-bogus"])
                .unwrap_err()
                .to_string()
                .contains("-bogus")
        );
    }

    #[test]
    fn every_spelling_of_every_flag() {
        for args in [
            &["-log-level", "warn"][..],
            &["--loglevel", "WARN"],
            &["-log-level=Warn"],
            &["--log-level=warning"],
        ] {
            assert_eq!(
                parse(args).unwrap().log_level,
                Some(LogLevel::Warn),
                "{args:?}"
            );
        }
        for level in [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ] {
            let cli = parse(&["-loglevel", level.as_str()]).unwrap();
            assert_eq!(cli.log_level, Some(level));
        }
        for args in [&["--config=a b.toml"][..], &["-config", "a b.toml"]] {
            assert_eq!(parse(args).unwrap().config, PathBuf::from("a b.toml"));
        }
        for help in ["-h", "--h", "-help", "--help"] {
            assert_eq!(parse(&[help]).unwrap().command, Command::Help, "{help}");
        }
        for version in ["-version", "--version"] {
            assert_eq!(parse(&[version]).unwrap().command, Command::Version);
        }
        // Help wins over a sub-command and its mistakes.
        assert_eq!(parse(&["admin", "-help"]).unwrap().command, Command::Help);
    }

    #[test]
    fn dev_takes_the_booleans_go_accepts() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert!(parse(&[&format!("-dev={yes}")]).unwrap().dev, "{yes}");
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert!(!parse(&[&format!("--dev={no}")]).unwrap().dev, "{no}");
        }
        // A bool flag never takes the next argument, as in Go.
        assert_eq!(
            parse(&["-dev", "false"]),
            Err(CliError::Extra("false".into()))
        );
    }

    #[test]
    fn flags_around_the_sub_command_and_the_double_dash() {
        let cli = parse(&["-dev", "admin", "revoke", "carol", "--loglevel=info"]).unwrap();
        assert!(cli.dev);
        assert_eq!(cli.log_level, Some(LogLevel::Info));
        assert_eq!(
            cli.command,
            Command::Admin {
                grant: false,
                user: "carol".into()
            }
        );
        // After `--`, a name that looks like a flag is a name.
        let cli = parse(&["--", "admin", "grant", "-dash"]).unwrap();
        assert_eq!(
            cli.command,
            Command::Admin {
                grant: true,
                user: "-dash".into()
            }
        );
    }

    #[test]
    fn error_messages_read_as_one_clear_line() {
        let message = |args: &[&str]| parse(args).unwrap_err().to_string();
        assert_eq!(message(&["-x"]), "unknown flag \"-x\" (see --help)");
        assert_eq!(message(&["--config"]), "flag -config needs a value");
        assert_eq!(message(&["-config="]), "flag -config needs a value");
        assert_eq!(message(&["--log-level"]), "flag -log-level needs a value");
        assert_eq!(
            message(&["-loglevel", "verbose"]),
            "unknown log level \"verbose\": use trace, debug, info, warn or error"
        );
        assert_eq!(
            message(&["admin", "grant"]),
            "admin needs \"grant NAME\" or \"revoke NAME\""
        );
        assert_eq!(
            message(&["-dev=yes"]),
            "flag -dev takes true or false, not \"yes\""
        );
        assert_eq!(
            message(&["admin", "grant", "a", "b"]),
            "unexpected argument \"b\" (see --help)"
        );
        assert_eq!(message(&["-"]), "unexpected argument \"-\" (see --help)");
        assert_eq!(message(&["---dev"]), "unknown flag \"---dev\" (see --help)");
    }

    #[test]
    fn usage_lists_every_flag_and_the_sub_command() {
        for needle in [
            "-dev",
            "-config",
            "-loglevel",
            "--log-level",
            "-help",
            "-version",
            "admin grant NAME",
            "admin revoke NAME",
        ] {
            assert!(USAGE.contains(needle), "{needle}");
        }
    }
}

//! The options of `#[ork::task(...)]`, parsed and checked at compile time.
//!
//! Every value is a literal; durations are strings in jiff's friendly
//! format (`"30s"`, `"1h30m"`, `"250ms"`, `"2d"`), parsed by the same code
//! as `ork::time::parse_duration` and turned into milliseconds here, so a
//! typo is an error at the literal rather than at run time.
//!
//! Backoff syntax:
//!
//! | value                    | meaning                                          |
//! |--------------------------|--------------------------------------------------|
//! | `"fixed"`                | 1 s between attempts                             |
//! | `"fixed:2s"`             | 2 s between attempts                             |
//! | `"exponential"`          | 1 s, 2 s, 4 s ... capped at 1 h (the default)    |
//! | `"exponential:500ms"`    | from 500 ms, capped at 1 h (or at the base if larger) |
//! | `"exponential:1s..5m"`   | from 1 s, capped at 5 min                        |
//!
//! Exponential delays are jittered unless `jitter = false`.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Error, Lit, LitBool, LitInt, LitStr, Path, Result};

/// Every option, for the "unknown option" message.
const OPTIONS: &[&str] = &[
    "name",
    "queue",
    "retries",
    "backoff",
    "jitter",
    "timeout",
    "priority",
    "result_ttl",
    "concurrency",
    "max_running",
    "key_limit",
    "rate",
    "burst",
    "limiter",
    "cron",
    "every",
    "crate",
];

/// The delay before the first retry when a backoff names none.
const DEFAULT_BASE_MS: u64 = 1_000;
/// The cap of exponential backoff when it names none.
const DEFAULT_CAP_MS: u64 = 3_600_000;

/// One option's value, with the tokens `key = value` to point errors at.
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    tokens: TokenStream,
}

impl<T> Setting<T> {
    /// An error pointing at `key = value`.
    pub(crate) fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::new_spanned(&self.tokens, message)
    }
}

/// The delay between attempts, as written (jitter is a separate option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackoffSpec {
    /// The same delay before every retry.
    Fixed { delay_ms: u64 },
    /// Doubling from `base_ms`, capped at `max_ms`.
    Exponential { base_ms: u64, max_ms: u64 },
}

impl BackoffSpec {
    /// ork-core's default: exponential from 1 s, capped at 1 h.
    pub(crate) const DEFAULT: BackoffSpec = BackoffSpec::Exponential {
        base_ms: DEFAULT_BASE_MS,
        max_ms: DEFAULT_CAP_MS,
    };
}

/// The parsed `#[ork::task(...)]` options; `None` where not given.
#[derive(Default)]
pub(crate) struct TaskAttr {
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) queue: Option<Setting<LitStr>>,
    pub(crate) retries: Option<Setting<u32>>,
    pub(crate) backoff: Option<Setting<BackoffSpec>>,
    pub(crate) jitter: Option<Setting<bool>>,
    pub(crate) timeout: Option<Setting<u64>>,
    pub(crate) priority: Option<Setting<u8>>,
    pub(crate) result_ttl: Option<Setting<u64>>,
    pub(crate) concurrency: Option<Setting<usize>>,
    pub(crate) max_running: Option<Setting<u32>>,
    pub(crate) key_limit: Option<Setting<u32>>,
    pub(crate) rate: Option<Setting<(u32, u64)>>,
    pub(crate) burst: Option<Setting<u32>>,
    pub(crate) limiter: Option<Setting<LitStr>>,
    pub(crate) cron: Option<Setting<LitStr>>,
    pub(crate) every: Option<Setting<u64>>,
    pub(crate) krate: Option<Setting<Path>>,
}

impl TaskAttr {
    /// Parses the attribute's arguments (empty for a bare `#[ork::task]`).
    pub(crate) fn parse(tokens: TokenStream) -> Result<Self> {
        let mut attr = TaskAttr::default();
        syn::meta::parser(|meta| attr.parse_option(meta)).parse2(tokens)?;
        attr.check()?;
        Ok(attr)
    }

    /// The path generated code starts from: `::ork` unless `crate = "..."`.
    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.value.to_token_stream(),
            None => quote!(::ork),
        }
    }

    /// Whether the task is periodic: its `cron` or `every` setting.
    pub(crate) fn periodic(&self) -> Option<(&'static str, &TokenStream)> {
        if let Some(cron) = &self.cron {
            return Some(("cron", &cron.tokens));
        }
        self.every.as_ref().map(|every| ("every", &every.tokens))
    }

    fn parse_option(&mut self, meta: ParseNestedMeta) -> Result<()> {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "name" => {
                let lit = string(&meta, &key, "\"billing::charge\"")?;
                non_blank(&lit, "task name")?;
                set(&mut self.name, &meta, lit.clone(), lit)
            }
            "queue" => {
                let lit = string(&meta, &key, "\"mail\"")?;
                non_blank(&lit, "queue name")?;
                set(&mut self.queue, &meta, lit.clone(), lit)
            }
            "retries" => {
                let (n, lit) = integer::<u32>(&meta, &key, "5", "0 or more")?;
                set(&mut self.retries, &meta, n, lit)
            }
            "priority" => {
                let (n, lit) = integer::<u8>(&meta, &key, "9", "from 0 to 9")?;
                if n > 9 {
                    return Err(Error::new_spanned(
                        lit,
                        "`priority` goes from 0 (lowest) to 9 (highest)",
                    ));
                }
                set(&mut self.priority, &meta, n, lit)
            }
            "concurrency" => {
                let (n, lit) = integer::<usize>(&meta, &key, "2", "1 or more")?;
                if n == 0 {
                    return Err(Error::new_spanned(
                        lit,
                        "`concurrency` must be at least 1 (leave it out for no limit)",
                    ));
                }
                set(&mut self.concurrency, &meta, n, lit)
            }
            "rate" => {
                let lit = string(&meta, &key, "\"100/s\"")?;
                let parsed = parse_rate(&lit.value()).map_err(|m| Error::new(lit.span(), m))?;
                set(&mut self.rate, &meta, parsed, lit)
            }
            "limiter" => {
                let lit = string(&meta, &key, "\"stripe\"")?;
                non_blank(&lit, "limiter name")?;
                set(&mut self.limiter, &meta, lit.clone(), lit)
            }
            "burst" => {
                let (n, lit) = integer::<u32>(&meta, &key, "10", "1 or more")?;
                if n == 0 {
                    return Err(Error::new_spanned(lit, "`burst` must be at least 1"));
                }
                set(&mut self.burst, &meta, n, lit)
            }
            "max_running" | "key_limit" => {
                let (n, lit) = integer::<u32>(&meta, &key, "5", "1 or more")?;
                if n == 0 {
                    return Err(Error::new_spanned(
                        lit,
                        format!("`{key}` must be at least 1 (leave it out for no limit)"),
                    ));
                }
                let slot = if key == "max_running" {
                    &mut self.max_running
                } else {
                    &mut self.key_limit
                };
                set(slot, &meta, n, lit)
            }
            "timeout" | "result_ttl" | "every" => {
                let lit = string(&meta, &key, "\"30s\"")?;
                let ms = duration(&lit)?;
                if ms == 0 {
                    return Err(Error::new_spanned(
                        lit,
                        format!("`{key}` must be longer than zero"),
                    ));
                }
                if key == "every" && ms < ork_cron::MIN_INTERVAL_MS {
                    return Err(Error::new_spanned(
                        lit,
                        format!(
                            "`every` must be at least {}ms, the shortest interval the scheduler accepts",
                            ork_cron::MIN_INTERVAL_MS
                        ),
                    ));
                }
                let slot = match key.as_str() {
                    "timeout" => &mut self.timeout,
                    "result_ttl" => &mut self.result_ttl,
                    _ => &mut self.every,
                };
                set(slot, &meta, ms, lit)
            }
            "backoff" => {
                let lit = string(&meta, &key, "\"exponential:1s..5m\"")?;
                let spec = backoff(&lit)?;
                set(&mut self.backoff, &meta, spec, lit)
            }
            "jitter" => {
                let lit: LitBool = literal(&meta, &key, "`true` or `false`", "false")?;
                set(&mut self.jitter, &meta, lit.value, lit)
            }
            "cron" => {
                let lit = string(&meta, &key, "\"0 */15 * * * *\"")?;
                cron(&lit)?;
                set(&mut self.cron, &meta, lit.clone(), lit)
            }
            "crate" => {
                let lit = string(&meta, &key, "\"my_crate::ork\"")?;
                let path: Path = lit.parse().map_err(|_| {
                    Error::new_spanned(&lit, "`crate` takes a path, like \"::ork\"")
                })?;
                set(&mut self.krate, &meta, path, lit)
            }
            _ => {
                let key = meta.path.to_token_stream().to_string().replace(' ', "");
                let hint = match OPTIONS.iter().find(|option| similar(option, &key)) {
                    Some(option) => format!("did you mean `{option}`? "),
                    None => String::new(),
                };
                Err(Error::new_spanned(
                    &meta.path,
                    format!(
                        "unknown option `{key}`; {hint}the options are: {}",
                        OPTIONS.join(", ")
                    ),
                ))
            }
        }
    }

    /// Checks that span several options.
    fn check(&self) -> Result<()> {
        if let (Some(jitter), Some(backoff)) = (&self.jitter, &self.backoff) {
            if let BackoffSpec::Fixed { .. } = backoff.value {
                return Err(jitter.error(
                    "`jitter` applies to exponential backoff only; this task's backoff is fixed",
                ));
            }
        }
        if let (Some(_), Some(every)) = (&self.cron, &self.every) {
            return Err(every.error("a task is periodic by `cron` or by `every`, not both"));
        }
        if let (Some(burst), None) = (&self.burst, &self.rate) {
            return Err(burst.error("`burst` goes with `rate` (a limiter has its own burst)"));
        }
        if let (Some(_), Some(limiter)) = (&self.rate, &self.limiter) {
            return Err(
                limiter.error("a task takes its rate from `rate` or from a `limiter`, not both")
            );
        }
        Ok(())
    }
}

/// Stores an option's value, refusing a second one.
fn set<T>(
    slot: &mut Option<Setting<T>>,
    meta: &ParseNestedMeta,
    value: T,
    lit: impl ToTokens,
) -> Result<()> {
    if slot.is_some() {
        let key = meta.path.to_token_stream();
        return Err(Error::new_spanned(
            &meta.path,
            format!("`{key}` is given twice"),
        ));
    }
    let path = &meta.path;
    *slot = Some(Setting {
        value,
        tokens: quote!(#path = #lit),
    });
    Ok(())
}

/// The literal after `key =`, of the kind `L` (`kind` says which, for the
/// error).
fn literal<L: syn::parse::Parse + ToTokens>(
    meta: &ParseNestedMeta,
    key: &str,
    kind: &str,
    example: &str,
) -> Result<L> {
    let expected = || format!("`{key}` takes {kind}, like `{key} = {example}`");
    let lit: Lit = meta
        .value()?
        .parse()
        .map_err(|e| Error::new(e.span(), expected()))?;
    syn::parse2(lit.to_token_stream()).map_err(|_| Error::new_spanned(&lit, expected()))
}

fn string(meta: &ParseNestedMeta, key: &str, example: &str) -> Result<LitStr> {
    literal(meta, key, "a string", example)
}

/// An integer literal that fits `N`.
fn integer<N>(meta: &ParseNestedMeta, key: &str, example: &str, range: &str) -> Result<(N, LitInt)>
where
    N: std::str::FromStr,
    N::Err: std::fmt::Display,
{
    let lit: LitInt = literal(meta, key, "a whole number", example)?;
    let n = lit
        .base10_parse::<N>()
        .map_err(|_| Error::new_spanned(&lit, format!("`{key}` takes a whole number {range}")))?;
    Ok((n, lit))
}

/// Whether `typo` is probably a misspelling of `option`: at most two edits
/// apart (Levenshtein), or starting with the same four letters.
fn similar(option: &str, typo: &str) -> bool {
    let common = option
        .chars()
        .zip(typo.chars())
        .take_while(|(a, b)| a == b)
        .count();
    if common >= 4 {
        return true;
    }
    let b: Vec<char> = typo.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in option.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()] <= 2
}

fn non_blank(lit: &LitStr, what: &str) -> Result<()> {
    let value = lit.value();
    if value.trim().is_empty() || value.trim() != value {
        return Err(Error::new_spanned(
            lit,
            format!("the {what} must not be empty or start or end with spaces"),
        ));
    }
    Ok(())
}

/// A duration literal, in milliseconds; the error points at the literal.
fn duration(lit: &LitStr) -> Result<u64> {
    parse_millis(&lit.value()).map_err(|msg| Error::new(lit.span(), msg))
}

/// Parses a duration with the grammar of `ork::time::parse_duration`
/// (jiff's friendly format, shared through ork-cron) into milliseconds.
fn parse_millis(text: &str) -> std::result::Result<u64, String> {
    let duration = ork_cron::parse_duration(text)?;
    u64::try_from(duration.as_millis()).map_err(|_| format!("`{text}` is too long a duration"))
}

/// `"100/s"`, `"10/m"`, `"5/h"`, `"5/10s"`: a count per a period (ms).
fn parse_rate(text: &str) -> std::result::Result<(u32, u64), String> {
    let syntax = "write a count per a period, like \"100/s\", \"10/m\", \"5/h\" or \"5/10s\"";
    let (count, period) = text.split_once('/').ok_or_else(|| syntax.to_owned())?;
    let count: u32 = count.trim().parse().map_err(|_| syntax.to_owned())?;
    let period_ms = match period.trim() {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => parse_millis(other).map_err(|_| syntax.to_owned())?,
    };
    if count == 0 || period_ms == 0 {
        return Err(format!(
            "`{text}`: the count and the period must be positive"
        ));
    }
    Ok((count, period_ms))
}

/// `"fixed"`, `"fixed:2s"`, `"exponential"`, `"exponential:1s"`,
/// `"exponential:1s..5m"`.
fn backoff(lit: &LitStr) -> Result<BackoffSpec> {
    parse_backoff(&lit.value()).map_err(|msg| Error::new(lit.span(), msg))
}

fn parse_backoff(text: &str) -> std::result::Result<BackoffSpec, String> {
    let syntax = "write \"fixed\", \"fixed:2s\", \"exponential\", \"exponential:1s\" or \"exponential:1s..5m\" (base..cap)";
    let (kind, params) = match text.split_once(':') {
        Some((kind, params)) => (kind.trim(), Some(params.trim())),
        None => (text.trim(), None),
    };
    match (kind, params) {
        ("fixed", None) => Ok(BackoffSpec::Fixed {
            delay_ms: DEFAULT_BASE_MS,
        }),
        ("fixed", Some(delay)) => Ok(BackoffSpec::Fixed {
            delay_ms: parse_millis(delay)?,
        }),
        ("exponential", None) => Ok(BackoffSpec::DEFAULT),
        ("exponential", Some(params)) => {
            let (base, cap) = match params.split_once("..") {
                Some((base, cap)) => (base.trim(), Some(cap.trim())),
                None => (params, None),
            };
            let base_ms = parse_millis(base)?;
            if base_ms == 0 {
                return Err(format!("the base of `{text}` must be longer than zero"));
            }
            let max_ms = match cap {
                Some(cap) => parse_millis(cap)?,
                None => base_ms.max(DEFAULT_CAP_MS),
            };
            if max_ms < base_ms {
                return Err(format!(
                    "in `{text}` the cap is shorter than the base; {syntax}"
                ));
            }
            Ok(BackoffSpec::Exponential { base_ms, max_ms })
        }
        _ => Err(format!("`{text}` is not a backoff; {syntax}")),
    }
}

/// Checks a cron expression with the parser the scheduler uses (ork-cron),
/// so an expression it would refuse is an error at the string.
fn cron(lit: &LitStr) -> Result<()> {
    let text = lit.value();
    ork_cron::CronFields::parse(&text).map(drop).map_err(|e| {
        Error::new(
            lit.span(),
            format!("`{text}` is not a cron expression: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_millis("250ms"), Ok(250));
        assert_eq!(parse_millis("30s"), Ok(30_000));
        assert_eq!(parse_millis("1m30s"), Ok(90_000));
        assert_eq!(parse_millis(" 2h "), Ok(7_200_000));
        assert_eq!(parse_millis("1d"), Ok(86_400_000));
        assert_eq!(parse_millis("1h30m"), Ok(5_400_000));
        assert_eq!(parse_millis("1m 30s"), Ok(90_000));
        for bad in [
            "",
            "30",
            "s",
            "5 parsecs",
            "3 months",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_millis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn typos() {
        assert!(similar("retries", "retry"));
        assert!(similar("queue", "queu"));
        assert!(similar("timeout", "timout"));
        assert!(similar("result_ttl", "result"));
        assert!(!similar("name", "colour"));
    }

    #[test]
    fn backoffs() {
        use BackoffSpec::*;
        assert_eq!(parse_backoff("fixed"), Ok(Fixed { delay_ms: 1_000 }));
        assert_eq!(parse_backoff("fixed:2s"), Ok(Fixed { delay_ms: 2_000 }));
        assert_eq!(
            parse_backoff("exponential"),
            Ok(Exponential {
                base_ms: 1_000,
                max_ms: 3_600_000
            })
        );
        assert_eq!(
            parse_backoff("exponential: 1s..5m"),
            Ok(Exponential {
                base_ms: 1_000,
                max_ms: 300_000
            })
        );
        assert_eq!(
            parse_backoff("exponential:2h"),
            Ok(Exponential {
                base_ms: 7_200_000,
                max_ms: 7_200_000
            })
        );
        for bad in [
            "linear",
            "fixed:",
            "exponential:5m..1s",
            "exponential:0s",
            "exponential:1s..",
        ] {
            assert!(parse_backoff(bad).is_err(), "{bad}");
        }
    }
}

//! Checks the function under `#[ork::task]` and generates the task type.
//!
//! For `async fn add(x: i64, y: i64) -> Result<i64, E>` it emits, besides the
//! function itself (unchanged):
//!
//! - `struct add {}` (a braced struct lives in the type namespace only, so it
//!   doesn't clash with the function) with `add::call(x, y) -> Call<i64>`
//!   and, for workflows, `add::flow(x, y)` whose arguments may be nodes;
//! - `impl Task for add`, with `Args = (i64, i64)`, `Output = i64`, the
//!   options as a const and `run`;
//! - the registration with `inventory`;
//! - checks spanned at the user's tokens, so that a type that isn't serde,
//!   an error that isn't `Display` or a future that isn't `Send` is reported
//!   where it is written (helpers in `ork_core::checks`).
//!
//! All paths go through `::ork::__private` (or the `crate = "..."` path).

use proc_macro2::{Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::{Error, Ident, Result, Type};

use crate::attr::{BackoffSpec, TaskAttr};
use crate::item::TaskFn;
use crate::sig::TaskSig;

/// Expands `#[ork::task(attr)] item`.
pub(crate) fn task(attr: TokenStream, item: TokenStream) -> Result<TokenStream> {
    let func: TaskFn = syn::parse2(item.clone()).map_err(|_| {
        Error::new_spanned(
            &item,
            "`#[ork::task]` goes on a function: `async fn` (or a plain `fn`, run on the blocking pool)",
        )
    })?;
    let (attr, sig) = match (TaskAttr::parse(attr), TaskSig::parse(&func.sig)) {
        (Ok(attr), Ok(sig)) => (attr, sig),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
        (Err(mut e), Err(sig_error)) => {
            e.combine(sig_error);
            return Err(e);
        }
    };
    if let Some((option, setting)) = attr.periodic() {
        if let Some((first, _)) = sig.args.first() {
            return Err(Error::new_spanned(
                setting,
                format!(
                    "a periodic task (`{option}`) takes no arguments besides `Context`, since the scheduler has none to give; `{}` takes `{first}`{}",
                    sig.ident,
                    if sig.args.len() > 1 { " and more" } else { "" },
                ),
            ));
        }
    }
    Ok(generate(&func, &attr, &sig))
}

/// The generated items, after the function itself.
fn generate(func: &TaskFn, attr: &TaskAttr, sig: &TaskSig) -> TokenStream {
    let vis = &func.vis;
    let ident = sig.ident;
    let krate = attr.krate();
    let p = quote!(#krate::__private);
    let output = sig.output;
    let names: Vec<_> = sig.args.iter().map(|(name, _)| *name).collect();
    let types: Vec<_> = sig.args.iter().map(|(_, ty)| *ty).collect();

    let struct_doc = format!(
        " The task [`{0}()`]: `{0}::call(..)` builds a call of it to enqueue.",
        ident.unraw()
    );
    let call_doc = format!(
        " A call of the task [`{0}()`] with these arguments, ready to enqueue. In a \
         workflow, a node whose inputs come from other nodes is built with \
         [`{0}::flow`](Self::flow) instead.",
        ident.unraw()
    );
    let flow_doc = format!(
        " A call of the task [`{}()`] as a workflow node: each argument is a value, or a \
         `Node` (or `all`, `item`, ..) of the workflow whose output feeds it.",
        ident.unraw()
    );
    let call = Ident::new("call", ident.span());
    let flow = Ident::new("flow", ident.span());

    // What the function is compiled under, its task is too.
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let options = options(attr, sig, &p);
    let run = run_body(sig, &krate);
    let checks = checks(sig, &krate);

    quote! {
        #func

        #(#cfgs)*
        #[doc = #struct_doc]
        #[allow(non_camel_case_types, dead_code)]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        #vis struct #ident {}

        #(#cfgs)*
        impl #ident {
            #[doc = #call_doc]
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis fn #call(#(#names: #types),*) -> #p::Call<#output> {
                #p::Call::new::<#ident>((#(#names,)*))
            }

            #[doc = #flow_doc]
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis fn #flow(#(#names: impl #p::IntoInput<#types>),*) -> #p::Call<#output> {
                #p::Call::from_inputs::<#ident>(::std::vec![
                    #(#p::IntoInput::<#types>::into_input(#names)),*
                ])
            }
        }

        #(#cfgs)*
        const _: () = {
            #checks

            impl #p::Task for #ident {
                type Args = (#(#types,)*);
                type Output = #output;
                const OPTIONS: #p::TaskOptions = #options;
                #run
            }

            #p::inventory::submit! {
                #p::TaskEntry::of::<#ident>()
            }
        };
    }
}

/// `TaskOptions::new(name).queue(..)...`, a const expression.
fn options(attr: &TaskAttr, sig: &TaskSig, p: &TokenStream) -> TokenStream {
    let name = match &attr.name {
        Some(name) => name.value.to_token_stream(),
        None => {
            let fn_name = sig.ident.unraw().to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let millis = |ms: u64| {
        let ms = Literal::u64_suffixed(ms);
        quote!(#p::Duration::from_millis(#ms))
    };
    let mut options = quote!(#p::TaskOptions::new(#name));
    if let Some(queue) = &attr.queue {
        let queue = &queue.value;
        options.extend(quote!(.queue(#queue)));
    }
    if let Some(retries) = &attr.retries {
        let retries = Literal::u32_suffixed(retries.value);
        options.extend(quote!(.retries(#retries)));
    }
    if attr.backoff.is_some() || attr.jitter.is_some() {
        let spec = attr
            .backoff
            .as_ref()
            .map_or(BackoffSpec::DEFAULT, |b| b.value);
        let backoff = match spec {
            BackoffSpec::Fixed { delay_ms } => {
                let delay_ms = Literal::u64_suffixed(delay_ms);
                quote!(#p::Backoff::Fixed { delay_ms: #delay_ms })
            }
            BackoffSpec::Exponential { base_ms, max_ms } => {
                let jitter = attr.jitter.as_ref().is_none_or(|j| j.value);
                let base_ms = Literal::u64_suffixed(base_ms);
                let max_ms = Literal::u64_suffixed(max_ms);
                quote!(#p::Backoff::Exponential { base_ms: #base_ms, max_ms: #max_ms, jitter: #jitter })
            }
        };
        options.extend(quote!(.backoff(#backoff)));
    }
    if let Some(timeout) = &attr.timeout {
        let timeout = millis(timeout.value);
        options.extend(quote!(.timeout(#timeout)));
    }
    if let Some(priority) = &attr.priority {
        let priority = Literal::u8_suffixed(priority.value);
        options.extend(quote!(.priority(#priority)));
    }
    if let Some(ttl) = &attr.result_ttl {
        let ttl = millis(ttl.value);
        options.extend(quote!(.result_ttl(#ttl)));
    }
    if let Some(rate) = &attr.rate {
        let (count, period_ms) = rate.value;
        let count = Literal::u32_suffixed(count);
        let period_ms = Literal::u64_suffixed(period_ms);
        let burst = Literal::u32_suffixed(attr.burst.as_ref().map_or(1, |b| b.value));
        options.extend(
            quote!(.rate(#p::Rate { count: #count, period_ms: #period_ms, burst: #burst })),
        );
    }
    if let Some(limiter) = &attr.limiter {
        let limiter = &limiter.value;
        options.extend(quote!(.limiter(#limiter)));
    }
    if let Some(n) = &attr.max_running {
        let n = Literal::u32_suffixed(n.value);
        options.extend(quote!(.max_running(#n)));
    }
    if let Some(n) = &attr.key_limit {
        let n = Literal::u32_suffixed(n.value);
        options.extend(quote!(.key_limit(#n)));
    }
    if let Some(concurrency) = &attr.concurrency {
        let concurrency = Literal::usize_suffixed(concurrency.value);
        options.extend(quote!(.concurrency(#concurrency)));
    }
    if !sig.is_async {
        options.extend(quote!(.blocking()));
    }
    if let Some(cron) = &attr.cron {
        let cron = &cron.value;
        options.extend(quote!(.cron(#cron)));
    }
    if let Some(every) = &attr.every {
        let every = millis(every.value);
        options.extend(quote!(.every(#every)));
    }
    options
}

/// `fn run(ctx, args)`: unpacks the arguments and calls the function; the
/// call is spanned at the function's name, where a future that isn't `Send`
/// is reported, and the error conversion at the error type, where an error
/// that isn't `Display` is reported.
fn run_body(sig: &TaskSig, krate: &TokenStream) -> TokenStream {
    let span = sig.ident.span();
    let ident = sig.ident;
    let p = quote!(#krate::__private);
    // Mixed-site names can't collide with the user's parameter names.
    let ctx = Ident::new("ctx", Span::mixed_site());
    let args = Ident::new("args", Span::mixed_site());
    let names: Vec<_> = sig.args.iter().map(|(name, _)| *name).collect();
    let pass_ctx = sig.context.then(|| quote!(#ctx,));
    let ignore_ctx = (!sig.context).then(|| quote!(let _ = #ctx;));
    let to_error = checks_item(krate, sig.error_site, "failure");
    let call = if sig.is_async {
        let task_future = checks_item(krate, Site::at(span), "task_future");
        quote_spanned!(span=> #task_future(#ident(#pass_ctx #(#names),*), #to_error))
    } else {
        let blocking_task = checks_item(krate, Site::at(span), "blocking_task");
        quote_spanned!(span=> #blocking_task(move || #ident(#pass_ctx #(#names),*), #to_error))
    };
    quote! {
        fn run(
            #ctx: #p::Context,
            #args: Self::Args,
        ) -> #p::BoxFuture<'static, ::core::result::Result<Self::Output, #p::TaskError>> {
            #ignore_ctx
            let (#(#names,)*) = #args;
            #call
        }
    }
}

/// A function whose signature is well-formed only if the argument and
/// output types are fit for a task, each spanned at the type as written.
fn checks(sig: &TaskSig, krate: &TokenStream) -> TokenStream {
    let check = |ty: &Type, item: &str| {
        let site = Site::of(ty);
        let path = checks_item(krate, site, item);
        let lt = Punct::new('<', Spacing::Alone);
        let mut gt = Punct::new('>', Spacing::Alone);
        gt.set_span(site.end);
        quote_spanned!(site.start=> _: #path #lt #ty #gt)
    };
    let args = sig.args.iter().map(|(_, ty)| check(ty, "Arg"));
    let output = check(sig.output, "Output");
    quote! {
        #[allow(dead_code, clippy::too_many_arguments)]
        fn check_types(#(#args,)* #output) {}
    }
}

/// Where some of the user's tokens start and end: generated tokens given
/// these spans make rustc underline the user's tokens.
#[derive(Clone, Copy)]
pub(crate) struct Site {
    start: Span,
    end: Span,
}

impl Site {
    fn at(span: Span) -> Self {
        Site {
            start: span,
            end: span,
        }
    }

    pub(crate) fn of(tokens: &impl ToTokens) -> Self {
        let mut trees = tokens.to_token_stream().into_iter();
        let start = trees.next().map_or_else(Span::call_site, |t| t.span());
        let end = trees.last().map_or(start, |t| t.span());
        Site { start, end }
    }
}

/// The path `<krate>::__private::checks::<item>`, spanned from `site.start`
/// to `site.end`, so that an error about it is reported at the site.
fn checks_item(krate: &TokenStream, site: Site, item: &str) -> TokenStream {
    let krate = respan(krate.clone(), site.start);
    let item = Ident::new(item, site.end);
    quote_spanned!(site.start=> #krate::__private::checks::#item)
}

/// The tokens with every span set to `span` (for paths, which hygiene
/// doesn't concern).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                new.set_span(span);
                tree = TokenTree::Group(new);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

//! Checks of the function under `#[ork::task]`: its signature, arguments
//! and return type, with errors spanned at the user's tokens.

use syn::{
    Error, FnArg, GenericArgument, Ident, Pat, PathArguments, Result, ReturnType, Signature, Type,
};

use crate::expand::Site;

/// The most arguments a task takes: `ork_core::task::ArgsTuple` is
/// implemented for tuples up to this size.
const MAX_ARGS: usize = 12;

/// What the generated code needs to know about the function.
pub(crate) struct TaskSig<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) is_async: bool,
    /// Whether the first parameter is the `Context`.
    pub(crate) context: bool,
    /// The other parameters: name (without `mut`) and type.
    pub(crate) args: Vec<(&'a Ident, &'a Type)>,
    /// The `T` of the return type.
    pub(crate) output: &'a Type,
    /// Where an error type that isn't `Display` is reported: the `E` of
    /// `Result<T, E>`, or the return type for an alias such as
    /// `anyhow::Result<T>`.
    pub(crate) error_site: Site,
}

impl<'a> TaskSig<'a> {
    pub(crate) fn parse(sig: &'a Signature) -> Result<Self> {
        let mut errors = Errors::default();
        if let Some(unsafety) = &sig.unsafety {
            errors.push(Error::new_spanned(
                unsafety,
                "a task can't be an `unsafe fn`: the worker calls it with no way to uphold its contract",
            ));
        }
        if let Some(variadic) = &sig.variadic {
            errors.push(Error::new_spanned(variadic, "a task can't be variadic"));
        }
        for param in &sig.generics.params {
            let what = match param {
                syn::GenericParam::Lifetime(_) => {
                    "a task can't have lifetime parameters: its arguments are owned values, decoded from the queue"
                }
                syn::GenericParam::Type(_) => {
                    "a task can't be generic: its argument and output types are fixed when it is registered"
                }
                syn::GenericParam::Const(_) => {
                    "a task can't have const parameters: it is registered once, by name"
                }
            };
            errors.push(Error::new_spanned(param, what));
        }
        if let Some(clause) = &sig.generics.where_clause {
            errors.push(Error::new_spanned(
                clause,
                "a task can't have a `where` clause",
            ));
        }

        let mut context = false;
        let mut args = Vec::new();
        for (i, input) in sig.inputs.iter().enumerate() {
            let typed = match input {
                FnArg::Receiver(receiver) => {
                    errors.push(Error::new_spanned(
                        receiver,
                        "a task can't take `self`: write it as a free function (state the task needs comes from `ctx.state::<T>()`)",
                    ));
                    continue;
                }
                FnArg::Typed(typed) => typed,
            };
            if is_context(&typed.ty) {
                if i == 0 {
                    context = true;
                } else {
                    errors.push(Error::new_spanned(
                        &typed.ty,
                        "`Context` must be the task's first parameter",
                    ));
                }
                continue;
            }
            if let Type::Reference(r) = &*typed.ty {
                if is_context(&r.elem) {
                    errors.push(Error::new_spanned(
                        &typed.ty,
                        "take `Context` by value: `ctx: Context` (it is cheap to clone)",
                    ));
                    continue;
                }
            }
            match &*typed.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                    args.push((&pat.ident, &*typed.ty));
                }
                other => errors.push(Error::new_spanned(
                    other,
                    "a task's arguments must be plain names, like `user_id: u64` (they name the parameters of `call(..)`)",
                )),
            }
            check_arg_type(&typed.ty, &mut errors);
        }

        if let Some(extra) = args.get(MAX_ARGS) {
            errors.push(Error::new_spanned(
                extra.1,
                format!("a task takes at most {MAX_ARGS} arguments (besides `Context`); group some into a struct"),
            ));
        }

        let output = match &sig.output {
            ReturnType::Default => {
                errors.push(Error::new_spanned(
                    sig,
                    "a task returns a `Result`: add a return type such as `-> ork::Result<T>`, `-> anyhow::Result<T>` or `-> Result<T, E>` (any `E: Display`)",
                ));
                None
            }
            ReturnType::Type(_, ret) => match result_output(ret) {
                Some((output, error)) => {
                    if let Type::ImplTrait(_) = output {
                        errors.push(Error::new_spanned(
                            output,
                            "a task's output can't be `impl Trait`: give a concrete type (it is encoded into the result)",
                        ));
                    }
                    Some((output, error.map_or_else(|| Site::of(ret), Site::of)))
                }
                None => {
                    errors.push(Error::new_spanned(
                        ret,
                        "a task returns a `Result`: `-> Result<T, E>` (any `E: Display`), or an alias such as `ork::Result<T>` or `anyhow::Result<T>`",
                    ));
                    None
                }
            },
        };
        errors.finish()?;
        let (output, error_site) = output.expect("no return type without an error");
        Ok(TaskSig {
            ident: &sig.ident,
            is_async: sig.asyncness.is_some(),
            context,
            args,
            output,
            error_site,
        })
    }
}

/// Errors gathered while checking, reported together.
#[derive(Default)]
struct Errors(Option<Error>);

impl Errors {
    fn push(&mut self, error: Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// A path type whose last segment is `Context`, with no generic arguments.
fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Context" && s.arguments.is_none()),
        Type::Group(group) => is_context(&group.elem),
        Type::Paren(paren) => is_context(&paren.elem),
        _ => false,
    }
}

/// The `T` (and the `E`, if written) of a return type whose path ends in
/// `Result<T, ..>`.
fn result_output(ret: &Type) -> Option<(&Type, Option<&Type>)> {
    let Type::Path(path) = ret else {
        return match ret {
            Type::Group(group) => result_output(&group.elem),
            Type::Paren(paren) => result_output(&paren.elem),
            _ => None,
        };
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    let mut types = generics.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match generics.args.first()? {
        GenericArgument::Type(_) => Some((types.next()?, types.next())),
        _ => None,
    }
}

/// Rejects argument types that can't be decoded from a payload: `impl
/// Trait` and borrowed data.
fn check_arg_type(ty: &Type, errors: &mut Errors) {
    match ty {
        Type::ImplTrait(_) => errors.push(Error::new_spanned(
            ty,
            "a task's arguments can't be `impl Trait`: give a concrete type (it is decoded from the queue)",
        )),
        Type::Reference(_) => errors.push(Error::new_spanned(
            ty,
            "a task's arguments are owned values, decoded from the queue: use an owned type (`String`, `Vec<T>`) instead of a reference",
        )),
        Type::Array(array) => check_arg_type(&array.elem, errors),
        Type::Slice(slice) => check_arg_type(&slice.elem, errors),
        Type::Group(group) => check_arg_type(&group.elem, errors),
        Type::Paren(paren) => check_arg_type(&paren.elem, errors),
        Type::Tuple(tuple) => tuple.elems.iter().for_each(|t| check_arg_type(t, errors)),
        Type::Path(path) => {
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(generics) = &segment.arguments {
                    for arg in &generics.args {
                        if let GenericArgument::Type(t) = arg {
                            check_arg_type(t, errors);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

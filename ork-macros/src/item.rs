//! The function under `#[ork::task]`, parsed only as far as the macro needs.
//!
//! The signature is parsed; the body is kept as tokens, as tracing-attributes
//! and tokio-macros do. A syntax error inside the body is then reported
//! once, by rustc, where it is, instead of making the whole item fail to
//! parse as a function.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{braced, token, Attribute, Result, Signature, Visibility};

/// `attrs vis sig { body }`, the body unparsed.
pub(crate) struct TaskFn {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    brace: token::Brace,
    body: TokenStream,
}

impl Parse for TaskFn {
    fn parse(input: ParseStream) -> Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let body = content.parse()?;
        Ok(TaskFn {
            attrs,
            vis,
            sig,
            brace,
            body,
        })
    }
}

impl ToTokens for TaskFn {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        for attr in &self.attrs {
            attr.to_tokens(tokens);
        }
        self.vis.to_tokens(tokens);
        self.sig.to_tokens(tokens);
        self.brace
            .surround(tokens, |tokens| self.body.to_tokens(tokens));
    }
}

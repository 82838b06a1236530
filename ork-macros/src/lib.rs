//! The `#[ork::task]` attribute macro. Use it through the `ork` crate, which
//! documents it; this crate is an implementation detail.
//!
//! The entry point stays thin: [`attr`] parses the options, [`expand`] checks
//! the function and generates the code.

use proc_macro::TokenStream;

mod attr;
mod expand;

/// Marks an `async fn` (or a plain `fn`, run on the blocking pool) as an ork
/// task. See the `ork` crate for the options.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::task(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(error) => token_stream_with_error(item, error).into(),
    }
}

/// The item as written plus the error, so that the IDE (and the rest of the
/// crate) still sees the function when its attribute is wrong.
fn token_stream_with_error(
    mut item: proc_macro2::TokenStream,
    error: syn::Error,
) -> proc_macro2::TokenStream {
    item.extend(error.into_compile_error());
    item
}

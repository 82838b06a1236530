//! Compile-time checks used by the code `#[ork::task]` generates, so that
//! misuse is reported at the user's own tokens.

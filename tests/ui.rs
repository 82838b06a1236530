//! Compile-time behaviour of `#[ork::task]`: what compiles (`ui/pass`) and
//! the errors misuse gets (`ui/fail/*.stderr`). Regenerate the expected
//! errors with `TRYBUILD=overwrite cargo test --test ui`, then review them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

use anyhow::Context as _;

#[ork::task]
async fn parse(text: String) -> anyhow::Result<i64> {
    text.trim().parse::<i64>().context("not a number")
}

fn main() {
    let _: ork::Call<i64> = parse::call(" 42 ".into());
}

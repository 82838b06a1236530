#[derive(Debug)]
struct Report {
    lines: Vec<String>,
}

#[ork::task]
async fn render(title: String) -> ork::Result<Report> {
    Ok(Report { lines: vec![title] })
}

fn main() {}

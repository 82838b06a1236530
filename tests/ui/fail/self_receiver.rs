struct Mailer;

impl Mailer {
    #[ork::task]
    async fn send(&self, to: String) -> ork::Result<()> {
        let _ = to;
        Ok(())
    }
}

fn main() {}

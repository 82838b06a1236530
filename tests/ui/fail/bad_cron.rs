// The expression goes through the scheduler's own parser at compile time.
#[ork::task(cron = "0 99 * * * *")]
async fn minute_out_of_range() -> ork::Result<()> {
    Ok(())
}

#[ork::task(cron = "0 0 9 * * mon-fry")]
async fn bad_weekday() -> ork::Result<()> {
    Ok(())
}

// The scheduler refuses an interval under 100ms.
#[ork::task(every = "50ms")]
async fn too_often() -> ork::Result<()> {
    Ok(())
}

fn main() {}

struct Connection;

#[ork::task]
async fn ping(conn: Connection, times: u32) -> ork::Result<()> {
    let _ = (conn, times);
    Ok(())
}

fn main() {}

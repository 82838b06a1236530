mod math {
    pub mod ops {
        #[ork::task]
        pub async fn add(x: i64, y: i64) -> Result<i64, ork::Error> {
            Ok(x + y)
        }
    }

    #[ork::task]
    pub(crate) fn double(x: i64) -> ork::Result<i64> {
        Ok(x * 2)
    }
}

fn main() {
    // Integer literals infer through `call`.
    let call = math::ops::add::call(1, 2);
    assert!(call.task_name().ends_with("::math::ops::add"));
    let _: ork::Call<i64> = math::double::call(21);
    // The function is still a function.
    let _future = math::ops::add(1, 2);
}

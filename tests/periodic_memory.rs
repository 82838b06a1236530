//! Periodic tasks on the memory engine, on tokio's paused clock: the
//! macro's `cron`/`every` tasks, run-time schedules, pause and resume,
//! listings, missed-tick policies, skip-while-running, several schedulers,
//! schedulers with wrong local clocks, and daylight saving time.

#[path = "common/ticks.rs"]
mod ticks;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ork::prelude::*;
use ork::schedule::OffsetClock;
use ork::JobQuery;
use ork::{JobState, MemoryBackend, Missed, Task};
use ticks::{multiples, ticks};

#[ork::task(every = "1s", queue = "every-second")]
async fn each_second() -> ork::Result<()> {
    Ok(())
}

#[ork::task(cron = "*/5 * * * * *", queue = "cron")]
async fn every_five_seconds() -> ork::Result<()> {
    Ok(())
}

#[ork::task(queue = "runs")]
async fn noop() -> ork::Result<()> {
    Ok(())
}

/// Start and end (tokio time) of every run of `slow`.
#[derive(Default)]
struct Spans(Mutex<Vec<(tokio::time::Instant, tokio::time::Instant)>>);

#[ork::task(queue = "slow")]
async fn slow(ctx: Context) -> ork::Result<()> {
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ctx.state::<Arc<Spans>>()
        .0
        .lock()
        .unwrap()
        .push((start, tokio::time::Instant::now()));
    Ok(())
}

/// How many times each task ran.
#[derive(Default)]
struct Runs(AtomicUsize);

#[ork::task(queue = "counted")]
async fn counted(ctx: Context) -> ork::Result<()> {
    ctx.state::<Arc<Runs>>().0.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

async fn now(ork: &Ork) -> u64 {
    ork.backend().now_ms().await.unwrap()
}

async fn through(ork: &Ork, name: &str) -> u64 {
    ork.schedules()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .expect("schedule exists")
        .through_ms
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn an_every_task_fires_once_per_second() {
    let ork = Ork::memory();
    let t0 = now(&ork).await;
    let worker = ork
        .worker()
        .task::<each_second>()
        .queues(["every-second"])
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let end = now(&ork).await;
    worker.shutdown().await;
    let name = <each_second as Task>::OPTIONS.name;
    let got = ticks(&ork, name).await;
    assert_eq!(got, multiples(t0, end, 1000));
    assert!(got.len() >= 10, "{got:?}");
    // Each tick's job ran.
    let jobs = ork
        .list(&JobQuery::default().queue("every-second").page(0, 100))
        .await
        .unwrap();
    assert!(jobs.iter().all(|j| j.state == JobState::Succeeded));
    // The schedule is named after the task.
    let listed = ork.schedules().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    assert_eq!(listed[0].schedule, Schedule::every(secs(1)));
    assert_eq!(listed[0].queue, "every-second");
}

#[tokio::test(start_paused = true)]
async fn a_cron_task_fires_on_its_seconds() {
    let ork = Ork::memory();
    let t0 = now(&ork).await;
    let worker = ork
        .worker()
        .task::<every_five_seconds>()
        .queues(["cron"])
        .start()
        .unwrap();
    tokio::time::sleep(secs(21)).await;
    let end = now(&ork).await;
    worker.shutdown().await;
    let got = ticks(&ork, <every_five_seconds as Task>::OPTIONS.name).await;
    assert_eq!(got, multiples(t0, end, 5000));
    assert!(got.len() >= 4);
}

#[tokio::test(start_paused = true)]
async fn pools_without_a_scheduler_store_but_fire_nothing() {
    let ork = Ork::memory();
    let worker = ork
        .worker()
        .task::<each_second>()
        .queues(["every-second"])
        .scheduler(false)
        .start()
        .unwrap();
    tokio::time::sleep(secs(5)).await;
    worker.shutdown().await;
    let name = <each_second as Task>::OPTIONS.name;
    assert!(ticks(&ork, name).await.is_empty());
    assert_eq!(ork.schedules().await.unwrap()[0].name, name);
}

#[tokio::test(start_paused = true)]
async fn pause_resume_and_unschedule() {
    let ork = Ork::memory();
    ork.schedule("p", Schedule::every(secs(1)), noop::call())
        .await
        .unwrap();
    ork.schedule("u", Schedule::every(secs(1)), noop::call())
        .await
        .unwrap();
    let t0 = through(&ork, "p").await;
    let worker = ork
        .worker()
        .task::<noop>()
        .queues(["runs"])
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let paused_at = now(&ork).await;
    assert!(ork.pause("p").await.unwrap());
    assert!(ork.unschedule("u").await.unwrap());
    tokio::time::sleep(secs(5)).await;
    let resumed_at = now(&ork).await;
    assert!(ork.resume("p").await.unwrap());
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let end = now(&ork).await;
    worker.shutdown().await;

    let mut expected = multiples(t0, paused_at, 1000);
    expected.extend(multiples(resumed_at, end, 1000));
    assert_eq!(ticks(&ork, "p").await, expected);
    assert_eq!(ticks(&ork, "u").await, multiples(t0, paused_at, 1000));
    let names: Vec<String> = ork
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["p"]);
    assert!(!ork.pause("u").await.unwrap());
    assert!(!ork.resume("u").await.unwrap());
    assert!(!ork.unschedule("u").await.unwrap());
}

/// 2024-03-28T12:00:00Z, a Thursday.
const THURSDAY_NOON: u64 = 1_711_627_200_000;

#[tokio::test(start_paused = true)]
async fn listing_shows_next_fire_times_and_last_run() {
    let ork = Ork::with_backend(MemoryBackend::starting_at(THURSDAY_NOON));
    let digest = Schedule::cron("0 0 8 * * Mon-Fri")
        .unwrap()
        .tz("Europe/Paris")
        .missed(Missed::Skip);
    ork.schedule("digest", digest.clone(), noop::call())
        .await
        .unwrap();
    ork.schedule(
        "minutely",
        Schedule::every(secs(60)),
        noop::call().queue("elsewhere"),
    )
    .await
    .unwrap();
    let list = ork.schedules().await.unwrap();
    assert_eq!(list.len(), 2);
    let d = &list[0];
    assert_eq!(d.name, "digest");
    assert_eq!(d.schedule, digest);
    assert_eq!(
        d.schedule.to_string(),
        "cron `0 0 8 * * Mon-Fri` in Europe/Paris"
    );
    assert_eq!(d.task, <noop as Task>::OPTIONS.name);
    assert_eq!(d.queue, "runs");
    assert!(!d.paused);
    assert_eq!(d.last_run, None);
    let hour = 3_600_000;
    assert_eq!(
        d.next_ms,
        [
            THURSDAY_NOON + 19 * hour,                 // Fri 08:00 CET
            THURSDAY_NOON + 3 * 24 * hour + 18 * hour, // Mon 08:00 CEST
            THURSDAY_NOON + 4 * 24 * hour + 18 * hour,
        ]
    );
    assert_eq!(list[1].queue, "elsewhere");

    let worker = ork
        .worker()
        .task::<noop>()
        .queues(["runs", "elsewhere"])
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(125_000)).await;
    worker.shutdown().await;
    let m = ork
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "minutely")
        .unwrap();
    let last = THURSDAY_NOON + 120_000;
    let run = m.last_run.expect("a tick was fired");
    assert_eq!(run.tick_ms, last);
    assert_eq!(run.job, ork::schedule::tick_job_id("minutely", last));
    assert_eq!(run.state, Some(JobState::Succeeded));
    assert_eq!(m.next_ms, [last + 60_000, last + 120_000, last + 180_000]);

    ork.pause("digest").await.unwrap();
    let d = ork.schedules().await.unwrap().remove(0);
    assert!(d.paused);
    assert!(d.next_ms.is_empty());
}

/// Three schedules, one per policy, every 10 s with 2 s of grace; the only
/// scheduler stops for a minute. Returns, per schedule, the ticks before the
/// stop, (processed-through at the stop, restart instant), and all ticks.
#[tokio::test(start_paused = true)]
async fn missed_ticks_follow_each_policy() {
    let ork = Ork::memory();
    let policies = [
        ("skip", Missed::Skip),
        ("once", Missed::FireOnce),
        ("three", Missed::CatchUp(3)),
        ("all", Missed::CatchUp(1000)),
    ];
    for (name, policy) in policies {
        let s = Schedule::every(secs(10)).missed(policy).grace(secs(2));
        ork.schedule(name, s, noop::call()).await.unwrap();
    }
    let t0 = through(&ork, "skip").await;
    let worker = ork
        .worker()
        .task::<noop>()
        .queues(["runs"])
        .start()
        .unwrap();
    tokio::time::sleep(secs(25)).await;
    worker.shutdown().await;
    let stopped = through(&ork, "skip").await;
    // Every scheduler is down for a minute.
    tokio::time::sleep(secs(60)).await;
    let restart = now(&ork).await;
    let worker = ork
        .worker()
        .task::<noop>()
        .queues(["runs"])
        .start()
        .unwrap();
    tokio::time::sleep(secs(21)).await;
    let end = now(&ork).await;
    worker.shutdown().await;

    let late = multiples(stopped, restart - 2000, 10_000);
    assert!(late.len() >= 5, "{late:?}");
    let on_time = multiples(restart - 2000, end, 10_000);
    for (name, policy) in policies {
        let picked: &[u64] = match policy {
            Missed::Skip => &[],
            Missed::FireOnce => &late[late.len() - 1..],
            Missed::CatchUp(3) => &late[late.len() - 3..],
            _ => &late,
        };
        let mut expected = multiples(t0, stopped, 10_000);
        expected.extend_from_slice(picked);
        expected.extend(&on_time);
        assert_eq!(ticks(&ork, name).await, expected, "policy {policy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_tick_is_skipped_while_the_previous_run_is_unfinished() {
    let ork = Ork::memory();
    let spans = Arc::new(Spans::default());
    let every = Schedule::every(secs(1));
    ork.schedule(
        "exclusive",
        every.clone().skip_if_running(true),
        slow::call(),
    )
    .await
    .unwrap();
    ork.schedule("overlapping", every, slow::call())
        .await
        .unwrap();
    let t0 = through(&ork, "exclusive").await;
    let worker = ork
        .worker()
        .task::<slow>()
        .queues(["slow"])
        .concurrency(16)
        .state(spans.clone())
        .start()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let end = now(&ork).await;
    worker.shutdown().await;

    // Each run takes 2.5 s: the ticks during a run are skipped.
    let first = multiples(t0, end, 1000)[0];
    let exclusive = ticks(&ork, "exclusive").await;
    assert_eq!(exclusive, [first, first + 3000, first + 6000, first + 9000]);
    let overlapping = ticks(&ork, "overlapping").await;
    assert_eq!(overlapping, multiples(t0, end, 1000));
    assert_eq!(spans.0.lock().unwrap().len(), 4 + overlapping.len());
}

#[tokio::test(start_paused = true)]
async fn two_pools_fire_each_tick_once() {
    let ork = Ork::memory();
    let runs = Arc::new(Runs::default());
    ork.schedule("shared", Schedule::every(secs(1)), counted::call())
        .await
        .unwrap();
    let t0 = through(&ork, "shared").await;
    let pools: Vec<_> = (0..2)
        .map(|_| {
            ork.worker()
                .task::<counted>()
                .queues(["counted"])
                .state(runs.clone())
                .start()
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let end = now(&ork).await;
    // Both at once: on the paused clock, time jumps ahead while one pool
    // waits for its lease thread, and the other would fire the next tick.
    let mut pools = pools.into_iter();
    let (a, b) = (pools.next().unwrap(), pools.next().unwrap());
    tokio::join!(a.shutdown(), b.shutdown());
    let expected = multiples(t0, end, 1000);
    assert_eq!(ticks(&ork, "shared").await, expected);
    assert_eq!(runs.0.load(Ordering::SeqCst), expected.len());
}

#[tokio::test(start_paused = true)]
async fn racing_schedulers_split_the_ticks() {
    let ork = Ork::memory();
    ork.schedule("raced", Schedule::every(secs(1)), noop::call())
        .await
        .unwrap();
    let t0 = through(&ork, "raced").await;
    let (a, b) = (ork.scheduler(), ork.scheduler());
    let mut fired = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(secs(1)).await;
        let (ra, rb) = tokio::join!(a.round(), b.round());
        for round in [ra.unwrap(), rb.unwrap()] {
            for f in round.fired {
                fired.extend(f.ticks);
            }
        }
    }
    let end = now(&ork).await;
    fired.sort_unstable();
    // Every tick was fired by exactly one of them.
    assert_eq!(fired, multiples(t0, end, 1000));
    assert_eq!(ticks(&ork, "raced").await, fired);
}

#[tokio::test(start_paused = true)]
async fn wrong_local_clocks_change_nothing() {
    let ork = Ork::memory();
    let runs = Arc::new(Runs::default());
    ork.schedule("skewed", Schedule::every(secs(1)), counted::call())
        .await
        .unwrap();
    let t0 = through(&ork, "skewed").await;
    let pools: Vec<_> = [30_000, -30_000]
        .into_iter()
        .map(|offset| {
            ork.worker()
                .task::<counted>()
                .queues(["counted"])
                .state(runs.clone())
                .scheduler_clock(Arc::new(OffsetClock::new(offset)))
                .start()
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20_500)).await;
    let end = now(&ork).await;
    for p in pools {
        p.shutdown().await;
    }
    let expected = multiples(t0, end, 1000);
    assert_eq!(ticks(&ork, "skewed").await, expected);
    assert_eq!(runs.0.load(Ordering::SeqCst), expected.len());
}

/// Unix ms of a UTC wall time.
fn utc(y: i64, m: u32, d: u32, h: u64, min: u64) -> u64 {
    let (y, mp) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::from(mp) + 2) / 5 + i64::from(d) - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (days as u64 * 86_400 + h * 3600 + min * 60) * 1000
}

/// Fires the ticks of `schedule` from `start` until `end` (Unix ms), with
/// one scheduler round at each next tick, on the paused clock.
async fn fire_between(schedule: Schedule, start: u64, end: u64) -> Vec<u64> {
    let ork = Ork::with_backend(MemoryBackend::starting_at(start));
    ork.schedule("dst", schedule, noop::call()).await.unwrap();
    let scheduler = ork.scheduler();
    let mut fired = Vec::new();
    loop {
        let round = scheduler.round().await.unwrap();
        fired.extend(round.fired.into_iter().flat_map(|f| f.ticks));
        match round.next_ms {
            Some(next) if next <= end => {
                tokio::time::advance(Duration::from_millis(next - round.now_ms)).await;
            }
            _ => break,
        }
    }
    assert_eq!(ticks(&ork, "dst").await, fired);
    fired
}

#[tokio::test(start_paused = true)]
async fn daylight_saving_time_neither_invents_nor_repeats_ticks() {
    let at_half_past_two = || {
        Schedule::cron("0 30 2 * * *")
            .unwrap()
            .tz("Europe/Paris")
            .missed(Missed::Skip)
    };
    // Spring forward, 2024-03-31: 02:00 CET becomes 03:00 CEST.
    let spring = fire_between(
        at_half_past_two(),
        utc(2024, 3, 29, 12, 0),
        utc(2024, 4, 2, 12, 0),
    )
    .await;
    assert_eq!(
        spring,
        [
            utc(2024, 3, 30, 1, 30), // 02:30 CET
            utc(2024, 4, 1, 0, 30),  // 02:30 CEST; none on the 31st
            utc(2024, 4, 2, 0, 30),
        ]
    );
    // Fall back, 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:30 comes twice.
    let fall = fire_between(
        at_half_past_two(),
        utc(2024, 10, 25, 12, 0),
        utc(2024, 10, 29, 12, 0),
    )
    .await;
    assert_eq!(
        fall,
        [
            utc(2024, 10, 26, 0, 30), // 02:30 CEST
            utc(2024, 10, 27, 0, 30), // the first 02:30 only
            utc(2024, 10, 28, 1, 30), // 02:30 CET
            utc(2024, 10, 29, 1, 30),
        ]
    );
    // New York falls back at 02:00 EDT on 2024-11-03: 01:30 comes twice.
    let ny = Schedule::cron("0 30 1 * * *")
        .unwrap()
        .tz("America/New_York");
    assert_eq!(
        ny.upcoming_ms(utc(2024, 11, 2, 12, 0), 3),
        [
            utc(2024, 11, 3, 5, 30), // 01:30 EDT, once
            utc(2024, 11, 4, 6, 30), // 01:30 EST
            utc(2024, 11, 5, 6, 30),
        ]
    );
    // The next-fire computation on its own.
    let paris = at_half_past_two();
    assert_eq!(
        paris.next_after_ms(utc(2024, 3, 30, 1, 30)),
        Some(utc(2024, 4, 1, 0, 30))
    );
    assert_eq!(
        paris.next_after_ms(utc(2024, 10, 27, 0, 30)),
        Some(utc(2024, 10, 28, 1, 30))
    );
    // Inside the repeated hour (02:10 CET, second pass): not due again today.
    assert_eq!(
        paris.next_after_ms(utc(2024, 10, 27, 1, 10)),
        Some(utc(2024, 10, 28, 1, 30))
    );
    // Every half hour through the repeated hour: both passes are real time.
    let half_hourly = Schedule::cron("0 0,30 * * * *").unwrap().tz("Europe/Paris");
    assert_eq!(
        half_hourly.upcoming_ms(utc(2024, 10, 27, 0, 0), 4),
        [
            utc(2024, 10, 27, 0, 30),
            utc(2024, 10, 27, 1, 0),
            utc(2024, 10, 27, 1, 30),
            utc(2024, 10, 27, 2, 0),
        ]
    );
}

#[tokio::test]
async fn bad_schedules_are_refused() {
    let ork = Ork::memory();
    let err = Schedule::cron("*/5 * * * *").unwrap_err();
    assert!(err.to_string().contains("seconds"), "{err}");
    let bad_zone = Schedule::cron("0 0 * * * *").unwrap().tz("Mars/Olympus");
    let err = ork.schedule("x", bad_zone, noop::call()).await.unwrap_err();
    assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    let too_fast = Schedule::every(Duration::from_millis(10));
    assert!(ork.schedule("x", too_fast, noop::call()).await.is_err());
    let every = Schedule::every(secs(1));
    assert!(ork
        .schedule("with space", every.clone(), noop::call())
        .await
        .is_err());
    assert!(ork.schedule("", every, noop::call()).await.is_err());
    assert!(ork.schedules().await.unwrap().is_empty());
}

/// A periodic task written by hand (the attribute would refuse these
/// options at compile time), for `Worker::start`'s own check.
struct HandWritten<const EVERY_MS: u64>;

impl<const EVERY_MS: u64> Task for HandWritten<EVERY_MS> {
    type Args = ();
    type Output = ();
    const OPTIONS: ork::TaskOptions = if EVERY_MS == 0 {
        ork::TaskOptions::new("bad_cron").cron("0 99 * * * *")
    } else {
        ork::TaskOptions::new("too_often").every(Duration::from_millis(EVERY_MS))
    };
    fn run(_: Context, _: ()) -> ork::backend::BoxFuture<'static, Result<(), ork::TaskError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn start_refuses_a_periodic_task_it_cant_schedule() {
    let ork = Ork::memory();
    let err = ork.worker().task::<HandWritten<0>>().start().unwrap_err();
    assert!(matches!(err, ork::Error::Invalid(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid input: periodic task `bad_cron` can't be scheduled: cron expression `0 99 * * * *`: bad minute field `99`: 99 is out of range 0-59"
    );
    let err = ork.worker().task::<HandWritten<10>>().start().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: periodic task `too_often` can't be scheduled: an interval of 10ms is too short: at least 100ms"
    );
    // Nothing was started, so nothing was stored.
    assert!(ork.schedules().await.unwrap().is_empty());
    // A good one still starts.
    let worker = ork.worker().task::<HandWritten<1000>>().start().unwrap();
    worker.shutdown().await;
}

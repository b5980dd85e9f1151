//! The store contract, run against both backends: SQLite (embedded) and PostgreSQL (the server
//! `make test` starts), over a small fixture catalogue of its own.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use couple_common::{
    db::PoolSettings,
    test_util::{Backend, TestDatabase},
};
use rstest::rstest;
use schedule_meeting::{
    domain::LatLon,
    places::{CataloguePlace, Category},
    store::{
        self, FeedRecord, InstantRange, MeetingPatch, MeetingRecord, MeetingUpdate, NewMeeting, PlaceFilter, RatingKey, SchedulePatch,
        ScheduleRecord, Store, StoreError,
    },
};
use uuid::Uuid;

/// A migrated, empty store over a throwaway database on `backend`.
async fn open(backend: Backend) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let db = TestDatabase::create(backend).await?;
    let store = store::connect(db.url(), PoolSettings::default()).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

/// A migrated store with the fixture catalogue loaded.
async fn loaded(backend: Backend) -> Option<(Arc<dyn Store>, TestDatabase)> {
    let (store, db) = open(backend).await?;
    store.load_places(&fixture()).await.unwrap();
    Some((store, db))
}

#[allow(clippy::too_many_arguments)]
fn place(slug: &str, name: &str, name_en: &str, category: Category, rating: f64, lat: f64, lon: f64, indoor: bool) -> CataloguePlace {
    CataloguePlace {
        slug: slug.into(),
        name: name.into(),
        name_en: name_en.into(),
        city: if lat < 34.0 {
            "Jeju"
        } else if lat < 36.0 {
            "Busan"
        } else {
            "Seoul"
        }
        .into(),
        address: format!("{name} 주소"),
        category,
        rating,
        latitude: lat,
        longitude: lon,
        indoor,
        keywords: vec!["야경".into(), "night view".into()],
        profile: [("indoor_outdoor".to_owned(), if indoor { -0.8 } else { 0.8 })].into(),
    }
}

/// Six places: two towers with the same rating (the name breaks the tie), names with `%` and `_`,
/// and places in Busan and Jeju far from Seoul.
fn fixture() -> Vec<CataloguePlace> {
    vec![
        place("tower", "N서울타워", "N Seoul Tower", Category::NightView, 4.5, 37.5512, 126.9882, false),
        place("palace", "경복궁", "Gyeongbokgung Palace", Category::Walk, 4.6, 37.5796, 126.9770, false),
        place("museum", "국립중앙박물관", "National Museum of Korea", Category::Museum, 4.7, 37.5240, 126.9803, true),
        place("lotte", "롯데월드타워", "Lotte World Tower", Category::NightView, 4.5, 37.5126, 127.1025, true),
        place("percent", "100% 카페", "100% Cafe", Category::Cafe, 4.0, 35.1587, 129.1604, true),
        place("snake", "스네이크 바", "Snake_Case Bar", Category::Bar, 3.9, 33.4996, 126.5312, true),
    ]
}

fn id(slug: &str) -> Uuid {
    schedule_meeting::places::place_id(slug)
}

fn slugs(places: &[store::PlaceRecord]) -> Vec<String> {
    places.iter().map(|p| p.slug.clone()).collect()
}

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, day, hour, 0, 0).unwrap()
}

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, n).unwrap()
}

fn time(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
}

/// How many rows `sql` counts, straight from the database.
async fn count(db: &TestDatabase, sql: &str) -> i64 {
    if db.url().starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

#[rstest]
#[tokio::test]
async fn places_load_idempotently_update_and_keep_what_is_no_longer_shipped(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, db)) = loaded(backend).await else { return };
    store.load_places(&fixture()).await.unwrap();
    let ids: Vec<Uuid> = fixture().iter().map(CataloguePlace::id).collect();
    assert_eq!(store.places_by_ids(&ids).await.unwrap().len(), 6, "loading twice changes nothing");
    let tower = store.place(id("tower")).await.unwrap().unwrap();
    assert_eq!(
        (tower.name.as_str(), tower.name_en.as_str(), tower.category, tower.rating),
        ("N서울타워", "N Seoul Tower", Category::NightView, 4.5)
    );
    assert_eq!((tower.city.as_str(), tower.indoor, tower.keywords.clone()), ("Seoul", false, vec!["야경".to_owned(), "night view".into()]));
    assert_eq!((tower.latitude, tower.longitude), (37.5512, 126.9882));
    // An edited catalogue updates what changed and keeps the place it dropped.
    let mut edited: Vec<CataloguePlace> = fixture().into_iter().filter(|p| p.slug != "palace").collect();
    edited[0].rating = 4.9;
    edited[0].name_en = "Namsan Tower".into();
    store.load_places(&edited).await.unwrap();
    let tower = store.place(id("tower")).await.unwrap().unwrap();
    assert_eq!((tower.rating, tower.name_en.as_str()), (4.9, "Namsan Tower"));
    assert!(store.place(id("palace")).await.unwrap().is_some(), "meetings may still name it");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM places").await, 6);
    let found = store.search_places(&PlaceFilter { text: Some("namsan".into()), category: None }, None, 10).await.unwrap();
    assert_eq!(slugs(&found), ["tower"], "the search text follows the names");
    assert_eq!(store.place(Uuid::now_v7()).await.unwrap(), None);
}

#[rstest]
#[tokio::test]
async fn place_search_matches_either_name_in_any_case_and_takes_wildcards_literally(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, _db)) = loaded(backend).await else { return };
    let search = |text: &str, category: Option<Category>| {
        let (store, filter) = (store.clone(), PlaceFilter { text: Some(text.to_owned()).filter(|t| !t.is_empty()), category });
        async move { slugs(&store.search_places(&filter, None, 50).await.unwrap()) }
    };
    // Equal ratings: names by code point, so the Latin N before the Hangul.
    assert_eq!(search("타워", None).await, ["tower", "lotte"]);
    assert_eq!(search("TOWER", None).await, ["tower", "lotte"]);
    assert_eq!(search("seoul tower", None).await, ["tower"]);
    assert_eq!(search("%", None).await, ["percent"]);
    assert_eq!(search("100%", None).await, ["percent"]);
    assert_eq!(search("_", None).await, ["snake"]);
    assert_eq!(search("\\", None).await, Vec::<String>::new());
    assert_eq!(search("", Some(Category::NightView)).await, ["tower", "lotte"]);
    assert_eq!(search("lotte", Some(Category::NightView)).await, ["lotte"]);
    assert_eq!(search("lotte", Some(Category::Cafe)).await, Vec::<String>::new());
    let everything = search("", None).await;
    assert_eq!(everything, ["museum", "palace", "tower", "lotte", "percent", "snake"], "best rated first");
    // Paging by the last key visits each once, in the same order.
    let (mut paged, mut after) = (Vec::new(), None::<RatingKey>);
    loop {
        let page = store.search_places(&PlaceFilter::default(), after.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.into());
        paged.extend(slugs(&page));
    }
    assert_eq!(paged, everything);
}

#[rstest]
#[tokio::test]
async fn places_within_a_box_are_those_inside_it(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = loaded(backend).await else { return };
    let tower = LatLon::new(37.5512, 126.9882).unwrap();
    let mut near = slugs(&store.places_within(&PlaceFilter::default(), &tower.bounding_box(5.0)).await.unwrap());
    near.sort();
    assert_eq!(near, ["museum", "palace", "tower"], "Lotte World Tower is 10 km away");
    let walks = PlaceFilter { text: None, category: Some(Category::Walk) };
    assert_eq!(slugs(&store.places_within(&walks, &tower.bounding_box(5.0)).await.unwrap()), ["palace"]);
    let towers = PlaceFilter { text: Some("tower".into()), category: None };
    let mut wide = slugs(&store.places_within(&towers, &tower.bounding_box(20.0)).await.unwrap());
    wide.sort();
    assert_eq!(wide, ["lotte", "tower"]);
    let jeju = LatLon::new(33.4996, 126.5312).unwrap();
    assert_eq!(slugs(&store.places_within(&PlaceFilter::default(), &jeju.bounding_box(1.0)).await.unwrap()), ["snake"]);
}

fn schedule(couple_id: Uuid, name: &str, date_time: DateTime<Utc>) -> ScheduleRecord {
    ScheduleRecord {
        id: Uuid::now_v7(),
        couple_id,
        name: name.into(),
        message: String::new(),
        date_time,
        created_by: Uuid::now_v7(),
        created_at: at(1, 0),
        updated_at: at(1, 0),
    }
}

#[rstest]
#[tokio::test]
async fn schedules_are_kept_per_couple_in_time_order_by_range_and_page(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    // Written out of order; two at the same instant (their ids break the tie).
    let times = [at(5, 9), at(2, 9), at(3, 12), at(3, 12), at(1, 15) + Duration::microseconds(123_456)];
    let mut written = Vec::new();
    for (i, t) in times.iter().enumerate() {
        let s = schedule(ours, &format!("s{i}"), *t);
        store.create_schedule(&s).await.unwrap();
        written.push(s);
    }
    let other = schedule(theirs, "theirs", at(3, 0));
    store.create_schedule(&other).await.unwrap();
    written.sort_by_key(|s| (s.date_time, s.id));

    let all = store.schedules(ours, InstantRange::default(), None, 100).await.unwrap();
    assert_eq!(all, written, "by instant then id, read back exactly (microseconds too), without the other couple's");
    assert_eq!(store.schedule(ours, other.id).await.unwrap(), None, "another couple's is not found");
    assert_eq!(store.schedule(theirs, other.id).await.unwrap(), Some(other.clone()));
    // Half-open ranges: from is kept, to is not.
    let range = InstantRange { from: Some(at(2, 9)), to: Some(at(5, 9)) };
    let ranged = store.schedules(ours, range, None, 100).await.unwrap();
    assert_eq!(ranged, written[1..4]);
    assert_eq!(store.schedules_between(ours, at(2, 9), at(5, 9)).await.unwrap(), written[1..4]);
    assert_eq!(store.schedules(ours, InstantRange { from: Some(at(3, 13)), to: None }, None, 100).await.unwrap(), written[4..]);
    // Pages continue after the last key, across the tie.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.schedules(ours, InstantRange::default(), after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.date_time, last.id));
        paged.extend(page);
    }
    assert_eq!(paged, written);

    let target = written[0].clone();
    let later = at(1, 20);
    let patch = SchedulePatch { message: Some("bring flowers".into()), ..Default::default() };
    assert_eq!(store.update_schedule(theirs, target.id, &patch, later).await.unwrap(), None, "not across couples");
    let updated = store.update_schedule(ours, target.id, &patch, later).await.unwrap().unwrap();
    assert_eq!(
        updated,
        ScheduleRecord { message: "bring flowers".into(), updated_at: later, ..target.clone() },
        "only what the patch gives"
    );
    let moved = SchedulePatch { name: Some("moved".into()), date_time: Some(at(9, 9)), message: None };
    let updated = store.update_schedule(ours, target.id, &moved, later).await.unwrap().unwrap();
    assert_eq!((updated.name.as_str(), updated.date_time, updated.message.as_str()), ("moved", at(9, 9), "bring flowers"));

    assert!(!store.delete_schedule(theirs, target.id).await.unwrap());
    assert!(store.delete_schedule(ours, target.id).await.unwrap());
    assert!(!store.delete_schedule(ours, target.id).await.unwrap());
    assert_eq!(store.schedule(ours, target.id).await.unwrap(), None);
}

fn new_meeting(couple_id: Uuid, date: NaiveDate, start: NaiveTime, course: &[&str]) -> NewMeeting {
    NewMeeting {
        id: Uuid::now_v7(),
        couple_id,
        name: "date".into(),
        date,
        start_time: start,
        end_time: time(22, 0),
        keywords: vec!["야경".into(), "walk".into()],
        place_ids: course.iter().map(|slug| id(slug)).collect(),
        created_by: Uuid::now_v7(),
        now: at(1, 0),
    }
}

fn course(meeting: &MeetingRecord) -> Vec<(u32, String)> {
    meeting.places.iter().map(|stop| (stop.sequence, stop.place.slug.clone())).collect()
}

#[rstest]
#[tokio::test]
async fn meetings_keep_their_course_in_order_and_stay_within_the_couple(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, db)) = loaded(backend).await else { return };
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let new = new_meeting(ours, day(24), time(17, 0), &["tower", "palace", "tower"]);
    let created = store.create_meeting(&new).await.unwrap();
    assert_eq!(course(&created), [(1, "tower".into()), (2, "palace".into()), (3, "tower".into())]);
    assert_eq!((created.start_time, created.end_time, created.keywords.clone()), (time(17, 0), time(22, 0), new.keywords.clone()));
    assert_eq!((created.created_at, created.updated_at, created.created_by), (new.now, new.now, new.created_by));
    assert_eq!(created.places[1].place.name, "경복궁");
    assert_eq!(store.meeting(ours, new.id).await.unwrap(), Some(created.clone()));
    assert_eq!(store.meeting(theirs, new.id).await.unwrap(), None);

    // The start must stay before the end, against the stored times too; nothing changes otherwise.
    let later = at(2, 0);
    let late_start = MeetingPatch { start_time: Some(time(22, 0)), name: Some("renamed".into()), ..Default::default() };
    assert_eq!(store.update_meeting(ours, new.id, &late_start, later).await.unwrap(), MeetingUpdate::TimesOutOfOrder);
    assert_eq!(store.meeting(ours, new.id).await.unwrap(), Some(created.clone()));
    let patch = MeetingPatch { end_time: Some(time(23, 30)), place_ids: Some(vec![id("museum"), id("lotte")]), ..Default::default() };
    assert_eq!(store.update_meeting(theirs, new.id, &patch, later).await.unwrap(), MeetingUpdate::NotFound);
    let MeetingUpdate::Updated(updated) = store.update_meeting(ours, new.id, &patch, later).await.unwrap() else { panic!("updated") };
    assert_eq!(course(&updated), [(1, "museum".into()), (2, "lotte".into())], "the course is replaced whole");
    assert_eq!(
        (updated.end_time, updated.start_time, updated.name.as_str(), updated.updated_at),
        (time(23, 30), time(17, 0), "date", later)
    );
    let keywords = MeetingPatch { keywords: Some(vec![]), date: Some(day(25)), ..Default::default() };
    let MeetingUpdate::Updated(updated) = store.update_meeting(ours, new.id, &keywords, later).await.unwrap() else { panic!("updated") };
    assert_eq!((updated.keywords.len(), updated.date, course(&updated).len()), (0, day(25), 2), "a course not given is kept");

    assert!(!store.delete_meeting(theirs, new.id).await.unwrap());
    assert!(store.delete_meeting(ours, new.id).await.unwrap());
    assert_eq!(store.meeting(ours, new.id).await.unwrap(), None);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM meeting_places").await, 0, "the course goes with it");
}

#[rstest]
#[tokio::test]
async fn meetings_list_by_date_and_start_time_in_ranges_and_pages(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = loaded(backend).await else { return };
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let mut written = Vec::new();
    for (date, start) in [(day(5), time(10, 0)), (day(3), time(18, 0)), (day(3), time(9, 30)), (day(3), time(9, 30)), (day(9), time(0, 0))]
    {
        written.push(store.create_meeting(&new_meeting(ours, date, start, &["tower", "palace"])).await.unwrap());
    }
    store.create_meeting(&new_meeting(theirs, day(3), time(8, 0), &["museum"])).await.unwrap();
    written.sort_by_key(|m| (m.date, m.start_time, m.id));
    assert_eq!(store.meetings(ours, None, None, None, 100).await.unwrap(), written);
    assert_eq!(store.meetings(ours, Some(day(3)), Some(day(5)), None, 100).await.unwrap(), written[..4], "both ends kept");
    assert_eq!(store.meetings_between(ours, day(4), day(9)).await.unwrap(), written[3..]);
    assert_eq!(store.meetings(ours, Some(day(6)), None, None, 100).await.unwrap(), written[4..]);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.meetings(ours, None, None, after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.date, last.start_time, last.id));
        paged.extend(page);
    }
    assert_eq!(paged, written);
}

#[rstest]
#[tokio::test]
async fn recent_meeting_places_are_those_of_the_last_meetings_up_to_a_day(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = loaded(backend).await else { return };
    let (ours, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    for (date, places) in
        [(day(1), vec!["tower", "palace"]), (day(5), vec!["museum", "tower"]), (day(10), vec!["lotte"]), (day(20), vec!["percent"])]
    {
        store.create_meeting(&new_meeting(ours, date, time(12, 0), &places)).await.unwrap();
    }
    store.create_meeting(&new_meeting(theirs, day(9), time(12, 0), &["snake"])).await.unwrap();
    let recent = |n| {
        let store = store.clone();
        async move { store.recent_meeting_place_ids(ours, day(10), n).await.unwrap() }
    };
    assert_eq!(recent(2).await, [id("lotte"), id("museum"), id("tower")], "latest first, each once, none from after the day");
    assert_eq!(recent(3).await, [id("lotte"), id("museum"), id("tower"), id("palace")]);
    assert_eq!(recent(0).await, Vec::<Uuid>::new());
    assert_eq!(store.recent_meeting_place_ids(Uuid::now_v7(), day(10), 3).await.unwrap(), Vec::<Uuid>::new());
}

fn feed(couple_id: Uuid, created_by: Uuid, minute: i64) -> FeedRecord {
    FeedRecord {
        id: Uuid::now_v7(),
        couple_id,
        secret: Uuid::new_v4().simple().to_string(),
        created_by,
        created_at: at(1, 0) + Duration::minutes(minute),
        revoked_at: None,
    }
}

#[rstest]
#[tokio::test]
async fn feeds_are_listed_revoked_and_found_by_secret_while_active(#[values(Backend::Sqlite, Backend::Postgres)] backend: Backend) {
    let Some((store, _db)) = open(backend).await else { return };
    let (ours, theirs, me, partner) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let (mine, partners, other) = (feed(ours, me, 0), feed(ours, partner, 1), feed(theirs, Uuid::now_v7(), 2));
    for f in [&mine, &partners, &other] {
        store.create_feed(f).await.unwrap();
    }
    let clash = FeedRecord { id: Uuid::now_v7(), ..other.clone() };
    assert!(matches!(store.create_feed(&clash).await, Err(StoreError::Conflict)), "secrets are unique");
    assert_eq!(store.active_feeds(ours).await.unwrap(), [mine.clone(), partners.clone()]);
    assert_eq!(store.feed_by_secret(&mine.secret).await.unwrap(), Some(mine.clone()));
    assert!(!store.revoke_feed(theirs, mine.id, at(2, 0)).await.unwrap(), "not across couples");
    assert!(store.revoke_feed(ours, mine.id, at(2, 0)).await.unwrap());
    assert!(!store.revoke_feed(ours, mine.id, at(3, 0)).await.unwrap(), "once");
    assert_eq!(store.feed_by_secret(&mine.secret).await.unwrap(), None, "a revoked secret opens nothing");
    assert_eq!(store.feed_by_secret("unknown").await.unwrap(), None);
    assert_eq!(store.active_feeds(ours).await.unwrap(), std::slice::from_ref(&partners));
    assert_eq!(store.revoke_feeds_created_by(partner, at(2, 0)).await.unwrap(), 1);
    assert_eq!(store.revoke_feeds_created_by(partner, at(2, 0)).await.unwrap(), 0);
    assert!(store.active_feeds(ours).await.unwrap().is_empty());
    assert_eq!(store.active_feeds(theirs).await.unwrap(), [other]);
}

#[rstest]
#[tokio::test]
async fn erasing_a_user_stops_their_feeds_and_erasing_a_couple_deletes_all_of_it(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some((store, db)) = loaded(backend).await else { return };
    let (ours, theirs, me, partner) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let kept = schedule(ours, "ours", at(3, 0));
    store.create_schedule(&ScheduleRecord { created_by: me, ..kept.clone() }).await.unwrap();
    let meeting = store.create_meeting(&NewMeeting { created_by: me, ..new_meeting(ours, day(3), time(12, 0), &["tower"]) }).await.unwrap();
    let (mine, partners) = (feed(ours, me, 0), feed(ours, partner, 1));
    store.create_feed(&mine).await.unwrap();
    store.create_feed(&partners).await.unwrap();
    let other_schedule = schedule(theirs, "theirs", at(3, 0));
    store.create_schedule(&other_schedule).await.unwrap();
    let other_meeting = store.create_meeting(&new_meeting(theirs, day(3), time(12, 0), &["museum"])).await.unwrap();
    let other_feed = feed(theirs, Uuid::now_v7(), 2);
    store.create_feed(&other_feed).await.unwrap();

    for _ in 0..2 {
        store.erase_user(me, at(4, 0)).await.unwrap();
    }
    assert_eq!(store.active_feeds(ours).await.unwrap(), std::slice::from_ref(&partners), "only the user's own feeds stop");
    assert!(store.schedule(ours, kept.id).await.unwrap().is_some(), "the couple's schedules stay");
    assert!(store.meeting(ours, meeting.id).await.unwrap().is_some(), "and its meetings");

    for _ in 0..2 {
        store.erase_couple(ours).await.unwrap();
    }
    assert!(store.schedules(ours, InstantRange::default(), None, 10).await.unwrap().is_empty());
    assert!(store.meetings(ours, None, None, None, 10).await.unwrap().is_empty());
    assert!(store.active_feeds(ours).await.unwrap().is_empty());
    assert_eq!(store.feed_by_secret(&partners.secret).await.unwrap(), None);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM calendar_feeds").await, 1, "the couple's feed rows are gone, revoked ones too");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM meeting_places").await, 1, "only the other couple's course is left");
    assert_eq!(store.schedule(theirs, other_schedule.id).await.unwrap(), Some(other_schedule));
    assert_eq!(store.meeting(theirs, other_meeting.id).await.unwrap(), Some(other_meeting));
    assert_eq!(store.active_feeds(theirs).await.unwrap(), [other_feed]);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM places").await, 6, "the catalogue is nobody's data");
}

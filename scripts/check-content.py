#!/usr/bin/env python3
"""Checks the content shipped with the platform before it reaches a loader.

- services/common/data/traits.json: the trait space (exactly 50 traits vec1..vec50 in order,
  unique snake_case names, every end described in English and Korean).
- services/question-answer/seed/questions.json: the seed tags and questions (at least 12 tags
  each used by at least 5 questions, at least 120 questions with unique keys and texts, 1 to 3
  tags with weights in (0, 1], deltas for both options over 1 to 4 known traits with values in
  [-1, 1], at least 40 traits covered).
- services/schedule-meeting/seed/places.json: the places catalogue (unique kebab-case slugs,
  unique Korean and Latin names, a city of Seoul, Busan or Jeju with coordinates inside that
  city's box, a known category, a rating in [0, 5], 3 to 8 keywords, a profile of 4 to 10 known
  trait names with values in [-1, 1] whose indoor_outdoor is negative exactly for indoor places,
  no two places of one category within 20 m). It also prints a summary per city and category.

The services' own tests validate the same files when they load them; this script is for authors,
so it lists every problem at once instead of stopping at the first. Overlong texts and an option
pushing a trait the same way as the other option are reported as warnings: the first is a
readability guideline, the second usually a sign error worth a second look.

Usage: scripts/check-content.py [--traits PATH] [--questions PATH] [--places PATH]
Exit status 0 when every file passes, 1 with the list of problems otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAITS_PATH = ROOT / "services/common/data/traits.json"
QUESTIONS_PATH = ROOT / "services/question-answer/seed/questions.json"
PLACES_PATH = ROOT / "services/schedule-meeting/seed/places.json"

TRAIT_COUNT = 50
TRAIT_TEXT_FIELDS = ("low", "high", "lowKo", "highKo")
MIN_QUESTIONS = 120
MIN_TAGS = 12
MIN_QUESTIONS_PER_TAG = 5
MIN_TRAITS_COVERED = 40
TAGS_PER_QUESTION = (1, 3)
DELTAS_PER_OPTION = (1, 4)
OPTIONS = ("1", "2")
# Guidelines, not rules: a phone screen shows these without wrapping.
MAX_QUESTION_CHARS = 60
MAX_OPTION_CHARS = 20

PLACE_FIELDS = {"slug", "name", "nameEn", "city", "address", "category", "rating", "latitude",
                "longitude", "indoor", "keywords", "profile"}
CATEGORIES = ("cafe", "restaurant", "park", "museum", "exhibition", "walk", "night_view",
              "activity", "shopping", "bar", "theater")
# (south, north, west, east): each city's administrative area with a little margin, so a swapped
# or mistyped coordinate lands outside.
CITY_BOXES = {
    "Seoul": (37.41, 37.72, 126.76, 127.19),
    "Busan": (34.87, 35.40, 128.76, 129.32),
    "Jeju": (33.10, 33.58, 126.14, 126.98),
}
KEYWORDS_PER_PLACE = (3, 8)
TRAITS_PER_PLACE = (4, 10)
MIN_TWIN_METRES = 20.0
# The recommender chains stops within walking distance; the summary lists places with no other
# place this close, which can only start or end a course.
WALKING_METRES = 1500.0
# Plausible map-app ratings; outside this range is allowed but worth a second look.
USUAL_RATINGS = (3.5, 4.9)

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
TAG_KEY = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
QUESTION_KEY = re.compile(r"^q\d{3,}$")
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
LATIN = re.compile(r"[A-Za-z]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


class Report:
    """Collects problems (which fail the check) and warnings (which do not)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def warning(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")


def load_json(path: Path, report: Report) -> Any:
    """Parses a UTF-8 JSON file indented with spaces in steps of two; None when unreadable."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        report.problem(str(path), f"cannot read: {err}")
        return None
    except UnicodeDecodeError as err:
        report.problem(str(path), f"not UTF-8: {err}")
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" "))
        if line.lstrip(" ").startswith("\t") or indent % 2:
            report.problem(f"{path.name}:{number}", "indent with spaces, two per level")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        report.problem(str(path), f"not valid JSON: {err}")
        return None


def non_empty_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalise(text: str) -> str:
    """The text without spaces and punctuation, so near-identical wordings compare equal."""
    return re.sub(r"[\s\W_]+", "", text).lower()


def check_traits(traits: Any, report: Report) -> set[str]:
    """Checks traits.json; returns the trait keys found, for the questions' deltas."""
    where = "traits.json"
    if not isinstance(traits, list):
        report.problem(where, "must be a JSON array of traits")
        return set()
    if len(traits) != TRAIT_COUNT:
        report.problem(where, f"has {len(traits)} traits, expected exactly {TRAIT_COUNT}")
    keys: set[str] = set()
    names: dict[str, str] = {}
    for index, trait in enumerate(traits):
        expected = f"vec{index + 1}"
        if not isinstance(trait, dict):
            report.problem(f"{where}[{index}]", "must be an object")
            continue
        at = f"{where} {trait.get('key', f'[{index}]')}"
        extra = set(trait) - {"key", "name", *TRAIT_TEXT_FIELDS}
        if extra:
            report.problem(at, f"unknown fields {sorted(extra)}")
        if trait.get("key") != expected:
            report.problem(at, f"key must be {expected!r} (keys in order vec1..vec{TRAIT_COUNT})")
        if isinstance(trait.get("key"), str):
            keys.add(trait["key"])
        name = trait.get("name")
        if not isinstance(name, str) or not SNAKE_CASE.match(name):
            report.problem(at, f"name {name!r} must be snake_case <low>_<high>")
        elif name in names:
            report.problem(at, f"name {name!r} already used by {names[name]}")
        else:
            names[name] = str(trait.get("key"))
        for field in TRAIT_TEXT_FIELDS:
            text = trait.get(field)
            if not non_empty_text(text):
                report.problem(at, f"{field} must be a non-empty string")
            elif field.endswith("Ko") and not HANGUL.search(text):
                report.problem(at, f"{field} must be Korean")
        if non_empty_text(trait.get("low")) and trait.get("low") == trait.get("high"):
            report.problem(at, "low and high describe the same end")
    return keys


def check_tags(tags: Any, report: Report) -> set[str]:
    where = "questions.json tags"
    if not isinstance(tags, list):
        report.problem(where, "must be an array")
        return set()
    if len(tags) < MIN_TAGS:
        report.problem(where, f"has {len(tags)} tags, expected at least {MIN_TAGS}")
    keys: set[str] = set()
    names: set[str] = set()
    for index, tag in enumerate(tags):
        at = f"{where}[{index}]"
        if not isinstance(tag, dict):
            report.problem(at, "must be an object")
            continue
        key, name = tag.get("key"), tag.get("name")
        if not isinstance(key, str) or not TAG_KEY.match(key):
            report.problem(at, f"key {key!r} must be snake_case English")
        elif key in keys:
            report.problem(at, f"key {key!r} is duplicated")
        else:
            keys.add(key)
        if not non_empty_text(name):
            report.problem(at, "name must be a non-empty string")
        elif not HANGUL.search(name):
            report.problem(at, f"name {name!r} must be Korean")
        elif name in names:
            report.problem(at, f"name {name!r} is duplicated")
        else:
            names.add(name)
    return keys


def check_question_tags(at: str, tags: Any, tag_keys: set[str], report: Report) -> list[str]:
    """Checks one question's tags; returns the tag keys it uses."""
    low, high = TAGS_PER_QUESTION
    if not isinstance(tags, list) or not low <= len(tags) <= high:
        report.problem(at, f"tags must be a list of {low} to {high} entries")
        return []
    used: list[str] = []
    for entry in tags:
        if not isinstance(entry, dict) or set(entry) != {"tag", "weight"}:
            report.problem(at, f"tag entry {entry!r} must be {{tag, weight}}")
            continue
        tag, weight = entry["tag"], entry["weight"]
        if tag not in tag_keys:
            report.problem(at, f"tag {tag!r} is not one of the tags")
        elif tag in used:
            report.problem(at, f"tag {tag!r} appears twice")
        else:
            used.append(tag)
        if not is_number(weight) or not 0 < weight <= 1:
            report.problem(at, f"weight {weight!r} of tag {tag!r} must be in (0, 1]")
    return used


def check_deltas(at: str, deltas: Any, trait_keys: set[str], report: Report) -> set[str]:
    """Checks one question's vectorDeltas; returns the traits it moves."""
    if not isinstance(deltas, dict) or set(deltas) != set(OPTIONS):
        report.problem(at, 'vectorDeltas must have exactly the options "1" and "2"')
        return set()
    moved: set[str] = set()
    low, high = DELTAS_PER_OPTION
    for option in OPTIONS:
        values = deltas[option]
        if not isinstance(values, dict) or not low <= len(values) <= high:
            report.problem(at, f"option {option} must move {low} to {high} traits")
            continue
        for key, value in values.items():
            if key not in trait_keys:
                report.problem(at, f"option {option}: {key!r} is not a trait key")
            if not is_number(value) or not -1 <= value <= 1:
                report.problem(at, f"option {option}: {key} = {value!r} must be in [-1, 1]")
            elif value == 0:
                report.problem(at, f"option {option}: {key} = 0 moves nothing")
            else:
                moved.add(key)
    one, two = deltas.get("1"), deltas.get("2")
    if isinstance(one, dict) and isinstance(two, dict):
        for key in one.keys() & two.keys():
            a, b = one[key], two[key]
            if is_number(a) and is_number(b) and a * b > 0:
                report.warning(at, f"both options push {key} the same way ({a} and {b})")
    return moved


def check_questions(data: Any, trait_keys: set[str], report: Report) -> None:
    if not isinstance(data, dict) or set(data) != {"tags", "questions"}:
        report.problem("questions.json", 'must be an object with "tags" and "questions"')
        return
    tag_keys = check_tags(data["tags"], report)
    questions = data["questions"]
    if not isinstance(questions, list):
        report.problem("questions.json questions", "must be an array")
        return
    if len(questions) < MIN_QUESTIONS:
        report.problem(
            "questions.json",
            f"has {len(questions)} questions, expected at least {MIN_QUESTIONS}",
        )
    fields = {"key", "question", "option1", "option2", "tags", "vectorDeltas"}
    keys: set[str] = set()
    texts: dict[str, str] = {}
    pairs: dict[tuple[str, str], str] = {}
    tag_uses = {key: 0 for key in tag_keys}
    covered: set[str] = set()
    for index, question in enumerate(questions):
        if not isinstance(question, dict):
            report.problem(f"questions[{index}]", "must be an object")
            continue
        key = question.get("key")
        at = f"question {key if isinstance(key, str) else f'[{index}]'}"
        if set(question) != fields:
            report.problem(at, f"fields must be exactly {sorted(fields)}")
        if not isinstance(key, str) or not QUESTION_KEY.match(key):
            report.problem(at, "key must look like q001")
        elif key in keys:
            report.problem(at, "key is duplicated")
        else:
            keys.add(key)
        for field, limit in (("question", MAX_QUESTION_CHARS), ("option1", MAX_OPTION_CHARS),
                             ("option2", MAX_OPTION_CHARS)):
            text = question.get(field)
            if not non_empty_text(text):
                report.problem(at, f"{field} must be a non-empty string")
            elif len(text) > limit:
                report.warning(at, f"{field} has {len(text)} characters (guideline {limit})")
        text, one, two = question.get("question"), question.get("option1"), question.get("option2")
        if non_empty_text(text):
            seen = texts.get(normalise(text))
            if seen:
                report.problem(at, f"question text repeats {seen}")
            texts.setdefault(normalise(text), str(key))
        if non_empty_text(one) and non_empty_text(two):
            if normalise(one) == normalise(two):
                report.problem(at, "the two options are the same")
            pair = tuple(sorted((normalise(one), normalise(two))))
            seen = pairs.get(pair)
            if seen:
                report.problem(at, f"the same two options as {seen}")
            pairs.setdefault(pair, str(key))
        for tag in check_question_tags(at, question.get("tags"), tag_keys, report):
            tag_uses[tag] += 1
        covered |= check_deltas(at, question.get("vectorDeltas"), trait_keys, report)
    for tag, uses in sorted(tag_uses.items()):
        if uses < MIN_QUESTIONS_PER_TAG:
            report.problem(
                f"tag {tag}", f"used by {uses} questions, expected at least {MIN_QUESTIONS_PER_TAG}"
            )
    if len(covered) < MIN_TRAITS_COVERED:
        report.problem(
            "questions.json",
            f"moves {len(covered)} traits, expected at least {MIN_TRAITS_COVERED}",
        )
    uncovered = sorted(trait_keys - covered, key=lambda k: int(k[3:]) if k[3:].isdigit() else 0)
    if uncovered:
        report.warning("questions.json", f"no question moves {', '.join(uncovered)}")


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), as the service computes it."""
    (lat1, lon1), (lat2, lon2) = a, b
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def check_place_profile(
    at: str, place: dict[str, Any], trait_names: set[str], report: Report
) -> None:
    profile = place.get("profile")
    low, high = TRAITS_PER_PLACE
    if not isinstance(profile, dict) or not low <= len(profile) <= high:
        report.problem(at, f"profile must map {low} to {high} trait names to values")
        return
    for name, value in profile.items():
        if name not in trait_names:
            report.problem(at, f"profile names an unknown trait {name!r}")
        if not is_number(value) or not -1 <= value <= 1:
            report.problem(at, f"profile {name} = {value!r} must be in [-1, 1]")
        elif value == 0:
            report.warning(at, f"profile {name} = 0 says nothing; leave the trait out")
    indoor_outdoor = profile.get("indoor_outdoor")
    if not is_number(indoor_outdoor):
        report.problem(at, "profile must place it on indoor_outdoor")
    elif isinstance(place.get("indoor"), bool) and (indoor_outdoor < 0) != place["indoor"]:
        report.problem(
            at, f"indoor_outdoor {indoor_outdoor} disagrees with indoor {place['indoor']}"
        )


def check_place(at: str, place: dict[str, Any], trait_names: set[str], report: Report) -> bool:
    """Checks one place's fields; True when its city, category and coordinates are usable."""
    if set(place) != PLACE_FIELDS:
        report.problem(at, f"fields must be exactly {sorted(PLACE_FIELDS)}")
    if not isinstance(place.get("slug"), str) or not SLUG.match(place["slug"]):
        report.problem(at, "slug must be kebab-case (n-seoul-tower)")
    for field in ("name", "nameEn", "address"):
        if not non_empty_text(place.get(field)):
            report.problem(at, f"{field} must be a non-empty string")
    if non_empty_text(place.get("name")) and not HANGUL.search(place["name"]):
        report.problem(at, "name must be Korean")
    if non_empty_text(place.get("nameEn")) and not LATIN.search(place["nameEn"]):
        report.problem(at, "nameEn must be in Latin letters")
    if non_empty_text(place.get("address")) and not HANGUL.search(place["address"]):
        report.problem(at, "address must be Korean")
    usable = True
    city, category = place.get("city"), place.get("category")
    if city not in CITY_BOXES:
        report.problem(at, f"city {city!r} must be one of {', '.join(CITY_BOXES)}")
        usable = False
    if category not in CATEGORIES:
        report.problem(at, f"category {category!r} is not one of {', '.join(CATEGORIES)}")
        usable = False
    lat, lon = place.get("latitude"), place.get("longitude")
    if not is_number(lat) or not is_number(lon):
        report.problem(at, "latitude and longitude must be numbers")
        usable = False
    elif city in CITY_BOXES:
        south, north, west, east = CITY_BOXES[city]
        if not (south <= lat <= north and west <= lon <= east):
            report.problem(at, f"({lat}, {lon}) lies outside {city}")
    rating = place.get("rating")
    if not is_number(rating) or not 0 <= rating <= 5:
        report.problem(at, f"rating {rating!r} must be in [0, 5]")
    elif not USUAL_RATINGS[0] <= rating <= USUAL_RATINGS[1]:
        report.warning(at, f"rating {rating} is unusual for a well-known place")
    if not isinstance(place.get("indoor"), bool):
        report.problem(at, "indoor must be true or false")
    keywords = place.get("keywords")
    low, high = KEYWORDS_PER_PLACE
    if not isinstance(keywords, list) or not all(non_empty_text(k) for k in keywords):
        report.problem(at, "keywords must be a list of words")
    else:
        if not low <= len(keywords) <= high:
            report.problem(at, f"has {len(keywords)} keywords, expected {low} to {high}")
        if len({k.lower() for k in keywords}) != len(keywords):
            report.problem(at, "keywords repeat")
        if keywords and (not any(HANGUL.search(k) for k in keywords)
                         or not any(LATIN.search(k) for k in keywords)):
            report.warning(at, "keywords should mix Korean and English")
    check_place_profile(at, place, trait_names, report)
    return usable


def check_places(places: Any, trait_names: set[str], report: Report) -> list[str]:
    """Checks places.json; returns the summary lines to print."""
    if not isinstance(places, list):
        report.problem("places.json", "must be a JSON array of places")
        return []
    seen: dict[tuple[str, str], str] = {}
    usable: list[dict[str, Any]] = []
    for index, place in enumerate(places):
        if not isinstance(place, dict):
            report.problem(f"places[{index}]", "must be an object")
            continue
        slug = place.get("slug")
        at = f"place {slug if isinstance(slug, str) else f'[{index}]'}"
        for field in ("slug", "name", "nameEn"):
            value = place.get(field)
            if not isinstance(value, str):
                continue
            key = value if field == "slug" else normalise(value)
            if (field, key) in seen:
                report.problem(at, f"{field} {value!r} repeats {seen[(field, key)]}")
            seen.setdefault((field, key), at)
        if check_place(at, place, trait_names, report):
            usable.append(place)

    points = [(p["latitude"], p["longitude"]) for p in usable]
    isolated: list[str] = []
    for i, a in enumerate(usable):
        near = False
        for j, b in enumerate(usable):
            if i == j:
                continue
            metres = metres_between(points[i], points[j])
            near = near or metres <= WALKING_METRES
            if j > i and a["category"] == b["category"] and metres < MIN_TWIN_METRES:
                report.problem(
                    f"place {a['slug']}",
                    f"{metres:.0f} m from {b['slug']}, also a {a['category']}: "
                    "the same venue twice?",
                )
        if not near:
            isolated.append(str(a["slug"]))
    for category in CATEGORIES:
        if not any(p["category"] == category for p in usable):
            report.problem("places.json", f"no place is a {category}")

    width = max(len(c) for c in CATEGORIES)

    def row(label: str, keep: Any) -> str:
        """One line of the table: how many usable places per city pass `keep`, and the total."""
        counts = [sum(1 for p in usable if p["city"] == city and keep(p)) for city in CITY_BOXES]
        return f"  {label:<{width}} " + " ".join(f"{n:>6}" for n in counts) + f"  {sum(counts):>5}"

    lines = [f"places.json: {len(places)} places"]
    lines.append(f"  {'':<{width}} " + " ".join(f"{city:>6}" for city in CITY_BOXES) + "  total")
    lines.extend(row(category, lambda p, c=category: p["category"] == c) for category in CATEGORIES)
    lines.append(row("total", lambda p: True))
    lines.append(row("indoor", lambda p: p.get("indoor") is True))
    if isolated:
        lines.append(f"  no other place within {WALKING_METRES / 1000:g} km ({len(isolated)}): "
                     + ", ".join(isolated))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traits", type=Path, default=TRAITS_PATH)
    parser.add_argument("--questions", type=Path, default=QUESTIONS_PATH)
    parser.add_argument("--places", type=Path, default=PLACES_PATH)
    args = parser.parse_args()

    report = Report()
    traits = load_json(args.traits, report)
    trait_keys = check_traits(traits, report) if traits is not None else set()
    questions = load_json(args.questions, report)
    if questions is not None:
        check_questions(questions, trait_keys, report)
    trait_names = {
        t["name"] for t in (traits if isinstance(traits, list) else [])
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    }
    places = load_json(args.places, report)
    summary = check_places(places, trait_names, report) if places is not None else []

    for line in summary:
        print(line)

    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"ok: {args.traits.name}, {args.questions.name} and {args.places.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

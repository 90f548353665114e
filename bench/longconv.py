"""A synthetic long-conversation benchmark: hundreds of dated sessions with facts planted at
known turns, some updated later, and questions (many paraphrased) whose evidence is known.

    python bench/longconv.py OUT_DIR [--sessions 300] [--turns 20] [--seed 7]

writes OUT_DIR/transcript.jsonl (memchat's import format) and OUT_DIR/questions.jsonl
({"question", "evidence": [ids], "type"}). Question types: ``single`` (stated once, long
ago), ``updated`` (the current value after a change), ``previous`` (the value before it),
``temporal`` (names the month it was said), ``paraphrase`` (no content word shared with the
evidence except the name).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

NAMES = ["Carol", "Bob", "Dana", "Eve", "Frank", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Liam", "Maya",
         "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Xena", "Yusuf", "Zoe",
         "Aldo", "Bianca", "Cyrus", "Delia", "Emil"]
RELATIONS = ["sister", "brother", "friend", "colleague", "cousin", "neighbour", "aunt", "uncle", "flatmate"]
CITIES = ["Lyon", "Montreal", "Lisbon", "Osaka", "Nairobi", "Denver", "Krakow", "Porto", "Hobart", "Tallinn",
          "Cusco", "Ghent", "Bergen", "Valencia", "Quito", "Dunedin"]
COMPANIES = ["Ubisoft", "Siemens", "a small bakery", "the city library", "Airbus", "a robotics startup",
             "the public hospital", "a law firm", "Spotify", "a vineyard", "the university", "IKEA"]
PETS = [("dog", "Biscuit"), ("cat", "Miso"), ("parrot", "Kiwi"), ("rabbit", "Pepper"), ("tortoise", "Sheldon"),
        ("dog", "Waffles"), ("cat", "Nimbus"), ("ferret", "Zippy")]
HOBBIES = ["rock climbing", "pottery", "chess", "salsa dancing", "beekeeping", "sailing", "astronomy",
           "woodworking", "birdwatching", "fencing"]
FOODS = ["pistachio ice cream", "ramen", "paella", "lemon tart", "dumplings", "falafel", "tiramisu", "pho"]
FILLER = [
    ("Can you suggest a quick dinner with {food}?", "Sure, try a simple version with whatever you have at hand."),
    ("The weather has been {weather} all week.", "That sounds {mood}. Any plans for the weekend?"),
    ("I'm debugging a {lang} script that keeps timing out.", "Check the network calls and add logging around them."),
    ("Any tips for sleeping better?", "Keep a regular schedule and avoid screens before bed."),
    ("I watched a documentary about {topic} yesterday.", "Interesting! What did you learn about {topic}?"),
    ("I had lunch with {name} today, we talked about {topic}.", "Nice, it's good to catch up with {name}."),
    ("Remind me how compound interest works.", "Interest is earned on both the principal and past interest."),
    ("What's a good stretch for a stiff neck?", "Slow neck tilts and shoulder rolls, held for 20 seconds."),
    ("I'm planning a trip but can't decide where to go.", "Think about the season and your budget first."),
    ("{name} recommended a book on {topic}.", "Sounds like {name} knows what you like."),
]
WEATHER = ["rainy", "sunny", "windy", "freezing", "humid"]
MOODS = ["lovely", "tiring", "rough", "pleasant"]
LANGS = ["Python", "Rust", "Go", "JavaScript"]
TOPICS = ["octopuses", "the Roman empire", "volcanoes", "jazz", "deep sea fishing", "the moon landing", "bees"]


@dataclass
class Person:
    name: str
    relation: str
    city: str
    company: str
    pet: tuple[str, str]
    hobby: str
    food: str


STATEMENTS = {
    "city": ("My {relation} {name} lives in {value}.", "Oh nice, {value} is a lovely place."),
    "company": ("My {relation} {name} works at {value}.", "That sounds like an interesting job."),
    "pet": ("My {relation} {name} has a {species} named {value}.", "Aww, {value} is a cute name."),
    "hobby": ("My {relation} {name} has recently taken up {value}.", "That's a great hobby to have."),
    "food": ("My {relation} {name} absolutely loves {value}.", "Good taste!"),
}
UPDATES = {
    "city": ("Big news: {name} moved from {old} to {value} last week.", "Wow, moving to {value} is a big step."),
    "company": ("{name} just left {old} and started a new job at {value}.", "Congratulations to {name}!"),
}
QUESTIONS = {  # (plain, paraphrased)
    "city": ("Where does {name} live?", "In which town is {name} based these days?"),
    "company": ("Where does {name} work?", "Who is {name}'s employer?"),
    "pet": ("What is the name of {name}'s {species}?", "What did {name} call that animal of theirs?"),
    "hobby": ("What hobby has {name} taken up?", "What pastime does {name} enjoy in their spare time?"),
    "food": ("What food does {name} love?", "Which dish is {name}'s favourite treat?"),
}
PREVIOUS = {
    "city": "Where did {name} live before moving?",
    "company": "Where did {name} work before the new job?",
}


def generate(sessions: int, turns: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    people = [Person(name, rng.choice(RELATIONS), rng.choice(CITIES), rng.choice(COMPANIES), rng.choice(PETS),
                     rng.choice(HOBBIES), rng.choice(FOODS)) for name in NAMES]
    start = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
    lines: list[dict] = []
    questions: list[dict] = []
    # plan: each person's five facts stated in early sessions; city/company updates in late sessions
    plan: dict[tuple[int, int], tuple[str, Person, str]] = {}
    for person in people:
        for attribute in STATEMENTS:
            session = rng.randrange(0, sessions // 3)
            plan[(session, rng.randrange(0, turns // 2) * 2)] = ("state", person, attribute)
        for attribute in UPDATES:
            if rng.random() < 0.5:
                session = rng.randrange(2 * sessions // 3, sessions)
                plan[(session, rng.randrange(0, turns // 2) * 2)] = ("update", person, attribute)
    stated: dict[tuple[str, str], list[tuple[str, str, datetime]]] = {}
    for session in range(sessions):
        day = start + timedelta(days=session * 2 + rng.randrange(0, 2), hours=rng.randrange(0, 10))
        for turn in range(0, turns, 2):
            when = day + timedelta(minutes=turn * 3)
            event = plan.get((session, turn))
            if event and event[0] == "update" and (event[1].name, event[2]) not in stated:
                event = None  # never update a fact that was not stated yet
            if event:
                kind, person, attribute = event
                if kind == "state":
                    value = {"city": person.city, "company": person.company, "pet": person.pet[1],
                             "hobby": person.hobby, "food": person.food}[attribute]
                    user, reply = STATEMENTS[attribute]
                    fields = {"relation": person.relation, "name": person.name, "value": value,
                              "species": person.pet[0]}
                else:
                    old = stated[(person.name, attribute)][-1][1]
                    choices = CITIES if attribute == "city" else COMPANIES
                    value = rng.choice([c for c in choices if c != old])
                    user, reply = UPDATES[attribute]
                    fields = {"name": person.name, "old": old, "value": value}
                user_text, reply_text = user.format(**fields), reply.format(**fields)
            else:
                template = rng.choice(FILLER)
                fields = {"food": rng.choice(FOODS), "weather": rng.choice(WEATHER), "mood": rng.choice(MOODS),
                          "lang": rng.choice(LANGS), "topic": rng.choice(TOPICS), "name": rng.choice(NAMES)}
                user_text, reply_text = template[0].format(**fields), template[1].format(**fields)
                value = None
            turn_id = f"s{session:04d}-t{turn:02d}"
            lines.append({"id": turn_id, "session": f"session-{session:04d}", "speaker": "user",
                          "timestamp": when.isoformat(), "text": user_text})
            lines.append({"id": f"s{session:04d}-t{turn + 1:02d}", "session": f"session-{session:04d}",
                          "speaker": "assistant", "timestamp": (when + timedelta(minutes=1)).isoformat(),
                          "text": reply_text})
            if event:
                stated.setdefault((event[1].name, event[2]), []).append((turn_id, value, when))
    for (name, attribute), history in stated.items():
        person = next(p for p in people if p.name == name)
        plain, paraphrased = QUESTIONS[attribute]
        fields = {"name": name, "species": person.pet[0]}
        latest, first = history[-1], history[0]
        kind = "updated" if len(history) > 1 else "single"
        questions.append({"question": plain.format(**fields), "evidence": [latest[0]], "type": kind,
                          "answer": latest[1]})
        questions.append({"question": paraphrased.format(**fields), "evidence": [latest[0]], "type": "paraphrase",
                          "answer": latest[1]})
        month = first[2].strftime("%B %Y")
        same_month = [turn_id for (other, _), said in stated.items() if other == name
                      for turn_id, _, when in said if when.strftime("%B %Y") == month]
        questions.append({"question": f"What did I tell you about {name} in {month}?",
                          "evidence": same_month, "type": "temporal", "answer": first[1]})
        if len(history) > 1:
            questions.append({"question": PREVIOUS[attribute].format(**fields), "evidence": [first[0]],
                              "type": "previous", "answer": first[1]})
    return lines, questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lines, questions = generate(args.sessions, args.turns, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "transcript.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (args.out / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    print(f"{len(lines)} turns in {args.sessions} sessions, {len(questions)} questions -> {args.out}")


if __name__ == "__main__":
    main()

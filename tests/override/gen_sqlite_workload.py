"""gen_sqlite_workload.py -- writes an SQL workload for sqlite3 on stdout.

Deterministic (a fixed linear congruential sequence): tables, a few
thousand INSERTs with text of many lengths (some above objmem's 128 KiB
large threshold), UPDATEs, DELETEs, an index, and aggregate SELECTs with
GROUP BY / ORDER BY whose output is compared between a plain run and a run
on objmem.  `.bail on` makes any SQL error fail the run.
"""
import sys

MASK = (1 << 64) - 1
state = 2024


def rand(bound):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) & MASK
    return (state >> 33) % bound


LETTERS = "".join(chr(97 + rand(26)) for _ in range(8192))


def word(length):
    """length letters: short words letter by letter, long text cut from a
    fixed random pool at a random place."""
    if length <= 16:
        return "".join(LETTERS[rand(len(LETTERS))] for _ in range(length))
    text = []
    while length > 0:
        start = rand(len(LETTERS) - 64)
        piece = LETTERS[start:start + min(length, len(LETTERS) - start)]
        text.append(piece)
        length -= len(piece)
    return "".join(text)


def main():
    out = sys.stdout
    out.write(".bail on\n")
    out.write("CREATE TABLE city(id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);\n")
    out.write("CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, city_id INTEGER "
              "REFERENCES city(id), age INTEGER, score REAL, bio TEXT);\n")
    out.write("BEGIN;\n")
    for i in range(1, 61):
        out.write("INSERT INTO city VALUES(%d, '%s', '%s');\n"
                  % (i, word(4 + rand(8)).capitalize(), word(2).upper()))
    for i in range(1, 12001):
        bio_len = 200000 if i % 2500 == 0 else rand(1500)
        out.write("INSERT INTO person VALUES(%d, '%s %s', %d, %d, %d.%02d, '%s');\n"
                  % (i, word(3 + rand(6)).capitalize(), word(5 + rand(7)).capitalize(),
                     1 + rand(60), 18 + rand(70), rand(1000), rand(100), word(bio_len)))
    out.write("COMMIT;\n")
    out.write("CREATE INDEX person_city_age ON person(city_id, age);\n")
    out.write("UPDATE person SET score = score * 1.5 + 1 WHERE age % 7 = 0;\n")
    out.write("UPDATE person SET bio = bio || name || bio WHERE id % 11 = 0;\n")
    out.write("DELETE FROM person WHERE id % 13 = 0;\n")
    out.write("DELETE FROM city WHERE id % 17 = 0;\n")
    queries = [
        "SELECT c.name, c.country, count(*), sum(p.age), round(avg(p.score), 4), "
        "max(length(p.bio)) FROM person p JOIN city c ON c.id = p.city_id "
        "GROUP BY c.id ORDER BY count(*) DESC, c.name",
        "SELECT age, count(*), round(sum(score), 2) FROM person GROUP BY age ORDER BY age",
        "SELECT id, name, round(score, 2) FROM person ORDER BY score DESC, id LIMIT 25",
        "SELECT substr(bio, 1, 2) AS p, count(*) FROM person GROUP BY p "
        "HAVING count(*) > 20 ORDER BY count(*) DESC, p LIMIT 30",
        "SELECT count(*), sum(length(bio)) FROM person WHERE city_id NOT IN (SELECT id FROM city)",
        "SELECT group_concat(name, ',') FROM (SELECT name FROM person WHERE age = 42 ORDER BY id)",
        "SELECT city_id, max(age), min(age) FROM person WHERE city_id BETWEEN 10 AND 20 "
        "GROUP BY city_id ORDER BY city_id",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000) "
        "SELECT sum(x * x) % 1000003, count(*) FROM n",
        "SELECT total_changes()",
    ]
    for q in queries:
        out.write(q + ";\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

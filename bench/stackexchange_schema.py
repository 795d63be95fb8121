"""A second schema for the advisor's benchmark: the Stack Exchange data dump's.

The tables and columns are those of the public Stack Exchange data dump
(Posts, Users, Comments, Votes, Badges, Tags, PostLinks; the dump's readme
and SEDE document them), in snake_case. The advisor was not designed for
it. The data is generated, skewed the way a Q&A site is: a few users write
most posts, most questions have no accepted answer, 5 % are closed, votes
are mostly upvotes, a bounty is rare, some comments have lost their author.
The workload is a Q&A site's: pages, a user's profile, moderation queues,
a few reports, and its writes.

`scale` is the number of posts; votes are twice that, comments as many.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import asyncpg

from revue.query_optimizer.demo_schema import Shape

TABLES = {"users", "posts", "comments", "votes", "badges", "tags", "post_links"}

SCHEMA = """
CREATE TABLE users (
    id int PRIMARY KEY, reputation int NOT NULL, creation_date timestamp NOT NULL,
    display_name text NOT NULL, last_access_date timestamp NOT NULL, location text,
    views int NOT NULL, up_votes int NOT NULL, down_votes int NOT NULL, account_id int)
    WITH (autovacuum_enabled = false);
CREATE TABLE posts (
    id int PRIMARY KEY, post_type_id smallint NOT NULL, accepted_answer_id int,
    parent_id int, creation_date timestamp NOT NULL, deletion_date timestamp,
    score int NOT NULL, view_count int, body text NOT NULL, owner_user_id int,
    last_editor_user_id int, last_edit_date timestamp, last_activity_date timestamp NOT NULL,
    title text, tags text, answer_count int, comment_count int NOT NULL,
    favorite_count int, closed_date timestamp, community_owned_date timestamp)
    WITH (autovacuum_enabled = false);
CREATE TABLE comments (
    id int PRIMARY KEY, post_id int NOT NULL, score int NOT NULL, text text NOT NULL,
    creation_date timestamp NOT NULL, user_display_name text, user_id int)
    WITH (autovacuum_enabled = false);
CREATE TABLE votes (
    id int PRIMARY KEY, post_id int NOT NULL, vote_type_id smallint NOT NULL, user_id int,
    creation_date timestamp NOT NULL, bounty_amount int)
    WITH (autovacuum_enabled = false);
CREATE TABLE badges (
    id int PRIMARY KEY, user_id int NOT NULL, name text NOT NULL, date timestamp NOT NULL,
    class smallint NOT NULL, tag_based boolean NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE TABLE tags (
    id int PRIMARY KEY, tag_name text NOT NULL, count int NOT NULL, excerpt_post_id int,
    wiki_post_id int)
    WITH (autovacuum_enabled = false);
CREATE TABLE post_links (
    id int PRIMARY KEY, creation_date timestamp NOT NULL, post_id int NOT NULL,
    related_post_id int NOT NULL, link_type_id smallint NOT NULL)
    WITH (autovacuum_enabled = false);
"""

# {posts} posts; users a tenth of that; ids dense from 1. Posts are written in
# creation order (ids grow with time), as on the real site.
SEED = """
SELECT setseed(0.17);
INSERT INTO users
SELECT g, floor(power(random(), 6) * 100000)::int + 1,
       timestamp '2010-01-01' + g * interval '1 second' * (450000000.0 / {users}),
       'user' || g, timestamp '2024-01-01' + random() * interval '700 days',
       CASE WHEN random() < 0.4 THEN (ARRAY['Berlin', 'London', 'Paris', 'Austin'])
           [1 + floor(random() * 4)::int] END,
       floor(power(random(), 4) * 50000)::int, floor(power(random(), 5) * 5000)::int,
       floor(power(random(), 6) * 500)::int, g + 1000000
FROM generate_series(1, {users}) AS g;

INSERT INTO posts
SELECT g, kind,
       CASE WHEN kind = 1 AND random() < 0.4 THEN g + 1 + floor(random() * 50)::int END,
       CASE WHEN kind = 2 THEN greatest(1, g - 1 - floor(power(random(), 4) * 20000)::int) END,
       created, CASE WHEN random() < 0.02 THEN created + interval '3 days' END,
       floor(power(random(), 8) * 500)::int - 3,
       CASE WHEN kind = 1 THEN floor(power(random(), 4) * 100000)::int END,
       repeat(md5(g::text), 2 + (g % 4)),
       CASE WHEN random() < 0.97 THEN 1 + floor(power(random(), 3) * {users})::int END,
       CASE WHEN random() < 0.3 THEN 1 + floor(power(random(), 3) * {users})::int END,
       CASE WHEN random() < 0.3 THEN created + random() * interval '400 days' END,
       created + power(random(), 3) * interval '900 days',
       CASE WHEN kind = 1 THEN 'How do I ' || md5(g::text) || '?' END,
       CASE WHEN kind = 1 THEN '<' || (ARRAY['python', 'sql', 'postgresql', 'javascript',
           'rust', 'go'])[1 + floor(power(random(), 2) * 6)::int] || '>' END,
       CASE WHEN kind = 1 THEN floor(power(random(), 3) * 8)::int END,
       floor(power(random(), 3) * 12)::int,
       CASE WHEN kind = 1 AND random() < 0.2 THEN floor(power(random(), 4) * 300)::int END,
       CASE WHEN kind = 1 AND random() < 0.12 THEN created + random() * interval '30 days' END,
       CASE WHEN random() < 0.005 THEN created + interval '10 days' END
FROM (
    SELECT g, timestamp '2012-01-01' + g * interval '1 second' * (400000000.0 / {posts}) AS created,
           CASE WHEN r < 0.42 THEN 1 WHEN r < 0.97 THEN 2 ELSE 3 + floor(random() * 3)::int
           END AS kind
    FROM (SELECT g, random() AS r FROM generate_series(1, {posts}) AS g) AS numbered
) AS post;

INSERT INTO comments
SELECT g, 1 + floor(random() * {posts})::int, floor(power(random(), 10) * 60)::int,
       'comment ' || md5(g::text), created,
       CASE WHEN author IS NULL THEN 'user' || g END, author
FROM (
    SELECT g, timestamp '2012-01-01' + g * interval '1 second' * (400000000.0 / {posts}) AS created,
           CASE WHEN random() >= 0.03 THEN 1 + floor(power(random(), 3) * {users})::int END
               AS author
    FROM generate_series(1, {posts}) AS g
) AS comment;

INSERT INTO votes
SELECT g, 1 + floor(power(random(), 1.5) * {posts})::int, kind,
       CASE WHEN kind IN (5, 8) OR random() < 0.05 THEN
           1 + floor(power(random(), 3) * {users})::int END,
       timestamp '2012-01-01' + g * interval '1 second' * (400000000.0 / ({posts} * 2)),
       CASE WHEN kind IN (8, 9) THEN (ARRAY[50, 100, 200, 500])[1 + floor(random() * 4)::int] END
FROM (
    SELECT g, CASE WHEN r < 0.70 THEN 2 WHEN r < 0.80 THEN 3 WHEN r < 0.85 THEN 1
                   WHEN r < 0.95 THEN 5 WHEN r < 0.996 THEN 6 WHEN r < 0.998 THEN 8
                   ELSE 9 END AS kind
    FROM (SELECT g, random() AS r FROM generate_series(1, {posts} * 2) AS g) AS numbered
) AS vote;

INSERT INTO badges
SELECT g, 1 + floor(power(random(), 2) * {users})::int,
       (ARRAY['Student', 'Teacher', 'Editor', 'Supporter', 'Scholar', 'Critic', 'Nice Answer',
              'Popular Question', 'Notable Question', 'Famous Question', 'Yearling',
              'Autobiographer', 'Commentator', 'Necromancer', 'Guru'])
           [1 + floor(power(random(), 2) * 15)::int],
       timestamp '2012-01-01' + random() * interval '4600 days',
       1 + floor(power(random(), 0.5) * 3)::smallint, random() < 0.1
FROM generate_series(1, {posts} / 3) AS g;

INSERT INTO tags
SELECT g, 'tag-' || g, floor(power(random(), 6) * 100000)::int,
       CASE WHEN random() < 0.5 THEN 1 + floor(random() * {posts})::int END,
       CASE WHEN random() < 0.5 THEN 1 + floor(random() * {posts})::int END
FROM generate_series(1, 5000) AS g;

INSERT INTO post_links
SELECT g, timestamp '2012-01-01' + random() * interval '4600 days',
       1 + floor(random() * {posts})::int, 1 + floor(power(random(), 2) * {posts})::int,
       CASE WHEN random() < 0.8 THEN 1 ELSE 3 END
FROM generate_series(1, {posts} / 20) AS g;
"""


async def create_and_seed(connection: asyncpg.Connection, posts: int) -> None:
    """The seven tables, `posts` posts, vacuumed and analyzed as in steady state."""
    await connection.execute(SCHEMA)
    await connection.execute(SEED.format(posts=int(posts), users=max(int(posts) // 10, 100)))
    await connection.execute("VACUUM ANALYZE")


def _user(rng: random.Random, posts: int) -> int:
    return 1 + int(rng.random() ** 3 * max(posts // 10, 100))


def _post(rng: random.Random, posts: int) -> int:
    return 1 + int(rng.random() ** 1.5 * posts)


def _moment(rng: random.Random) -> datetime:
    return datetime(2012, 1, 1) + timedelta(days=rng.randrange(4600))


def _recent(rng: random.Random) -> datetime:
    return datetime(2024, 8, 1) + timedelta(days=rng.randrange(60))


WORKLOAD: list[Shape] = [
    Shape(
        "a question's answers, best first",
        "SELECT id, score, owner_user_id FROM posts WHERE parent_id = $1 ORDER BY score DESC",
        300,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "a question's answers with their authors (join)",
        "SELECT p.id, p.score, u.display_name, u.reputation FROM posts p "
        "JOIN users u ON u.id = p.owner_user_id WHERE p.parent_id = $1",
        200,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "a post's comments in order",
        "SELECT id, text, user_id, creation_date FROM comments WHERE post_id = $1 "
        "ORDER BY creation_date",
        300,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "a post's votes of one kind",
        "SELECT count(*) FROM votes WHERE post_id = $1 AND vote_type_id = $2",
        250,
        lambda r, p: (_post(r, p), r.choice([2, 3])),
    ),
    Shape(
        "a user's questions, newest first",
        "SELECT id, title, score FROM posts WHERE owner_user_id = $1 AND post_type_id = 1 "
        "ORDER BY creation_date DESC LIMIT 20",
        150,
        lambda r, p: (_user(r, p),),
    ),
    Shape(
        "a user's best answers",
        "SELECT id, parent_id, score FROM posts WHERE owner_user_id = $1 AND post_type_id = 2 "
        "ORDER BY score DESC LIMIT 10",
        100,
        lambda r, p: (_user(r, p),),
    ),
    Shape(
        "a user's answer score (aggregate)",
        "SELECT count(*), sum(score) FROM posts WHERE owner_user_id = $1 AND post_type_id = 2",
        100,
        lambda r, p: (_user(r, p),),
    ),
    Shape(
        "a user's badges, newest first",
        "SELECT name, class, date FROM badges WHERE user_id = $1 ORDER BY date DESC",
        120,
        lambda r, p: (_user(r, p),),
    ),
    Shape(
        "who earned a badge lately",
        "SELECT user_id, date FROM badges WHERE name = $1 AND date >= $2 "
        "ORDER BY date DESC LIMIT 30",
        40,
        lambda r, p: (r.choice(["Guru", "Necromancer", "Famous Question"]), _recent(r)),
    ),
    Shape(
        "a user by display name",
        "SELECT id, reputation, location FROM users WHERE display_name = $1",
        200,
        lambda r, p: (f"user{_user(r, p)}",),
    ),
    Shape(
        "top new users by reputation",
        "SELECT id, display_name, reputation FROM users WHERE creation_date >= $1 "
        "ORDER BY reputation DESC LIMIT 20",
        20,
        lambda r, p: (datetime(2024, 1, 1),),
    ),
    Shape(
        "a tag by name",
        "SELECT id, count, wiki_post_id FROM tags WHERE tag_name = $1",
        150,
        lambda r, p: (f"tag-{1 + r.randrange(5000)}",),
    ),
    Shape(
        "unanswered open questions, newest first (IS NULL)",
        "SELECT id, title, creation_date FROM posts WHERE post_type_id = 1 "
        "AND accepted_answer_id IS NULL AND closed_date IS NULL AND creation_date < $1 "
        "ORDER BY creation_date DESC LIMIT 50",
        80,
        lambda r, p: (_moment(r),),
    ),
    Shape(
        "comments whose author is gone (IS NULL, ORDER BY LIMIT)",
        "SELECT id, post_id, user_display_name FROM comments WHERE user_id IS NULL "
        "AND creation_date < $1 ORDER BY creation_date DESC LIMIT 100",
        30,
        lambda r, p: (_moment(r),),
    ),
    Shape(
        "open bounties, newest first",
        "SELECT post_id, bounty_amount, creation_date FROM votes WHERE vote_type_id = 8 "
        "AND creation_date >= $1 ORDER BY creation_date DESC LIMIT 50",
        60,
        lambda r, p: (_moment(r),),
    ),
    Shape(
        "questions closed in a week",
        "SELECT count(*) FROM posts WHERE closed_date >= $1 AND closed_date < $2",
        20,
        lambda r, p: (d := _moment(r), d + timedelta(days=7)),
    ),
    Shape(
        "questions asked per day in a month (range aggregate)",
        "SELECT date_trunc('day', creation_date) AS day, count(*) FROM posts "
        "WHERE post_type_id = 1 AND creation_date >= $1 AND creation_date < $2 GROUP BY 1",
        20,
        lambda r, p: (d := _moment(r), d + timedelta(days=30)),
    ),
    Shape(
        "votes by kind in a week (range aggregate)",
        "SELECT vote_type_id, count(*) FROM votes WHERE creation_date >= $1 "
        "AND creation_date < $2 GROUP BY vote_type_id",
        20,
        lambda r, p: (d := _moment(r), d + timedelta(days=7)),
    ),
    Shape(
        "recently active questions",
        "SELECT id, title, last_activity_date FROM posts WHERE post_type_id = 1 "
        "AND last_activity_date >= $1 ORDER BY last_activity_date DESC LIMIT 30",
        60,
        lambda r, p: (_recent(r),),
    ),
    Shape(
        "recent comments on a user's posts (join, ORDER BY LIMIT)",
        "SELECT c.id, c.text, c.creation_date FROM comments c JOIN posts p ON p.id = c.post_id "
        "WHERE p.owner_user_id = $1 ORDER BY c.creation_date DESC LIMIT 20",
        50,
        lambda r, p: (_user(r, p),),
    ),
    Shape(
        "posts linked from a post",
        "SELECT related_post_id, link_type_id FROM post_links WHERE post_id = $1",
        120,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "duplicates of a question",
        "SELECT post_id FROM post_links WHERE related_post_id = $1 AND link_type_id = 3",
        60,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "a user's votes in a month",
        "SELECT post_id, vote_type_id FROM votes WHERE user_id = $1 "
        "AND creation_date >= $2 AND creation_date < $3",
        40,
        lambda r, p: (_user(r, p), d := _moment(r), d + timedelta(days=30)),
    ),
    Shape(
        "one post",
        "SELECT * FROM posts WHERE id = $1",
        400,
        lambda r, p: (_post(r, p),),
    ),
    Shape(
        "cast a vote (write)",
        "INSERT INTO votes (id, post_id, vote_type_id, user_id, creation_date) "
        "VALUES ($1, $2, 2, NULL, $3)",
        150,
        lambda r, p: (p * 3 + r.randrange(1_000_000), _post(r, p), datetime(2025, 1, 1)),
    ),
    Shape(
        "edit a post (write)",
        "UPDATE posts SET score = score + 1, last_activity_date = $2 WHERE id = $1",
        80,
        lambda r, p: (_post(r, p), datetime(2025, 1, 1)),
    ),
    Shape(
        "comment on a post (write)",
        "INSERT INTO comments (id, post_id, score, text, creation_date, user_id) "
        "VALUES ($1, $2, 0, $3, $4, $5)",
        60,
        lambda r, p: (
            p * 3 + r.randrange(1_000_000),
            _post(r, p),
            "thanks",
            datetime(2025, 1, 1),
            _user(r, p),
        ),
    ),
]

-- The first schema: greetings the app can say.
CREATE TABLE greeting (
    id      INTEGER PRIMARY KEY,
    text    TEXT NOT NULL,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO greeting (text) VALUES ('hello');

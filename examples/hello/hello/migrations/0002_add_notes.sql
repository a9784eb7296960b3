-- Free-form notes on each greeting.
ALTER TABLE greeting ADD COLUMN notes TEXT NOT NULL DEFAULT '';

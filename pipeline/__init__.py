"""The stages of storywatch as plain code: no Redis, no RQ, testable on their own."""

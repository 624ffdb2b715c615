"""The core every stage stands on: settings, the lake's layout and Delta access, the one commit path,
errors and the JSON-lines writer. It imports no stage and no contract (import-linter checks it)."""

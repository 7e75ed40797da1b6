"""Human review: export review tasks to Label Studio or Argilla 2.x, import the completed exports back under
pseudonymous reviewer ids, and measure agreement (between reviewers, and between reviewers and LLM judges)."""

"""LLM judges: rubric grading (G-Eval from token log-probabilities, Prometheus-style feedback and `[RESULT] n`
otherwise), pairwise comparison in both orders, bias checks (position, length, self-preference), shipped
versioned rubrics, and a critic step that keeps, repairs or drops the samples of an earlier recipe step."""

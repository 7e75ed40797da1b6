"""The `dialogue` generator's family: multi-agent clinical dialogues (source -> planner -> role-play
agents -> refiner -> coverage check), with their versioned prompts; `generator.py` holds the generator.

No re-exports here: import from the modules themselves.
"""
